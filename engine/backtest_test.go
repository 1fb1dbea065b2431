package engine_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// stored waits until the history lists n events and returns their ids,
// newest first.
func stored(t *testing.T, h *apitest.Harness, n int, query string) []string {
	t.Helper()
	var ids []string
	redistest.Eventually(t, wait, func() bool {
		r := h.Admin("GET", "/api/v2/admin/events"+query, nil)
		evs, _ := r.JSON(t)["events"].([]any)
		ids = ids[:0]
		for _, e := range evs {
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		return len(ids) >= n
	}, "%d stored events", n)
	return ids
}

func backtest(t *testing.T, h *apitest.Harness, req map[string]any) map[string]any {
	t.Helper()
	return h.Must(http.StatusOK, "POST", "/api/v2/admin/rules/backtest", req)
}

func change(field string, old, new any) map[string]any {
	return map[string]any{"field": field, "old": old, "new": new}
}

// TestBacktest: a rule, given by its fields or as a stored webhook's, is
// evaluated over the stored events newest first, with the changes (and the
// previous snapshot) as they were when each was routed; it matches exactly
// the events the router would have sent, sends nothing, reports run-time
// errors per event and honours limit and since. rules/test tries a
// condition on a stored event the same way.
func TestBacktest(t *testing.T) { bothBackends(t, testBacktest) }

func testBacktest(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Backend: backend})
	rc := apitest.NewReceiver(t)
	approved := `changedTo("meta.custom.status", "approved")`
	w := h.CreateWebhook(map[string]any{"name": "approvals", "http_url": rc.URL,
		"trigger_events": []string{"ASSET_EDITED_METADATA"}, "condition": approved})
	a1 := func(status string, extra map[string]any) map[string]any {
		a := map[string]any{"uuid": "a1", "name": "a.jpg", "path": "/marketing", "mime_type": "image/jpeg",
			"meta": map[string]any{"custom": map[string]any{"status": status}}}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	h.Send(
		map[string]any{"id": "e1", "type": "ASSET_ADDED", "asset": a1("draft", nil)},
		map[string]any{"id": "e2", "type": "ASSET_EDITED_METADATA", "asset": a1("approved", nil)},
		map[string]any{"id": "e3", "type": "ASSET_EDITED_METADATA", "asset": map[string]any{"uuid": "a2",
			"meta": map[string]any{"custom": map[string]any{"status": "approved"}}}},
		map[string]any{"id": "e4", "type": "ASSET_EDITED_METADATA", "asset": a1("approved", map[string]any{"info": map[string]any{"title": "T"}})},
		map[string]any{"id": "e5", "type": "ASSET_EDITED_METADATA", "asset": map[string]any{"uuid": "a3"},
			"changes": []any{change("meta.custom.status", "review", "approved")}},
		map[string]any{"id": "e6", "type": "PROJECT_ADDED", "object": map[string]any{"id": "p9"}},
	)
	if d := cmp.Diff([]string{"e6", "e5", "e4", "e3", "e2", "e1"}, stored(t, h, 6, "")); d != "" {
		t.Fatalf("stored events (-want +got):\n%s", d)
	}
	rc.Wait(t, 2, wait)
	sent := rc.Count()

	matches := func(res map[string]any) []string {
		out := []string{}
		for _, m := range res["matched"].([]any) {
			out = append(out, m.(map[string]any)["event_id"].(string))
		}
		return out
	}
	byFields := backtest(t, h, map[string]any{"trigger_events": []string{"ASSET_EDITED_METADATA"}, "condition": approved})
	at := func(res map[string]any, i int) map[string]any { return res["matched"].([]any)[i].(map[string]any) }
	want := map[string]any{"scanned": 6.0, "errors": []any{}, "matched": []any{
		map[string]any{"event_id": "e5", "type": "ASSET_EDITED_METADATA", "occurred_at": at(byFields, 0)["occurred_at"], "asset_id": "a3",
			"changes": []any{change("meta.custom.status", "review", "approved")}},
		map[string]any{"event_id": "e2", "type": "ASSET_EDITED_METADATA", "occurred_at": at(byFields, 1)["occurred_at"], "asset_id": "a1",
			"changes": []any{change("meta.custom.status", "draft", "approved")}},
	}}
	if d := cmp.Diff(want, byFields); d != "" {
		t.Errorf("backtest by fields (-want +got):\n%s", d)
	}
	// The webhook's own rule, disabled or not, matches the same.
	h.Must(200, "PATCH", fmt.Sprintf("/api/v2/admin/webhooks/%d", w), map[string]any{"disabled": true})
	if d := cmp.Diff(want, backtest(t, h, map[string]any{"webhook_id": w})); d != "" {
		t.Errorf("backtest by webhook_id (-want +got):\n%s", d)
	}

	for _, tc := range []struct {
		name    string
		req     map[string]any
		matched []string
		scanned float64
	}{
		{"the previous snapshot as routed", map[string]any{"trigger_events": []string{"ASSET_*"},
			"condition": `old != nil && old.meta.custom.status == "draft"`}, []string{"e2"}, 6},
		{"a folder scope", map[string]any{"trigger_events": []string{"*"}, "folder": "/marketing/**"}, []string{"e4", "e2", "e1"}, 6},
		{"a title added, from the changes", map[string]any{"trigger_events": []string{"ASSET_*"}, "condition": `changed("info.title")`}, []string{"e4"}, 6},
		{"limit", map[string]any{"trigger_events": []string{"*"}, "limit": 2}, []string{"e6", "e5"}, 2},
		{"since", map[string]any{"trigger_events": []string{"*"}, "since": time.Now().Add(time.Hour).Format(time.RFC3339)}, []string{}, 0},
		{"users", map[string]any{"trigger_events": []string{"*"}, "webhook_users": []string{"nobody"}}, []string{}, 6},
	} {
		res := backtest(t, h, tc.req)
		if d := cmp.Diff(tc.matched, matches(res)); d != "" || res["scanned"] != tc.scanned {
			t.Errorf("%s: scanned %v (want %v), matched (-want +got):\n%s", tc.name, res["scanned"], tc.scanned, d)
		}
	}
	res := backtest(t, h, map[string]any{"trigger_events": []string{"ASSET_EDITED_METADATA"}, "condition": "asset.video.duration > 1"})
	var failed []string
	for _, e := range res["errors"].([]any) {
		failed = append(failed, e.(map[string]any)["event_id"].(string))
	}
	if d := cmp.Diff([]string{"e5", "e4", "e3", "e2"}, failed); d != "" || len(res["matched"].([]any)) != 0 {
		t.Errorf("run-time errors (-want +got):\n%s", d)
	}
	if rc.Count() != sent {
		t.Errorf("a backtest sent %d requests", rc.Count()-sent)
	}

	// rules/test on a stored event: the changes as routed.
	m := h.Must(200, "POST", "/api/v2/admin/rules/test", map[string]any{"condition": approved, "event_id": "e2"})
	if d := cmp.Diff(map[string]any{"matches": true, "changes": []any{change("meta.custom.status", "draft", "approved")}}, m); d != "" {
		t.Errorf("rules/test on e2 (-want +got):\n%s", d)
	}
	m = h.Must(200, "POST", "/api/v2/admin/rules/test", map[string]any{"condition": approved, "event_id": "e4"})
	if m["matches"] != false {
		t.Errorf("rules/test on e4 = %v", m)
	}
	h.Must(404, "POST", "/api/v2/admin/rules/test", map[string]any{"condition": approved, "event_id": "nope"})

	// Refusals.
	for _, tc := range []struct {
		req    map[string]any
		status int
		msg    string
	}{
		{map[string]any{"webhook_id": 999}, 404, "webhook not found"},
		{map[string]any{"webhook_id": w, "condition": "true"}, 422, "Invalid parameter 'condition' value \"true\": Must not be given with webhook_id"},
		{map[string]any{"trigger_events": []string{"*"}, "limit": 10001}, 422, "Invalid parameter 'limit' value 10001: Must be an Integer from 1 to 10000"},
		{map[string]any{"trigger_events": []string{"*"}, "since": "yesterday"}, 422, "Invalid parameter 'since' value \"yesterday\": Must be an RFC 3339 time"},
		{map[string]any{"condition": "true"}, 422, "Invalid parameter 'trigger_events' value nil: Must be an Array"},
		{map[string]any{"trigger_events": []string{"*"}, "condition": "asset.name"}, 422, "expected bool, but the condition yields asset.name, which is a string"},
		{map[string]any{"trigger_events": []string{"*"}, "project_id": "nope"}, 404, "project not found"},
		{map[string]any{"trigger_events": []string{"*"}, "conditon": "true"}, 422, "Invalid parameter 'conditon': Unknown parameter"},
	} {
		r := h.Admin("POST", "/api/v2/admin/rules/backtest", tc.req)
		if r.Status != tc.status || r.JSON(t)["error"] != tc.msg {
			t.Errorf("backtest %v: %d %s, want %d %q", tc.req, r.Status, r.Body, tc.status, tc.msg)
		}
	}
}

