package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// setup starts an engine and API on the given backend with cfg.
func setup(t *testing.T, backend redistest.Backend, cfg engine.Config) *apitest.Harness {
	t.Helper()
	return apitest.New(t, apitest.Options{Backend: backend, Engine: cfg})
}

// bothBackends runs a test on the embedded server and on real Redis.
func bothBackends(t *testing.T, f func(t *testing.T, backend redistest.Backend)) {
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) { f(t, b) })
	}
}

// payload is the part of a delivered body the tests look at.
type payload struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		Asset   map[string]any `json:"asset"`
		Webhook struct {
			ID     int64  `json:"id"`
			Reason string `json:"reason"`
		} `json:"webhook"`
		Delivery map[string]any `json:"delivery"`
	} `json:"data"`
}

func decode(t *testing.T, r apitest.Request) payload {
	t.Helper()
	var p payload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("delivered body is not JSON: %v: %s", err, r.Body)
	}
	return p
}

func asset(i int) map[string]any {
	return map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": fmt.Sprintf("asset-%d", i)}}
}

// ofType returns the requests whose body has the event type typ.
func ofType(t *testing.T, reqs []apitest.Request, typ string) []payload {
	var out []payload
	for _, r := range reqs {
		if p := decode(t, r); p.Type == typ {
			out = append(out, p)
		}
	}
	return out
}

func watcher(t *testing.T, h *apitest.Harness) (*apitest.Receiver, int64) {
	rc := apitest.NewReceiver(t)
	id := h.CreateWebhook(map[string]any{"name": "ops", "http_url": rc.URL,
		"trigger_events": []string{"WEBHOOK_DELIVERY_FAILED", "WEBHOOK_DISABLED", "WEBHOOK_RECOVERED"}})
	return rc, id
}

func deliveries(t *testing.T, h *apitest.Harness, hook int64, query string) []engine.Delivery {
	t.Helper()
	r := h.Admin("GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries%s", hook, query), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("deliveries%s: %d %s", query, r.Status, r.Body)
	}
	var out struct{ Deliveries []engine.Delivery }
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Deliveries
}

func stats(t *testing.T, h *apitest.Harness, hook int64) engine.Stats {
	t.Helper()
	st, err := h.Engine.Webhooks().Stats(context.Background(), []int64{hook})
	if err != nil {
		t.Fatal(err)
	}
	return st[hook]
}

func webhook(t *testing.T, h *apitest.Harness, id int64) map[string]any {
	return h.Must(http.StatusOK, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), nil)["webhook"].(map[string]any)
}

// TestExhaustedAndRecovered: a delivery that fails every try lands in the
// failed log after the schedule and emits WEBHOOK_DELIVERY_FAILED to the
// subscribed webhook, never to the failing one; a manual retry sends it again
// with the same webhook-id, and the success emits WEBHOOK_RECOVERED.
func TestExhaustedAndRecovered(t *testing.T) { bothBackends(t, testExhaustedAndRecovered) }

