package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/internal/secret"
	"github.com/assethooks/assethooks/markers"
)

const wait = 10 * time.Second

// settled waits until an event is routed and every matched webhook's
// delivery has its final status, and returns the trace.
func settled(t *testing.T, h *apitest.Harness, id, status string) engine.Trace {
	t.Helper()
	var tr engine.Trace
	redistest.Eventually(t, wait, func() bool {
		r := h.Admin("GET", "/api/v2/admin/events/"+id+"/trace", nil)
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tr) != nil || tr.RoutedAt.IsZero() {
			return false
		}
		for _, w := range tr.Webhooks {
			if w.Verdict == "matched" && (w.DeliveryStatus == nil || *w.DeliveryStatus != status) {
				return false
			}
		}
		return true
	}, "the trace of %s", id)
	return tr
}

func ptr[T any](v T) *T { return &v }

// skipped is a trace entry of a webhook that did not get the event.
func skipped(id int64, name, stage, reason string) engine.TraceEntry {
	return engine.TraceEntry{WebhookID: id, Name: name, Kind: "webhook", Verdict: "skipped", Stage: stage, Reason: reason}
}

// matched is a trace entry of a webhook that got the event.
func matched(id int64, name, via, reason, eventID, status string, cond *engine.ConditionOutcome) engine.TraceEntry {
	return engine.TraceEntry{WebhookID: id, Name: name, Kind: "webhook", Verdict: "matched", Stage: "matched", Via: via,
		Reason: reason, Condition: cond, DeliveryID: ptr(engine.DeliveryID(eventID, id)), DeliveryStatus: ptr(status)}
}

// TestTraceStages: the router records, for every webhook and REST hook, where
// the event left it: disabled, trigger, project, users, folder, condition
// false, condition error, matched (by trigger, with and without a
// condition), each with a readable reason and the live delivery status; the
// run-time error is counted in the webhook's rule_errors.
func TestTraceStages(t *testing.T) { bothBackends(t, testTraceStages) }