// TestHistoryBoundedAndListed: the history keeps at most EventCap events,
// the newest, and lists them by asset and type, paged with before; an event
// received before the retention window is gone. With one partition the cap
// is exact; each of several partitions keeps its share of it (see
// TestHistoryCapShared).
func TestHistoryBoundedAndListed(t *testing.T) { bothBackends(t, testHistoryBoundedAndListed) }

func testHistoryBoundedAndListed(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Backend: backend, Partitions: 1, Engine: engine.Config{EventCap: 4}})
	h.Send(
		map[string]any{"id": "h1", "type": "ASSET_ADDED", "asset": map[string]any{"uuid": "x"}},
		map[string]any{"id": "h2", "type": "ASSET_ADDED", "asset": map[string]any{"uuid": "y"}, "project_id": "p",
			"actor": map[string]any{"username": "ana", "interface": "web"}, "occurred_at": "2026-01-02T03:04:05Z"},
		map[string]any{"id": "h3", "type": "ASSET_REMOVED", "asset": map[string]any{"uuid": "x"}},
		map[string]any{"id": "h4", "type": "ASSET_ADDED", "asset": map[string]any{"uuid": "x"}},
		map[string]any{"id": "h5", "type": "PROJECT_ADDED", "object": map[string]any{"id": "p"}},
	)
	redistest.Eventually(t, wait, func() bool {
		r := h.Admin("GET", "/api/v2/admin/events/h5", nil)
		return r.Status == 200
	}, "h5 stored")
	if d := cmp.Diff([]string{"h5", "h4", "h3", "h2"}, stored(t, h, 4, "")); d != "" {
		t.Errorf("the newest 4 (-want +got):\n%s", d)
	}
	h.Must(404, "GET", "/api/v2/admin/events/h1", nil)
	for _, tc := range []struct{ query, want string }{
		{"?asset_id=x", "[h4 h3]"},
		{"?type=ASSET_ADDED", "[h4 h2]"},
		{"?asset_id=x&type=ASSET_ADDED", "[h4]"},
		{"?limit=2&before=h4", "[h3 h2]"},
		{"?asset_id=nobody", "[]"},
	} {
		if got := fmt.Sprint(stored(t, h, 0, tc.query)); got != tc.want {
			t.Errorf("events%s = %s, want %s", tc.query, got, tc.want)
		}
	}
	evs := h.Must(200, "GET", "/api/v2/admin/events?type=ASSET_ADDED&asset_id=y", nil)["events"].([]any)
	got := evs[0].(map[string]any)
	if got["received_at"] == nil {
		t.Errorf("received_at missing: %v", got)
	}
	delete(got, "received_at")
	if d := cmp.Diff(map[string]any{"id": "h2", "type": "ASSET_ADDED", "occurred_at": "2026-01-02T03:04:05.000Z", "asset_id": "y",
		"project_id": "p", "actor": map[string]any{"username": "ana", "interface": "web"}}, got); d != "" {
		t.Errorf("a listed event (-want +got):\n%s", d)
	}
	for _, q := range []string{"?before=h1", "?type=NOPE", "?limit=0", "?page=2"} {
		if r := h.Admin("GET", "/api/v2/admin/events"+q, nil); r.Status != 422 {
			t.Errorf("events%s: %d %s, want 422", q, r.Status, r.Body)
		}
	}
	if n, _ := h.Redis.ZCard(t.Context(), h.Prefix+":hist:idx").Result(); n != 4 {
		t.Errorf("history index holds %d, want the cap", n)
	}

	// An engine whose clock is two retentions ahead sees every event as
	// expired, and its next batch trims them.
	late := apitest.New(t, apitest.Options{Backend: backend, Partitions: 1, Engine: engine.Config{EventRetention: time.Hour,
		Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}})
	late.Send(map[string]any{"id": "old", "type": "ASSET_ADDED", "asset": map[string]any{"uuid": "z"}})
	redistest.Eventually(t, wait, func() bool {
		n, _ := late.Redis.XLen(t.Context(), late.Prefix+":events").Result()
		return n == 0
	}, "the event routed")
	late.Must(404, "GET", "/api/v2/admin/events/old", nil)
	if n, _ := late.Redis.ZCard(t.Context(), late.Prefix+":hist:idx").Result(); n != 0 {
		t.Errorf("an expired event is still indexed (%d)", n)
	}
}