func testExhaustedAndRecovered(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := setup(t, backend, engine.Config{RetrySchedule: []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}})
	ops, _ := watcher(t, h)
	var up atomic.Bool
	bad := apitest.NewReceiver(t)
	bad.Respond = func(apitest.Request) (int, string) {
		if up.Load() {
			return 200, "ok"
		}
		return 500, "down"
	}
	id := h.CreateWebhook(map[string]any{"name": "bad", "http_url": bad.URL, "trigger_events": []string{"*"}})
	h.Send(asset(1))

	got := ops.Wait(t, 1, 10*time.Second)
	failed := ofType(t, got, "WEBHOOK_DELIVERY_FAILED")
	if len(failed) != 1 || failed[0].Data.Webhook.ID != id || failed[0].Data.Delivery["status"] != "failed" {
		t.Fatalf("ops webhook got %+v", failed)
	}
	reqs := bad.Requests()
	if len(reqs) != 3 {
		t.Fatalf("failing receiver got %d tries, want 3 (first + 2 retries)", len(reqs))
	}
	dlv := reqs[0].Header.Get("webhook-id")
	for i, r := range reqs {
		if r.Header.Get("webhook-id") != dlv || r.Header.Get("X-Assethooks-Attempt") != fmt.Sprint(i+1) {
			t.Errorf("try %d: webhook-id %q attempt %q", i+1, r.Header.Get("webhook-id"), r.Header.Get("X-Assethooks-Attempt"))
		}
	}
	if failed[0].Data.Delivery["id"] != dlv {
		t.Errorf("failed event names delivery %v, want %s", failed[0].Data.Delivery["id"], dlv)
	}
	log := h.Must(200, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/failed", id), nil)["failed_log"].([]any)
	if len(log) != 1 || log[0].(map[string]any)["id"] != dlv || log[0].(map[string]any)["attempts"] != 3.0 {
		t.Errorf("failed log: %v", log)
	}

	up.Store(true)
	h.Must(http.StatusAccepted, "POST", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries/%s/retry", id, dlv), nil)
	reqs = bad.Wait(t, 4, 10*time.Second)
	if got := reqs[3].Header.Get("webhook-id"); got != dlv {
		t.Errorf("manual retry sent webhook-id %q, want %q", got, dlv)
	}
	redistest.Eventually(t, 30*time.Second, func() bool {
		return len(ofType(t, ops.Requests(), "WEBHOOK_RECOVERED")) == 1
	}, "WEBHOOK_RECOVERED")
	redistest.Eventually(t, 20*time.Second, func() bool {
		d := deliveries(t, h, id, "?status=succeeded")
		return len(d) == 1 && d[0].ID == dlv
	}, "the resent delivery succeeded")
	if s := stats(t, h, id); s.QueueLength != 0 || s.RetryQueueLength != 0 || s.LatestRun.Outcome != engine.StatusSucceeded {
		t.Errorf("stats %+v", s)
	}
	for _, r := range bad.Requests() {
		if typ := decode(t, r).Type; typ != "ASSET_ADDED" {
			t.Errorf("the failing webhook received %s about itself", typ)
		}
	}
}

// TestReceiverDownThenUp: every delivery made while the receiver was down
// arrives once it is back, on a compressed schedule.
func TestReceiverDownThenUp(t *testing.T) { bothBackends(t, testReceiverDownThenUp) }

func testReceiverDownThenUp(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	sched := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, time.Second, time.Second, time.Second, time.Second, time.Second}
	h := setup(t, backend, engine.Config{RetrySchedule: sched})
	var up atomic.Bool
	rc := apitest.NewReceiver(t)
	rc.Respond = func(apitest.Request) (int, string) {
		if up.Load() {
			return 204, ""
		}
		return 503, "maintenance"
	}
	id := h.CreateWebhook(map[string]any{"name": "flaky", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	const n = 20
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = asset(i)
	}
	h.Send(evs...)
	redistest.Eventually(t, 30*time.Second, func() bool { return stats(t, h, id).RetryQueueLength == n },
		"all %d waiting for a retry", n)
	rc.Wait(t, 2*n, 10*time.Second) // every delivery tried at least twice while down
	up.Store(true)
	ok := map[string]bool{}
	redistest.Eventually(t, 15*time.Second, func() bool {
		got := deliveries(t, h, id, "?status=succeeded&limit=500")
		for _, d := range got {
			ok[d.ID] = true
		}
		return len(ok) == n
	}, "%d of %d delivered after the receiver came back", len(ok), n)
	s := stats(t, h, id)
	if s.QueueLength != 0 || s.RetryQueueLength != 0 || s.LatestRun == nil || s.LatestRun.Outcome != engine.StatusSucceeded {
		t.Errorf("stats after recovery: %+v", s)
	}
}

// TestRetryAfter: a 429 with Retry-After: 1 is retried after about a second,
// not after the 10 ms of the schedule.
func TestRetryAfter(t *testing.T) { bothBackends(t, testRetryAfter) }

func testRetryAfter(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := setup(t, backend, engine.Config{RetrySchedule: []time.Duration{10 * time.Millisecond}})
	var n atomic.Int32
	rc := apitest.NewReceiver(t)
	rc.Respond = func(apitest.Request) (int, string) {
		if n.Add(1) == 1 {
			return 429, "slow down"
		}
		return 200, "ok"
	}
	// Retry-After needs a header: wrap the receiver's handler.
	inner := rc.Config.Handler
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		inner.ServeHTTP(w, r)
	})
	h.CreateWebhook(map[string]any{"name": "limited", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	h.Send(asset(1))
	reqs := rc.Wait(t, 2, 10*time.Second)
	gap := reqs[1].At.Sub(reqs[0].At)
	if gap < 950*time.Millisecond || gap > 3*time.Second {
		t.Errorf("retry came %s after the 429 with Retry-After: 1", gap)
	}
}

// TestGoneDisables: 410 disables the webhook at once, with the reason, and
// emits WEBHOOK_DISABLED.
func TestGoneDisables(t *testing.T) { bothBackends(t, testGoneDisables) }

func testGoneDisables(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := setup(t, backend, engine.Config{})
	ops, _ := watcher(t, h)
	rc := apitest.NewReceiver(t)
	rc.Status = http.StatusGone
	id := h.CreateWebhook(map[string]any{"name": "gone", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	h.Send(asset(1))
	got := ops.Wait(t, 1, 10*time.Second)
	dis := ofType(t, got, "WEBHOOK_DISABLED")
	if len(got) != 1 || len(dis) != 1 || dis[0].Data.Webhook.ID != id || !strings.Contains(dis[0].Data.Webhook.Reason, "410") {
		t.Fatalf("ops got %s", got[0].Body)
	}
	w := webhook(t, h, id)
	if w["disabled"] != true || !strings.Contains(fmt.Sprint(w["disabled_reason"]), "410") {
		t.Errorf("webhook after 410: disabled=%v reason=%v", w["disabled"], w["disabled_reason"])
	}
	if rc.Count() != 1 {
		t.Errorf("a 410 was retried: %d requests", rc.Count())
	}
}

// TestFiveDaysDisable: a webhook that keeps failing for five days (a fake
// clock) is disabled with the reason stored, and WEBHOOK_DISABLED is emitted.
func TestFiveDaysDisable(t *testing.T) { bothBackends(t, testFiveDaysDisable) }

func testFiveDaysDisable(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	h := setup(t, backend, engine.Config{Now: now})
	ops, _ := watcher(t, h)
	rc := apitest.NewReceiver(t)
	rc.Status = http.StatusInternalServerError
	id := h.CreateWebhook(map[string]any{"name": "dying", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"},
		"retry_schedule": []string{"1h", "1h", "1h"}})
	h.Send(asset(1))
	redistest.Eventually(t, 30*time.Second, func() bool { return stats(t, h, id).RetryQueueLength == 1 }, "first try failed")
	if w := webhook(t, h, id); w["disabled"] != false {
		t.Fatalf("disabled after one failure")
	}
	skew.Store(int64(5*24*time.Hour + time.Hour))
	got := ops.Wait(t, 1, 10*time.Second)
	dis := ofType(t, got, "WEBHOOK_DISABLED")
	if len(dis) != 1 || dis[0].Data.Webhook.ID != id || !strings.Contains(dis[0].Data.Webhook.Reason, "120h") {
		t.Fatalf("ops got %s", got[0].Body)
	}
	w := webhook(t, h, id)
	if w["disabled"] != true || !strings.Contains(fmt.Sprint(w["disabled_reason"]), "without a success") {
		t.Errorf("webhook: disabled=%v reason=%v", w["disabled"], w["disabled_reason"])
	}
	if rc.Count() != 2 {
		t.Errorf("receiver got %d tries, want 2", rc.Count())
	}
}

// TestIdempotentIngest: the same event id twice → both 202, one delivery.
func TestIdempotentIngest(t *testing.T) { bothBackends(t, testIdempotentIngest) }

func testIdempotentIngest(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	h := setup(t, backend, engine.Config{})
	rc := apitest.NewReceiver(t)
	h.CreateWebhook(map[string]any{"name": "once", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	ev := asset(1)
	ev["id"] = "evt_dam_42"
	first, second := h.Send(ev), h.Send(ev)
	if first[0] != "evt_dam_42" || second[0] != "evt_dam_42" {
		t.Errorf("ids %v %v", first, second)
	}
	h.Send(asset(2)) // routed after both: once it arrives, so would a duplicate have
	redistest.Eventually(t, 30*time.Second, func() bool {
		for _, r := range rc.Requests() {
			if decode(t, r).Data.Asset["uuid"] == "asset-2" {
				return true
			}
		}
		return false
	}, "the later event arrived")
	var n int
	for _, r := range rc.Requests() {
		if decode(t, r).ID == "evt_dam_42" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("evt_dam_42 delivered %d times, want 1", n)
	}
}
