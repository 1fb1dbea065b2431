package actions

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
	"github.com/google/go-cmp/cmp"
)

func jsonDoc(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := event.UnmarshalJSONNumber(b, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	return m
}

func TestJSONBodyExactBytes(t *testing.T) {
	t.Parallel()
	ev := decodeEvent(t, `{"id":"evt_1","type":"ASSET_ADDED","occurred_at":"2026-11-22T10:00:00Z",
		"actor":{"username":"ana","interface":"web"},
		"asset":{"uuid":"a-1","size":12345678901234567890,"ratio":3.5,"ok":true,"url":"https://x/?a=1&b=<2>"}}`)
	rcv := newReceiver(t, nil)
	r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL}), ev)
	if !r.OK() {
		t.Fatal(r.Err)
	}
	want := `{"id":"evt_1","type":"ASSET_ADDED","timestamp":"2026-11-22T10:00:00.000Z","data":{` +
		`"actor":{"interface":"web","username":"ana"},` +
		`"asset":{"ok":true,"ratio":3.5,"size":12345678901234567890,"url":"https://x/?a=1&b=<2>","uuid":"a-1"},` +
		`"changes":[],"destination":null,"marker":null,"project_id":null}}`
	req := rcv.last(t)
	if diff := cmp.Diff(want, string(req.Body)); diff != "" {
		t.Fatalf("body (-want +got):\n%s", diff)
	}
	if got := req.Header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type = %q", got)
	}
}

func TestJSONBodyWholeEvent(t *testing.T) {
	t.Parallel()
	ev := sampleEvent(t)
	rcv := newReceiver(t, nil)
	if r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL}), ev); !r.OK() {
		t.Fatal(r.Err)
	}
	var asset map[string]any
	if err := event.UnmarshalJSONNumber([]byte(sampleEventJSON), &map[string]any{}); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	_ = event.UnmarshalJSONNumber([]byte(sampleEventJSON), &raw)
	asset = raw["asset"].(map[string]any)
	want := map[string]any{
		"id": "evt_01", "type": "ASSET_MOVED", "timestamp": "2026-11-22T10:00:00.000Z",
		"data": map[string]any{
			"asset":       asset,
			"actor":       map[string]any{"username": "ana", "interface": "web"},
			"changes":     []any{map[string]any{"field": "path", "old": "/marketing/banner.jpg", "new": "/marketing/new/banner.jpg"}},
			"marker":      nil,
			"project_id":  "GsrwPNm6nJ7CKRYnQZl6",
			"destination": "/marketing/new/banner.jpg",
			"target":      "file",
		},
	}
	if diff := cmp.Diff(want, jsonDoc(t, rcv.last(t).Body)); diff != "" {
		t.Fatalf("document (-want +got):\n%s", diff)
	}
}

// TestFormEqualsJSON decodes the form body with an independent
// bracket-notation parser and compares it with the JSON document.
func TestFormEqualsJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fields []string
		data   map[string]any
	}{
		{name: "whole asset"},
		{name: "fields", fields: []string{"file", "meta.custom", "renditions", "info.title"}},
		{name: "template data", data: map[string]any{"title": "Café", "n": json.Number("3.5"), "f": 2.25, "big": json.Number("12345678901234567890"),
			"ok": true, "list": []any{map[string]any{"a": json.Number("1")}, map[string]any{"b": []any{"x", "y"}}}, "none": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := sampleEvent(t)
			jr, fr := newReceiver(t, nil), newReceiver(t, nil)
			jw := setup(t, WebhookConfig{URL: jr.URL, Body: BodyConfig{Fields: tc.fields}})
			fw := setup(t, WebhookConfig{URL: fr.URL, Body: BodyConfig{Format: FormatForm, Fields: tc.fields}})
			for _, w := range []*Webhook{jw, fw} {
				if r := w.Execute(context.Background(), &Delivery{ID: "msg_1", Attempt: 1, Event: ev, Data: tc.data}); !r.OK() {
					t.Fatal(r.Err)
				}
			}
			freq := fr.last(t)
			if ct := freq.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Fatalf("Content-Type = %q", ct)
			}
			want := formView(jsonDoc(t, jr.last(t).Body))
			got := decodeForm(t, string(freq.Body))
			if diff := cmp.Diff(want, any(got)); diff != "" {
				t.Fatalf("form document (-json +form):\n%s", diff)
			}
		})
	}
}