func testTraceStages(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Backend: backend})
	rc := apitest.NewReceiver(t)
	for _, p := range []string{"p1", "p2"} {
		h.Must(200, "POST", "/api/v2/admin/projects", map[string]any{"id": p, "name": p})
	}
	mk := func(name string, extra map[string]any) int64 {
		req := map[string]any{"name": name, "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}}
		for k, v := range extra {
			req[k] = v
		}
		return h.CreateWebhook(req)
	}
	off := mk("off", map[string]any{"disabled": true})
	removals := mk("removals", map[string]any{"trigger_events": []string{"ASSET_REMOVED", "ASSET_MOVED"}})
	proj := mk("project", map[string]any{"project_id": "p2"})
	users := mk("users", map[string]any{"webhook_users": []string{"bo", "cy"}})
	folder := mk("folder", map[string]any{"folder": "/marketing/**"})
	small := mk("small", map[string]any{"condition": "asset.size > 100"})
	broken := mk("broken", map[string]any{"condition": "asset.video.duration > 1"})
	images := mk("images", map[string]any{"condition": "isImage()", "folder": "/press/**"})
	all := mk("all", map[string]any{"trigger_events": []string{"ASSET_*"}})
	sub := h.Must(201, "POST", "/api/v2/hooks", map[string]any{"target_url": rc.URL, "event": "ASSET_ADDED"})
	hookID := int64(sub["id"].(float64))

	h.Send(map[string]any{"id": "evt_t1", "type": "ASSET_ADDED", "project_id": "p1", "actor": map[string]any{"username": "ana"},
		"asset": map[string]any{"uuid": "a1", "name": "a.jpg", "path": "/press", "mime_type": "image/jpeg", "size": 5}})
	tr := settled(t, h, "evt_t1", "succeeded")
	yes, no := true, false
	want := []engine.TraceEntry{
		skipped(off, "off", "disabled", "the webhook is disabled"),
		skipped(removals, "removals", "trigger", "trigger_events [ASSET_REMOVED, ASSET_MOVED] do not include ASSET_ADDED"),
		skipped(proj, "project", "project", "project_id p2 is not the event's project p1"),
		skipped(users, "users", "users", "webhook_users [bo, cy] do not include ana"),
		skipped(folder, "folder", "folder", "folder /marketing/** does not hold /press/a.jpg"),
		{WebhookID: small, Name: "small", Kind: "webhook", Verdict: "skipped", Stage: "condition", Reason: "the condition was false",
			Condition: &engine.ConditionOutcome{Result: &no}},
		{WebhookID: broken, Name: "broken", Kind: "webhook", Verdict: "skipped", Stage: "condition",
			Reason:    "the condition failed at run time: rules: cannot fetch duration from <nil> (1:13)\n | asset.video.duration > 1\n | ............^",
			Condition: &engine.ConditionOutcome{Error: ptr("rules: cannot fetch duration from <nil> (1:13)\n | asset.video.duration > 1\n | ............^")}},
		matched(images, "images", "trigger", "trigger_events [ASSET_ADDED] include ASSET_ADDED, every scope held and the condition was true",
			"evt_t1", "succeeded", &engine.ConditionOutcome{Result: &yes}),
		matched(all, "all", "trigger", "trigger_events [ASSET_*] include ASSET_ADDED and every scope held", "evt_t1", "succeeded", nil),
		matched(hookID, webhook(t, h, hookID)["name"].(string), "trigger",
			"trigger_events [ASSET_ADDED] include ASSET_ADDED and every scope held", "evt_t1", "succeeded", nil),
	}
	want[len(want)-1].Kind = "hook"
	if d := cmp.Diff(want, tr.Webhooks); d != "" {
		t.Errorf("trace (-want +got):\n%s", d)
	}
	if tr.Event != (engine.TraceEvent{ID: "evt_t1", Type: "ASSET_ADDED", AssetID: tr.Event.AssetID}) || *tr.Event.AssetID != "a1" {
		t.Errorf("trace event = %+v", tr.Event)
	}

	// The run-time error is the broken webhook's rule_errors.
	view := webhook(t, h, broken)
	re := view["rule_errors"].(map[string]any)
	last := re["last"].(map[string]any)
	if re["count"] != 1.0 || last["event_id"] != "evt_t1" || last["error"] != *want[6].Condition.Error || last["at"] == nil {
		t.Errorf("rule_errors = %v", re)
	}
	if re := webhook(t, h, small)["rule_errors"]; !cmp.Equal(re, map[string]any{"count": 0.0, "last": nil}) {
		t.Errorf("rule_errors of a webhook without errors = %v", re)
	}

	// A move out of /marketing: the folder scope is matched against where it
	// went too, and the reason says both.
	h.Send(map[string]any{"id": "evt_t2", "type": "ASSET_MOVED", "asset": map[string]any{"uuid": "a2", "name": "b.jpg", "path": "/marketing"},
		"destination": "/archive/"})
	mv := mk("moves", map[string]any{"trigger_events": []string{"ASSET_MOVED"}, "folder": "/press/**"})
	h.Send(map[string]any{"id": "evt_t3", "type": "ASSET_MOVED", "asset": map[string]any{"uuid": "a2", "name": "b.jpg", "path": "/marketing"},
		"destination": "/archive/"})
	tr = settled(t, h, "evt_t3", "succeeded")
	for _, w := range tr.Webhooks {
		if w.WebhookID == mv && w.Reason != "folder /press/** does not hold /marketing/b.jpg nor its destination /archive/b.jpg" {
			t.Errorf("move's folder reason = %q", w.Reason)
		}
	}
	// Routed before the moves webhook existed: it is not in that trace.
	for _, w := range settled(t, h, "evt_t2", "succeeded").Webhooks {
		if w.WebhookID == mv {
			t.Errorf("a webhook created after the event is in its trace: %+v", w)
		}
	}
}

// TestTraceUnwanted: an event no webhook subscribes to is routed without
// being decoded, and its trace still lists every webhook, at its triggers
// (or disabled); with a previous snapshot that differs it is decoded, and
// its changes are kept.
func TestTraceUnwanted(t *testing.T) { bothBackends(t, testTraceUnwanted) }

