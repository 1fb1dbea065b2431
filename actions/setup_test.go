package actions

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
)

// sampleEventJSON is an ASSET_MOVED event whose asset has every kind of
// value a payload must carry exactly.
const sampleEventJSON = `{
  "id": "evt_01",
  "type": "ASSET_MOVED",
  "occurred_at": "2026-11-22T10:00:00Z",
  "project_id": "GsrwPNm6nJ7CKRYnQZl6",
  "actor": {"username": "ana", "interface": "web"},
  "asset": {
    "uuid": "a-1",
    "name": "banner & co.jpg",
    "path": "/marketing/new/banner.jpg",
    "size": 12345678901234567890,
    "mime_type": "image/jpeg",
    "cdn_url": "https://cdn.example.com/banner.jpg?w=1&h=2",
    "ratio": 3.5,
    "public": true,
    "hidden": false,
    "empty": [],
    "nothing": null,
    "info": {"title": "Café <b>\"déjà\"</b>", "description": "line1\nline2 + more=%"},
    "tags": ["summer", "sale"],
    "labels": ["approved"],
    "image": {"width": 1920, "height": 1080},
    "meta": {
      "system": {"version": 7},
      "custom": {"status": "approved", "score": -0.25},
      "embedded": {"xmp": {"creator": ["Ana", "Bo"]}}
    },
    "renditions": [
      {"name": "thumb", "size": 120, "href": "/r/1", "default": true},
      {"name": "preview", "size": 800, "href": "/r/2", "default": false, "profiles": [{"id": 1}, {"id": 2}]}
    ]
  },
  "previous": {"uuid": "a-1", "path": "/marketing/banner.jpg"},
  "changes": [{"field": "path", "old": "/marketing/banner.jpg", "new": "/marketing/new/banner.jpg"}],
  "destination": "/marketing/new/banner.jpg",
  "target": "file"
}`

func sampleEvent(t testing.TB) *event.Event {
	t.Helper()
	return decodeEvent(t, sampleEventJSON)
}

func decodeEvent(t testing.TB, s string) *event.Event {
	t.Helper()
	var m map[string]any
	if err := event.UnmarshalJSONNumber([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	ev, err := event.Decode(m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// request is what a test receiver saw.
type request struct {
	Method string
	URL    *url.URL
	Header http.Header
	Body   []byte
}

// receiver is a loopback httptest server that records every request and
// answers with respond (200 "ok" when nil).
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newReceiver(t testing.TB, respond http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, request{req.Method, req.URL, req.Header.Clone(), b})
		r.mu.Unlock()
		if respond != nil {
			respond(w, req)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

func (r *receiver) last(t testing.TB) request {
	t.Helper()
	rs := r.requests()
	if len(rs) == 0 {
		t.Fatal("receiver got no request")
	}
	return rs[len(rs)-1]
}

// testSecret is a fixed signing secret (32 bytes).
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwY8jjDsgrzes="

// setup returns a webhook to url built from cfg (defaults filled in) that may
// call loopback addresses.
func setup(t testing.TB, cfg WebhookConfig) *Webhook {
	t.Helper()
	if cfg.SigningSecret == "" {
		cfg.SigningSecret = testSecret
	}
	w, err := NewWebhook(cfg, Options{AllowPrivate: true, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func deliver(t testing.TB, w *Webhook, ev *event.Event) Result {
	t.Helper()
	return w.Execute(context.Background(), &Delivery{ID: "msg_1", Attempt: 1, Event: ev})
}

// formView is how a JSON value looks once form-encoded and decoded again:
// scalars as strings, arrays as maps by index, nulls and empty containers
// gone.
func formView(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if fv := formView(e); fv != nil {
				out[k] = fv
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := map[string]any{}
		for i, e := range x {
			if fv := formView(e); fv != nil {
				out[strconv.Itoa(i)] = fv
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	panic("formView: unexpected " + strconv.Quote(string(rune(0))))
}

var bracketKey = regexp.MustCompile(`^([^\[\]]+)((?:\[[^\[\]]*\])*)$`)
var bracketPart = regexp.MustCompile(`\[([^\[\]]*)\]`)

// decodeForm rebuilds the nested document from a bracket-notation form body,
// as PHP or qs would (arrays stay maps by index, like formView).
func decodeForm(t testing.TB, body string) map[string]any {
	t.Helper()
	vals, err := url.ParseQuery(body)
	if err != nil {
		t.Fatalf("form body does not parse: %v", err)
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	root := map[string]any{}
	for _, k := range keys {
		if len(vals[k]) != 1 {
			t.Fatalf("key %q appears %d times", k, len(vals[k]))
		}
		m := bracketKey.FindStringSubmatch(k)
		if m == nil {
			t.Fatalf("key %q is not bracket notation", k)
		}
		path := []string{m[1]}
		for _, p := range bracketPart.FindAllStringSubmatch(m[2], -1) {
			path = append(path, p[1])
		}
		cur := root
		for _, p := range path[:len(path)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[path[len(path)-1]] = vals[k][0]
	}
	return root
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