func TestFormEncoding(t *testing.T) {
	t.Parallel()
	ev := decodeEvent(t, `{"id":"e","type":"ASSET_ADDED","occurred_at":"2026-11-22T10:00:00Z",
		"asset":{"uuid":"u","info":{"title":"a b&c=d/é"},"tags":["x","y"],"n":3.5,"big":12345678901234567890,"t":true,"z":null,"e":[],"o":{}}}`)
	b, err := encodeForm(newDocument(ev, buildData(ev, nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := "id=e&type=ASSET_ADDED&timestamp=2026-11-22T10%3A00%3A00.000Z" +
		"&data%5Basset%5D%5Bbig%5D=12345678901234567890" +
		"&data%5Basset%5D%5Binfo%5D%5Btitle%5D=a+b%26c%3Dd%2F%C3%A9" +
		"&data%5Basset%5D%5Bn%5D=3.5" +
		"&data%5Basset%5D%5Bt%5D=true" +
		"&data%5Basset%5D%5Btags%5D%5B0%5D=x&data%5Basset%5D%5Btags%5D%5B1%5D=y" +
		"&data%5Basset%5D%5Buuid%5D=u"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Fatalf("form (-want +got):\n%s", diff)
	}
	// Each key and value is escaped exactly as url.QueryEscape does.
	for _, pair := range strings.Split(string(b), "&") {
		k, v, _ := strings.Cut(pair, "=")
		uk, _ := url.QueryUnescape(k)
		uv, _ := url.QueryUnescape(v)
		if url.QueryEscape(uk) != k || url.QueryEscape(uv) != v {
			t.Errorf("pair %q is not QueryEscape-encoded", pair)
		}
	}
}

func TestFieldSelection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fields []string
		want   map[string]any
	}{
		{"file group", []string{"file"}, map[string]any{
			"uuid": "a-1", "name": "banner & co.jpg", "size": json.Number("12345678901234567890"),
			"path": "/marketing/new/banner.jpg", "mime_type": "image/jpeg", "cdn_url": "https://cdn.example.com/banner.jpg?w=1&h=2"}},
		{"nested group keeps nesting", []string{"meta.custom"}, map[string]any{
			"uuid": "a-1", "meta": map[string]any{"custom": map[string]any{"status": "approved", "score": json.Number("-0.25")}}}},
		{"two parts of meta", []string{"meta.custom.status", "meta.system"}, map[string]any{
			"uuid": "a-1", "meta": map[string]any{"custom": map[string]any{"status": "approved"}, "system": map[string]any{"version": json.Number("7")}}}},
		{"path under a selected one", []string{"meta", "meta.custom.status"}, map[string]any{
			"uuid": "a-1", "meta": sampleEvent(t).Asset["meta"]}},
		{"groups", []string{"image", "tags", "labels", "info"}, map[string]any{
			"uuid": "a-1", "image": map[string]any{"width": json.Number("1920"), "height": json.Number("1080")},
			"tags": []any{"summer", "sale"}, "labels": []any{"approved"},
			"info": map[string]any{"title": "Café <b>\"déjà\"</b>", "description": "line1\nline2 + more=%"}}},
		{"missing paths left out", []string{"video", "meta.custom.nope", "name.x"}, map[string]any{"uuid": "a-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := sampleEvent(t)
			rcv := newReceiver(t, nil)
			if r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL, Body: BodyConfig{Fields: tc.fields}}), ev); !r.OK() {
				t.Fatal(r.Err)
			}
			got := jsonDoc(t, rcv.last(t).Body)["data"].(map[string]any)["asset"]
			if diff := cmp.Diff(any(tc.want), got); diff != "" {
				t.Fatalf("asset (-want +got):\n%s", diff)
			}
			// The event's asset is untouched.
			if diff := cmp.Diff(sampleEvent(t).Asset, ev.Asset); diff != "" {
				t.Fatalf("selection changed the event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTemplateDataReplacesData(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	data := map[string]any{"title": "x", "n": json.Number("3.50")}
	w := setup(t, WebhookConfig{URL: rcv.URL})
	if r := w.Execute(context.Background(), &Delivery{ID: "m", Attempt: 1, Event: sampleEvent(t), Data: data}); !r.OK() {
		t.Fatal(r.Err)
	}
	want := map[string]any{"id": "evt_01", "type": "ASSET_MOVED", "timestamp": "2026-11-22T10:00:00.000Z", "data": map[string]any{"title": "x", "n": json.Number("3.50")}}
	if diff := cmp.Diff(want, jsonDoc(t, rcv.last(t).Body)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestDataShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, event string
		want        map[string]any
	}{
		{"object for non-asset events", `{"id":"e","type":"PROJECT_ADDED","occurred_at":"2026-11-22T10:00:00Z","object":{"id":"p1","n":2}}`,
			map[string]any{"object": map[string]any{"id": "p1", "n": json.Number("2")}, "actor": map[string]any{}, "changes": []any{}, "marker": nil, "project_id": nil, "destination": nil}},
		{"marker", `{"id":"e","type":"ASSET_MARKER_SELECTED","occurred_at":"2026-11-22T10:00:00Z","marker":"publish","asset":{"uuid":"u"}}`,
			map[string]any{"asset": map[string]any{"uuid": "u"}, "actor": map[string]any{}, "changes": []any{}, "marker": "publish", "project_id": nil, "destination": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := JSONBody(decodeEvent(t, tc.event), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(any(tc.want), jsonDoc(t, b)["data"]); diff != "" {
				t.Fatalf("data (-want +got):\n%s", diff)
			}
		})
	}
	// Batch (assets) and engine events.
	ev := &event.Event{ID: "e", Type: event.MarkerSelected, Marker: "m", OccurredAt: time.Unix(0, 0),
		Assets: []map[string]any{{"uuid": "a", "name": "x", "size": json.Number("1")}, {"uuid": "b", "name": "y"}}}
	b, _ := JSONBody(ev, []string{"name"}, nil)
	want := []any{map[string]any{"uuid": "a", "name": "x"}, map[string]any{"uuid": "b", "name": "y"}}
	if diff := cmp.Diff(any(want), jsonDoc(t, b)["data"].(map[string]any)["assets"]); diff != "" {
		t.Fatalf("assets (-want +got):\n%s", diff)
	}
	ev = &event.Event{ID: "e", Type: event.DeliveryFailed, OccurredAt: time.Unix(0, 0),
		Webhook: map[string]any{"id": json.Number("5")}, Delivery: map[string]any{"id": "d"}}
	b, _ = JSONBody(ev, nil, nil)
	wantData := map[string]any{"webhook": map[string]any{"id": json.Number("5")}, "delivery": map[string]any{"id": "d"},
		"actor": map[string]any{}, "changes": []any{}, "marker": nil, "project_id": nil, "destination": nil}
	if diff := cmp.Diff(any(wantData), jsonDoc(t, b)["data"]); diff != "" {
		t.Fatalf("engine event data (-want +got):\n%s", diff)
	}
}

func TestQueryParameters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		method string
		format string
		url    string
		event  string
		want   url.Values
	}{
		{"GET with json format is query", "GET", "json", "/hook", sampleEventJSON, url.Values{
			"action": {"move"}, "interface": {"web"}, "path": {"/marketing/banner.jpg"}, "destination": {"/marketing/new/banner.jpg"},
			"at": {"2026-11-22T10:00:00+00:00"}, "username": {"ana"}, "type": {"file"}, "event": {"ASSET_MOVED"}, "asset_id": {"a-1"}}},
		{"POST query format keeps the URL's query", "POST", "query", "/hook?token=abc", `{"id":"e","type":"ASSET_ADDED","occurred_at":"2026-11-22T10:00:00+02:00","asset":{"uuid":"u","path":"/a b/c.jpg"},"actor":{"interface":"robot"}}`, url.Values{
			"token": {"abc"}, "action": {"create"}, "interface": {"robot"}, "path": {"/a b/c.jpg"},
			"at": {"2026-11-22T08:00:00+00:00"}, "type": {"file"}, "event": {"ASSET_ADDED"}, "asset_id": {"u"}}},
		{"other types lowercased, directory", "GET", "", "/", `{"id":"e","type":"ASSET_EDITED_TAGS","occurred_at":"2026-11-22T10:00:00Z","asset":{"uuid":"u"},"target":"directory"}`, url.Values{
			"action": {"asset_edited_tags"}, "at": {"2026-11-22T10:00:00+00:00"}, "type": {"directory"}, "event": {"ASSET_EDITED_TAGS"}, "asset_id": {"u"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, nil)
			w := setup(t, WebhookConfig{URL: rcv.URL + tc.url, Method: tc.method, Body: BodyConfig{Format: tc.format}})
			if r := deliver(t, w, decodeEvent(t, tc.event)); !r.OK() {
				t.Fatal(r.Err)
			}
			req := rcv.last(t)
			got, err := url.ParseQuery(req.URL.RawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("query (-want +got):\n%s", diff)
			}
			if len(req.Body) != 0 || req.Header.Get("Content-Type") != "" {
				t.Fatalf("query request has a body %q or Content-Type %q", req.Body, req.Header.Get("Content-Type"))
			}
			if req.Method != w.Config().Method {
				t.Fatalf("method = %s", req.Method)
			}
		})
	}
}

func TestPayloadCacheEncodesOncePerConfig(t *testing.T) {
	t.Parallel()
	ev := sampleEvent(t)
	cache := NewPayloadCache()
	rcv := newReceiver(t, nil)
	a := setup(t, WebhookConfig{URL: rcv.URL, Body: BodyConfig{Fields: []string{"file", "tags"}}})
	b := setup(t, WebhookConfig{URL: rcv.URL, Method: "PUT", Body: BodyConfig{Fields: []string{"tags", "file"}}})
	c := setup(t, WebhookConfig{URL: rcv.URL, Body: BodyConfig{Format: FormatForm}})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		for _, w := range []*Webhook{a, b, c} {
			wg.Go(func() {
				if r := w.Execute(context.Background(), &Delivery{ID: "m", Attempt: 1, Event: ev, Cache: cache}); !r.OK() {
					t.Error(r.Err)
				}
			})
		}
	}
	wg.Wait()
	if cache.Len() != 2 {
		t.Fatalf("cache holds %d payloads, want 2 (same fields in another order share one)", cache.Len())
	}
	p1, _ := a.payload(&Delivery{Event: ev, Cache: cache})
	p2, _ := b.payload(&Delivery{Event: ev, Cache: cache})
	if p1 != p2 {
		t.Fatal("two webhooks with one body config got different cached payloads")
	}
	// Template data is per delivery: never cached.
	if p, _ := a.payload(&Delivery{Event: ev, Cache: cache, Data: map[string]any{"x": "y"}}); p == p1 {
		t.Fatal("a delivery with Data got the cached payload")
	}
}