func testTraceUnwanted(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Backend: backend})
	rc := apitest.NewReceiver(t)
	a := h.CreateWebhook(map[string]any{"name": "a", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	b := h.CreateWebhook(map[string]any{"name": "b", "http_url": rc.URL, "trigger_events": []string{"ASSET_REMOVED"}, "disabled": true})
	asset := map[string]any{"uuid": "u1", "name": "x.jpg", "meta": map[string]any{"custom": map[string]any{"status": "draft"}}}
	h.Send(map[string]any{"id": "evt_d1", "type": "ASSET_DOWNLOADED", "asset": asset})
	edited := map[string]any{"uuid": "u1", "name": "x.jpg", "meta": map[string]any{"custom": map[string]any{"status": "approved"}}}
	h.Send(map[string]any{"id": "evt_d2", "type": "ASSET_EDITED_METADATA", "asset": edited})
	h.Send(map[string]any{"id": "evt_d3", "type": "ASSET_DOWNLOADED", "asset": edited})
	tr := settled(t, h, "evt_d3", "")
	want := []engine.TraceEntry{
		skipped(a, "a", "trigger", "trigger_events [ASSET_ADDED] do not include ASSET_DOWNLOADED"),
		skipped(b, "b", "disabled", "the webhook is disabled"),
	}
	if d := cmp.Diff(want, tr.Webhooks); d != "" {
		t.Errorf("trace of an unwanted event (-want +got):\n%s", d)
	}
	ev := h.Must(200, "GET", "/api/v2/admin/events/evt_d2", nil)["event"].(map[string]any)
	wantChanges := []any{map[string]any{"field": "meta.custom.status", "old": "draft", "new": "approved"}}
	if d := cmp.Diff(wantChanges, ev["changes"]); d != "" {
		t.Errorf("changes of an unwanted edit (-want +got):\n%s", d)
	}
	if ev["id"] != "evt_d2" || ev["asset"].(map[string]any)["uuid"] != "u1" {
		t.Errorf("stored event = %v", ev)
	}
	for _, id := range []string{"evt_d1", "evt_d3"} {
		ev := h.Must(200, "GET", "/api/v2/admin/events/"+id, nil)["event"].(map[string]any)
		if d := cmp.Diff([]any{}, ev["changes"]); d != "" {
			t.Errorf("changes of %s (-want +got):\n%s", id, d)
		}
	}
	h.Must(404, "GET", "/api/v2/admin/events/evt_never/trace", nil)
	h.Must(404, "GET", "/api/v2/admin/events/evt_never", nil)
}

// TestTraceSelfAndMarker: a webhook is skipped at stage self for the
// engine's events about itself; a marker's bound webhook matches via the
// marker whatever its triggers, and one whose folder does not hold the
// asset is skipped at its folder, the reason naming the marker.
func TestTraceSelfAndMarker(t *testing.T) { bothBackends(t, testTraceSelfAndMarker) }

func testTraceSelfAndMarker(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Backend: backend, Extra: []func(*api.Server){markers.Routes},
		Engine: engine.Config{RetrySchedule: []time.Duration{20 * time.Millisecond}}})
	bad := apitest.NewReceiver(t)
	bad.Status = http.StatusInternalServerError
	self := h.CreateWebhook(map[string]any{"name": "self", "http_url": bad.URL,
		"trigger_events": []string{"ASSET_ADDED", "WEBHOOK_DELIVERY_FAILED"}})
	h.Send(map[string]any{"id": "evt_s1", "type": "ASSET_ADDED", "asset": map[string]any{"uuid": "s1"}})
	var failed string
	redistest.Eventually(t, wait, func() bool {
		r := h.Admin("GET", "/api/v2/admin/events?type=WEBHOOK_DELIVERY_FAILED", nil)
		evs, _ := r.JSON(t)["events"].([]any)
		if len(evs) > 0 {
			failed = evs[0].(map[string]any)["id"].(string)
		}
		return failed != ""
	}, "a WEBHOOK_DELIVERY_FAILED event")
	tr := settled(t, h, failed, "")
	want := []engine.TraceEntry{skipped(self, "self", "self",
		"WEBHOOK_DELIVERY_FAILED is about this webhook itself, and a webhook never receives its own operational events")}
	if d := cmp.Diff(want, tr.Webhooks); d != "" {
		t.Errorf("trace of the webhook's own failure (-want +got):\n%s", d)
	}

	rc := apitest.NewReceiver(t)
	press := h.CreateWebhook(map[string]any{"name": "press", "http_url": rc.URL, "trigger_events": []string{"ASSET_REMOVED"},
		"folder": "/press/**"})
	mkt := h.CreateWebhook(map[string]any{"name": "marketing", "http_url": rc.URL, "trigger_events": []string{"ASSET_REMOVED"},
		"folder": "/marketing/**"})
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "publish", "label": "Publish",
		"webhook_ids": []int64{press, mkt}})
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "m1", "name": "a.jpg", "path": "/press"}})
	r := h.Do("POST", "/api/v2/assets/m1/markers/publish", apitest.UserKey, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("select: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["events"].([]any)[0].(map[string]any)["id"].(string)
	tr = settled(t, h, id, "succeeded")
	want = []engine.TraceEntry{
		skipped(self, "self", "trigger", "trigger_events [ASSET_ADDED, WEBHOOK_DELIVERY_FAILED] do not include ASSET_MARKER_SELECTED"),
		matched(press, "press", "marker", "marker publish fires it directly and every scope held", id, "succeeded", nil),
		skipped(mkt, "marketing", "folder", "marker publish fires it directly, but folder /marketing/** does not hold /press/a.jpg"),
	}
	if d := cmp.Diff(want, tr.Webhooks); d != "" {
		t.Errorf("trace of a marker selection (-want +got):\n%s", d)
	}
	// The delivery of that event to the bound webhook, and none to the other.
	ds := deliveries(t, h, press, "?event_id="+id)
	if len(ds) != 1 || ds[0].ID != engine.DeliveryID(id, press) || ds[0].EventID != id {
		t.Errorf("deliveries?event_id= of the bound webhook = %+v", ds)
	}
	if ds := deliveries(t, h, mkt, "?event_id="+id); len(ds) != 0 {
		t.Errorf("deliveries?event_id= of the skipped webhook = %+v", ds)
	}
	if ds := deliveries(t, h, press, "?event_id="+id+"&status=failed"); len(ds) != 0 {
		t.Errorf("deliveries?event_id=&status=failed of a succeeded one = %+v", ds)
	}
	if r := h.Admin("GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries?event=%s", press, id), nil); r.Status != 422 ||
		r.JSON(t)["error"] != "Invalid parameter 'event': Unknown parameter" {
		t.Errorf("unknown query parameter: %d %s", r.Status, r.Body)
	}
}

