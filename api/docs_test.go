package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/golden"
)

// TestDocs keeps the generated parts of docs/events.md and docs/api.md
// true: the catalogue with its samples, the three body formats of a
// delivery, and the route table from the OpenAPI document. UPDATE=1 go test
// ./api/ -run TestDocs (or go generate ./api/) rewrites them.
func TestDocs(t *testing.T) {
	golden.Section(t, "../docs/events.md", "catalogue", catalogueTable())
	golden.Section(t, "../docs/events.md", "samples", samples(t))
	golden.Section(t, "../docs/api.md", "formats", formats(t))
	golden.Section(t, "../docs/api.md", "routes", routeTable(t))
}

func catalogueTable() []byte {
	var b bytes.Buffer
	b.WriteString("| type | group | subject | what happened |\n| --- | --- | --- | --- |\n")
	for _, et := range api.EventTypes() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", et.Name, et.Group, et.Subject, et.Description)
	}
	return b.Bytes()
}

func indentJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// samples shows the json payload of one type of each subject, and of a
// batch marker's bulk selection.
func samples(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, typ := range []string{"ASSET_EDITED_METADATA", "ASSET_MOVED", "ASSET_MARKER_SELECTED", "PROJECT_ADDED", "WEBHOOK_DELIVERY_FAILED", "WEBHOOK_DISABLED"} {
		info, _ := event.Describe(typ)
		body, err := actions.DefaultJSON(api.SampleEvent(typ))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "`%s` (subject %s):\n\n```json\n%s\n```\n\n", typ, info.Subject, indentJSON(t, body))
	}
	ev := api.SampleEvent(event.MarkerSelected)
	second := api.SampleEvent(event.MarkerSelected).Asset
	second["uuid"], second["name"], second["path"] = "5c1d7a2e-0e4b-4f0a-8d0c-2a9b8e7f6d5c", "team.jpg", "/marketing/team.jpg"
	ev.Assets, ev.Asset = []map[string]any{ev.Asset, second}, nil
	body, err := actions.DefaultJSON(ev)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "A bulk selection of a batch marker (`\"batch\": true`): one delivery whose data holds `assets`:\n\n```json\n%s\n```\n", indentJSON(t, body))
	return b.Bytes()
}

// deliver sends ev through a real webhook action with the given body
// config to a loopback receiver and returns what the receiver got.
func deliver(t *testing.T, ev *event.Event, method string, body actions.BodyConfig) *http.Request {
	t.Helper()
	type received struct {
		r    *http.Request
		body []byte
	}
	ch := make(chan received, 1)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- received{r.Clone(context.Background()), b}
	}))
	defer rc.Close()
	w, err := actions.NewWebhook(actions.WebhookConfig{URL: rc.URL + "/cms", Method: method, Body: body, TimeoutSeconds: 5,
		SigningSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwY8jjDsgrzes="}, actions.Options{AllowPrivate: true, Version: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	if res := w.Execute(context.Background(), &actions.Delivery{ID: "msg_1", Attempt: 1, Event: ev}); !res.OK() {
		t.Fatal(res.Err)
	}
	got := <-ch
	got.r.Body = io.NopCloser(bytes.NewReader(got.body))
	return got.r
}

// pairs lists an x-www-form-urlencoded string one decoded key=value a line,
// in the order sent.
func pairs(s string) string {
	var lines []string
	for _, kv := range strings.Split(s, "&") {
		k, v, _ := strings.Cut(kv, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		lines = append(lines, k+"="+v)
	}
	return strings.Join(lines, "\n")
}

// formats shows one event delivered in each body format, by the real code.
func formats(t *testing.T) []byte {
	t.Helper()
	ev := api.SampleEvent("ASSET_EDITED_METADATA")
	var b bytes.Buffer
	form := deliver(t, ev, "POST", actions.BodyConfig{Format: actions.FormatForm, Fields: []string{"file", "info", "meta.custom"}})
	raw, _ := io.ReadAll(form.Body)
	fmt.Fprintf(&b, "`\"body\": {\"format\": \"form\", \"fields\": [\"file\", \"info\", \"meta.custom\"]}` sends `Content-Type: %s` and this body (one line on the wire):\n\n```\n%s\n```\n\n", form.Header.Get("Content-Type"), raw)
	fmt.Fprintf(&b, "which is, key by key, decoded:\n\n```\n%s\n```\n\n", pairs(string(raw)))
	q := deliver(t, api.SampleEvent("ASSET_MOVED"), "GET", actions.BodyConfig{})
	fmt.Fprintf(&b, "An `ASSET_MOVED` event to a webhook with `\"http_method\": \"GET\"` (or `\"body\": {\"format\": \"query\"}` with any method) is sent with no body and this query string:\n\n```\nGET /cms?%s\n```\n\n", q.URL.RawQuery)
	fmt.Fprintf(&b, "decoded:\n\n```\n%s\n```\n", pairs(q.URL.RawQuery))
	return b.Bytes()
}

// routeTable lists every operation of the OpenAPI document by tag.
func routeTable(t *testing.T) []byte {
	t.Helper()
	doc := apitest.LoadOpenAPI(t)
	type row struct{ tag, method, path, role, summary, statuses string }
	var rows []row
	order := map[string]int{}
	for i, tag := range doc.Tags {
		order[tag.Name] = i
	}
	methods := map[string]int{"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			var codes []string
			for code := range op.Responses.Map() {
				codes = append(codes, code)
			}
			sort.Strings(codes)
			role, _ := op.Extensions["x-role"].(string)
			rows = append(rows, row{op.Tags[0], method, path, role, op.Summary, strings.Join(codes, ", ")})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.tag != b.tag {
			if order[a.tag] != order[b.tag] {
				return order[a.tag] < order[b.tag]
			}
			return a.tag < b.tag
		}
		if a.path != b.path {
			return a.path < b.path
		}
		return methods[a.method] < methods[b.method]
	})
	var b bytes.Buffer
	b.WriteString("| method | path | key | what it does | answers |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", r.method, r.path, r.role, r.summary, r.statuses)
	}
	return b.Bytes()
}
