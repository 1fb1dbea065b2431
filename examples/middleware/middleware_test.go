package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

func catcher(t *testing.T) (*Catcher, string) {
	t.Helper()
	c := &Catcher{}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL + "/catch"
}

func waitCaught(t *testing.T, c *Catcher, n int) []map[string]any {
	t.Helper()
	redistest.Eventually(t, 10*time.Second, func() bool { return len(c.Caught()) >= n }, "caught %d of %d", len(c.Caught()), n)
	return c.Caught()
}

func TestDecodeForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want map[string]any
		err  bool
	}{
		{"flat", "a=1&b=x", map[string]any{"a": "1", "b": "x"}, false},
		{"nested", "data%5Basset%5D%5Binfo%5D%5Btitle%5D=Hi+there", map[string]any{"data": map[string]any{"asset": map[string]any{"info": map[string]any{"title": "Hi there"}}}}, false},
		{"array", "t[1]=b&t[0]=a", map[string]any{"t": []any{"a", "b"}}, false},
		{"sparse indexes stay an object", "t[0]=a&t[2]=c", map[string]any{"t": map[string]any{"0": "a", "2": "c"}}, false},
		{"array of objects", "a[0][k]=1&a[1][k]=2", map[string]any{"a": []any{map[string]any{"k": "1"}, map[string]any{"k": "2"}}}, false},
		{"escaped value", "v=a%26b%3Dc", map[string]any{"v": "a&b=c"}, false},
		{"value and container", "a=1&a[b]=2", nil, true},
		{"unclosed", "a[b=1", nil, true},
		{"no name", "[a]=1", nil, true},
	} {
		got, err := DecodeForm(tc.in)
		if (err != nil) != tc.err {
			t.Fatalf("%s: err %v", tc.name, err)
		}
		if d := cmp.Diff(tc.want, got); !tc.err && d != "" {
			t.Fatalf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestRESTHookSubscriber(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	c, url := catcher(t)
	ctx := context.Background()
	id, err := Subscribe(ctx, http.DefaultClient, h.URL, apitest.UserKey, Subscription{TargetURL: url, Event: "ASSET_ADDED", Condition: `hasTag("zap")`})
	if err != nil {
		t.Fatal(err)
	}
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a1", "tags": []any{"zap"}}})
	doc := waitCaught(t, c, 1)[0]
	if doc["type"] != "ASSET_ADDED" || doc["data"].(map[string]any)["asset"].(map[string]any)["uuid"] != "a1" {
		t.Fatalf("caught %v", doc)
	}
	if err := Unsubscribe(ctx, http.DefaultClient, h.URL, apitest.UserKey, id); err != nil {
		t.Fatal(err)
	}
	if r := h.Do("GET", "/api/v2/hooks", apitest.UserKey, nil).JSON(t); len(r["hooks"].([]any)) != 0 {
		t.Fatalf("still subscribed: %v", r)
	}
}

// formLike is what a JSON document becomes through a form body: scalars as
// their text, nulls and empty arrays and objects left out.
func formLike(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if f := formLike(e); f != nil {
				out[k] = f
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, formLike(e))
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		return nil
	default:
		return x
	}
}

// TestFormEqualsJSON sends one event to a form webhook and a JSON REST hook:
// the form body decodes to the JSON payload's data.
func TestFormEqualsJSON(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	forms, formURL := catcher(t)
	jsons, jsonURL := catcher(t)
	h.CreateWebhook(map[string]any{"name": "zapier catch hook", "http_url": formURL, "trigger_events": []any{"ASSET_EDITED_INFO"},
		"body": map[string]any{"format": "form"}})
	if _, err := Subscribe(context.Background(), http.DefaultClient, h.URL, apitest.UserKey,
		Subscription{TargetURL: jsonURL, Event: "ASSET_EDITED_INFO"}); err != nil {
		t.Fatal(err)
	}
	asset := map[string]any{"uuid": "a1", "name": "Ünïcode & co.jpg", "path": "/marketing/", "size": json.Number("1048576"),
		"ratio": json.Number("1.50"), "public": true, "archived": false, "cdn_url": "https://cdn.example.com/a1.jpg?x=1&y=2",
		"info":       map[string]any{"title": "Summer = sale", "description": nil},
		"tags":       []any{"summer", "sale"},
		"image":      map[string]any{"width": json.Number("1920"), "height": json.Number("1080")},
		"meta":       map[string]any{"custom": map[string]any{"status": "approved", "empty": []any{}, "none": map[string]any{}}},
		"renditions": []any{map[string]any{"size": json.Number("200"), "href": "/r/200"}, map[string]any{"size": json.Number("800"), "href": "/r/800"}},
	}
	h.Send(map[string]any{"type": "ASSET_EDITED_INFO", "asset": asset, "actor": map[string]any{"username": "ana", "interface": "web"}})
	form := waitCaught(t, forms, 1)[0]
	js := waitCaught(t, jsons, 1)[0]
	if d := cmp.Diff(formLike(js["data"]), form["data"]); d != "" {
		t.Fatalf("form data differs from JSON data (-json +form):\n%s", d)
	}
	for _, k := range []string{"id", "type", "timestamp"} {
		if form[k] != js[k] {
			t.Fatalf("%s: form %v, JSON %v", k, form[k], js[k])
		}
	}
}