// TestTraceNotRouted: an event accepted but not yet routed answers its
// trace with routed_at null and no webhooks, and itself as queued.
func TestTraceNotRouted(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		box, err := secret.NewBox("test-secret-key-0123456789abcdef-0123456789")
		if err != nil {
			t.Fatal(err)
		}
		st := store.New(rdb, prefix)
		eng, err := engine.New(st, engine.Config{Box: box}) // never started: nothing routes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(eng.Stop)
		if err := st.EnsureGroups(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api.New(api.Config{Engine: eng, Keys: map[string]string{"k": api.RoleAdmin}}).Handler())
		t.Cleanup(srv.Close)
		h := &apitest.Harness{T: t, URL: srv.URL}
		h.Do("POST", "/api/v2/events", "k", map[string]any{"id": "evt_q", "type": "ASSET_ADDED", "asset": map[string]any{"uuid": "q"}})
		r := h.Do("GET", "/api/v2/admin/events/evt_q/trace", "k", nil)
		if d := cmp.Diff(map[string]any{"event": map[string]any{"id": "evt_q", "type": "ASSET_ADDED", "asset_id": "q"},
			"routed_at": nil, "webhooks": []any{}}, r.JSON(t)); r.Status != 200 || d != "" {
			t.Errorf("trace of an unrouted event: %d (-want +got):\n%s", r.Status, d)
		}
		r = h.Do("GET", "/api/v2/admin/events/evt_q", "k", nil)
		ev, _ := r.JSON(t)["event"].(map[string]any)
		if r.Status != 200 || ev["id"] != "evt_q" || !cmp.Equal(ev["changes"], []any{}) || ev["asset"] == nil {
			t.Errorf("an unrouted event: %d %s", r.Status, r.Body)
		}
		if r := h.Do("GET", "/api/v2/admin/events/evt_other/trace", "k", nil); r.Status != 404 {
			t.Errorf("unknown event: %d", r.Status)
		}
	})
}

// TestTraceDigest: a schedule's digest matches the webhooks it names, via
// the schedule, whatever their triggers; the others are skipped at theirs.
func TestTraceDigest(t *testing.T) { bothBackends(t, testTraceDigest) }

func testTraceDigest(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Backend: backend})
	rc := apitest.NewReceiver(t)
	named := h.CreateWebhook(map[string]any{"name": "named", "http_url": rc.URL, "trigger_events": []string{"ASSET_REMOVED"}})
	other := h.CreateWebhook(map[string]any{"name": "other", "http_url": rc.URL, "trigger_events": []string{"ASSET_REMOVED"}})
	h.Send(map[string]any{"id": "evt_g1", "type": "ASSET_ADDED", "asset": map[string]any{"uuid": "g1"}})
	settled(t, h, "evt_g1", "")
	sc := h.Must(200, "POST", "/api/v2/admin/schedules", map[string]any{"name": "weekly", "cron": "@weekly", "condition": "true",
		"action": map[string]any{"type": "digest", "webhook_ids": []int64{named}}})["schedule"].(map[string]any)
	h.Must(202, "POST", fmt.Sprintf("/api/v2/admin/schedules/%v/run", sc["id"]), nil)
	id := stored(t, h, 1, "?type=ASSET_SCHEDULED")[0]
	tr := settled(t, h, id, "succeeded")
	want := []engine.TraceEntry{
		matched(named, "named", "schedule", "the digest of schedule weekly goes to it directly, whatever its triggers, scopes and condition",
			id, "succeeded", nil),
		skipped(other, "other", "trigger", "the digest of schedule weekly goes only to the webhooks it names"),
	}
	if d := cmp.Diff(want, tr.Webhooks); d != "" {
		t.Errorf("trace of a digest (-want +got):\n%s", d)
	}
}
