package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

const wait = 20 * time.Second

// drained waits until nothing is left to deliver: the deliveries stream,
// its pending list and the retry set are empty. What a receiver counted
// then is all it will get.
func drained(t *testing.T, h *apitest.Harness) {
	t.Helper()
	redistest.Eventually(t, wait, func() bool {
		ctx := context.Background()
		st := h.Engine.Store()
		for i := range st.Partitions() {
			pp := st.PartitionPrefix(i)
			p, err1 := h.Redis.XPending(ctx, pp+":deliveries", "workers").Result()
			l, err2 := h.Redis.XLen(ctx, pp+":deliveries").Result()
			z, err3 := h.Redis.ZCard(ctx, pp+":retry").Result()
			if err1 != nil || err2 != nil || err3 != nil || p.Count != 0 || l != 0 || z != 0 {
				return false
			}
		}
		return true
	}, "the queues drained")
}

// ids returns the webhook-id of each request, sorted.
func ids(reqs []apitest.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Header.Get("webhook-id")
	}
	sort.Strings(out)
	return out
}

// asset is an ASSET_ADDED event of asset i.
func asset(i int) map[string]any {
	return map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": fmt.Sprintf("asset-%d", i)}}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// TestRecover: recover queues exactly one more attempt for each failed
// delivery of the window (the same webhook-id), none for the succeeded
// ones or those outside it, and nothing when done twice; the counters come
// back to zero.
func TestRecover(t *testing.T) {
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			testRecover(t, b)
		})
	}
}

func testRecover(t *testing.T, backend redistest.Backend) {
	h := apitest.New(t, apitest.Options{Backend: backend, Engine: engine.Config{RetrySchedule: []time.Duration{20 * time.Millisecond}}})
	var up atomic.Bool
	up.Store(true)
	rc := apitest.NewReceiver(t)
	rc.Respond = func(apitest.Request) (int, string) {
		if up.Load() {
			return 200, "ok"
		}
		return 503, "down"
	}
	id := h.CreateWebhook(map[string]any{"name": "flaky", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	path := fmt.Sprintf("/api/v2/admin/webhooks/%d/recover", id)
	start := time.Now().Add(-time.Second)

	h.Send(asset(1), asset(2)) // succeed
	rc.Wait(t, 2, wait)
	up.Store(false)
	h.Send(asset(3), asset(4), asset(5)) // fail: two tries each
	rc.Wait(t, 2+3*2, wait)
	drained(t, h)
	mid := time.Now()
	h.Send(asset(6), asset(7)) // fail, later
	rc.Wait(t, 2+5*2, wait)
	drained(t, h)
	failed := failedIDs(t, h, id)
	if len(failed) != 5 {
		t.Fatalf("%d failed deliveries, want 5", len(failed))
	}

	up.Store(true)
	// Nothing failed before start; two failed after mid.
	got := h.Must(http.StatusAccepted, "POST", path, map[string]any{"since": stamp(start.Add(-time.Hour)), "until": stamp(start)})
	diff(t, "recover before anything", got, map[string]any{"requeued": float64(0)})
	got = h.Must(http.StatusAccepted, "POST", path, map[string]any{"since": stamp(mid)})
	diff(t, "recover since mid", got, map[string]any{"requeued": float64(2)})
	rc.Wait(t, 12+2, wait)
	drained(t, h)
	got = h.Must(http.StatusAccepted, "POST", path, map[string]any{"since": stamp(start), "until": stamp(time.Now())})
	diff(t, "recover the rest", got, map[string]any{"requeued": float64(3)})
	rc.Wait(t, 12+5, wait)
	drained(t, h)
	got = h.Must(http.StatusAccepted, "POST", path, map[string]any{"since": stamp(start)})
	diff(t, "recover again", got, map[string]any{"requeued": float64(0)})
	drained(t, h)

	reqs := rc.Requests()
	if len(reqs) != 17 {
		t.Fatalf("the receiver got %d requests, want 2 + 5×2 + 5", len(reqs))
	}
	diff(t, "the recovered webhook-ids", ids(reqs[12:]), failed)
	for _, r := range reqs[12:] {
		if a := r.Header.Get("X-Assethooks-Attempt"); a != "3" {
			t.Errorf("%s: recovered as attempt %s, want 3", r.Header.Get("webhook-id"), a)
		}
	}
	if n := len(failedIDs(t, h, id)); n != 0 {
		t.Errorf("%d deliveries still failed", n)
	}
	w := h.Must(http.StatusOK, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), nil)["webhook"].(map[string]any)
	if w["queue_length"] != float64(0) || w["retry_queue_length"] != float64(0) {
		t.Errorf("queue_length %v, retry_queue_length %v; want 0, 0", w["queue_length"], w["retry_queue_length"])
	}
}

// failedIDs lists a webhook's failed deliveries, sorted.
func failedIDs(t *testing.T, h *apitest.Harness, id int64) []string {
	t.Helper()
	r := h.Must(http.StatusOK, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries?status=failed&limit=500", id), nil)
	var out []string
	for _, d := range r["deliveries"].([]any) {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	sort.Strings(out)
	return out
}

func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// TestReplay: replay delivers the stored events of the window that the
// webhook's current rule matches and that it never had a delivery for; a
// dry run counts and sends nothing, a second replay queues nothing, and a
// changed condition changes what matches.
func TestReplay(t *testing.T) {
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			testReplay(t, b)
		})
	}
}

func testReplay(t *testing.T, backend redistest.Backend) {
	h := apitest.New(t, apitest.Options{Backend: backend})
	witness, late := apitest.NewReceiver(t), apitest.NewReceiver(t)
	h.CreateWebhook(map[string]any{"name": "witness", "http_url": witness.URL, "trigger_events": []string{"*"}})
	id := h.CreateWebhook(map[string]any{"name": "late", "http_url": late.URL, "trigger_events": []string{"ASSET_ADDED"}, "disabled": true})
	path := fmt.Sprintf("/api/v2/admin/webhooks/%d/replay", id)
	start := time.Now()
	tagged := asset(2)
	tagged["asset"].(map[string]any)["tags"] = []string{"x"}
	removed := map[string]any{"type": "ASSET_REMOVED", "asset": map[string]any{"uuid": "asset-9"}}
	missed := h.Send(asset(1), tagged, asset(3), removed)[:3] // while it was disabled
	witness.Wait(t, 4, wait)
	h.Must(http.StatusOK, "PATCH", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), map[string]any{"disabled": false})
	h.Send(asset(4))
	late.Wait(t, 1, wait)
	drained(t, h)
	window := map[string]any{"since": stamp(start)}

	got := h.Must(http.StatusOK, "POST", path, map[string]any{"since": stamp(start), "dry_run": true})
	diff(t, "dry run", got, map[string]any{"matched": float64(4), "queued": float64(0), "already_delivered": float64(1),
		"dry_run": true, "would_queue": float64(3)})
	got = h.Must(http.StatusAccepted, "POST", path, window)
	diff(t, "replay", got, map[string]any{"matched": float64(4), "queued": float64(3), "already_delivered": float64(1),
		"dry_run": false, "would_queue": float64(0)})
	late.Wait(t, 4, wait)
	drained(t, h)
	got = h.Must(http.StatusAccepted, "POST", path, window)
	diff(t, "replay again", got, map[string]any{"matched": float64(4), "queued": float64(0), "already_delivered": float64(4),
		"dry_run": false, "would_queue": float64(0)})
	// Its current condition: only the tagged one matches now.
	h.Must(http.StatusOK, "PATCH", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), map[string]any{"condition": `hasTag("x")`})
	got = h.Must(http.StatusOK, "POST", path, map[string]any{"since": stamp(start), "dry_run": true})
	diff(t, "dry run, tagged only", got, map[string]any{"matched": float64(1), "queued": float64(0), "already_delivered": float64(1),
		"dry_run": true, "would_queue": float64(0)})
	// A window before the events holds none.
	got = h.Must(http.StatusAccepted, "POST", path, map[string]any{"since": stamp(start.Add(-time.Hour)), "until": stamp(start.Add(-30 * time.Minute))})
	diff(t, "an empty window", got, map[string]any{"matched": float64(0), "queued": float64(0), "already_delivered": float64(0),
		"dry_run": false, "would_queue": float64(0)})
	drained(t, h)

	reqs := late.Requests()
	if len(reqs) != 4 {
		t.Fatalf("the late webhook got %d requests, want 1 + 3 replayed", len(reqs))
	}
	var replayed []string
	for _, r := range reqs[1:] {
		p := decodeBody(t, r.Body)
		if p["type"] != "ASSET_ADDED" {
			t.Errorf("replayed a %v", p["type"])
		}
		replayed = append(replayed, fmt.Sprint(p["id"]))
	}
	sort.Strings(replayed)
	sort.Strings(missed)
	diff(t, "the replayed events", replayed, missed)
	if got := ids(reqs); len(got) != 4 || got[0] == got[1] || got[1] == got[2] || got[2] == got[3] {
		t.Errorf("webhook-ids %v, want 4 different", got)
	}
	w := h.Must(http.StatusOK, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), nil)["webhook"].(map[string]any)
	if w["queue_length"] != float64(0) || w["retry_queue_length"] != float64(0) {
		t.Errorf("queue_length %v, retry_queue_length %v; want 0, 0", w["queue_length"], w["retry_queue_length"])
	}
}

func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

// TestControlRefusals: bad windows, unknown parameters and bad rate
// limits → 422 naming the field; an unknown webhook → 404.
func TestControlRefusals(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	id := h.CreateWebhook(map[string]any{"name": "w", "http_url": rc.URL, "trigger_events": []string{"*"}})
	hook := fmt.Sprintf("/api/v2/admin/webhooks/%d", id)
	create := func(rate any) map[string]any {
		return map[string]any{"name": "r", "http_url": rc.URL, "trigger_events": []string{"*"}, "rate_limit": rate}
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		says               string
	}{
		{"recover without since", "POST", hook + "/recover", map[string]any{}, 422, "'since' value nil"},
		{"recover, since not a time", "POST", hook + "/recover", map[string]any{"since": "yesterday"}, 422, "'since'"},
		{"recover, since a number", "POST", hook + "/recover", map[string]any{"since": 5}, 422, "'since'"},
		{"recover, until before since", "POST", hook + "/recover", map[string]any{"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422, "'until'"},
		{"recover, until not a time", "POST", hook + "/recover", map[string]any{"since": "2026-01-02T00:00:00Z", "until": "soon"}, 422, "'until'"},
		{"recover, dry_run", "POST", hook + "/recover", map[string]any{"since": "2026-01-02T00:00:00Z", "dry_run": true}, 422, "'dry_run': Unknown parameter"},
		{"recover, malformed", "POST", hook + "/recover", `{"since":`, 400, "malformed JSON"},
		{"recover, unknown webhook", "POST", "/api/v2/admin/webhooks/999/recover", map[string]any{"since": "2026-01-02T00:00:00Z"}, 404, "webhook not found"},
		{"recover, webhook abc", "POST", "/api/v2/admin/webhooks/abc/recover", map[string]any{"since": "2026-01-02T00:00:00Z"}, 404, "webhook not found"},
		{"replay without since", "POST", hook + "/replay", map[string]any{"dry_run": true}, 422, "'since'"},
		{"replay, dry_run not a bool", "POST", hook + "/replay", map[string]any{"since": "2026-01-02T00:00:00Z", "dry_run": "yes"}, 422, "'dry_run'"},
		{"replay, typo", "POST", hook + "/replay", map[string]any{"since": "2026-01-02T00:00:00Z", "dryrun": true}, 422, "'dryrun': Unknown parameter"},
		{"replay, unknown webhook", "POST", "/api/v2/admin/webhooks/999/replay", map[string]any{"since": "2026-01-02T00:00:00Z"}, 404, "webhook not found"},
		{"replay, user key", "POST", hook + "/replay", map[string]any{"since": "2026-01-02T00:00:00Z"}, 401, "Not admin user"},
		{"rate_limit 0", "POST", "/api/v2/admin/webhooks", create(0), 422, "'rate_limit' value 0"},
		{"rate_limit 10001", "POST", "/api/v2/admin/webhooks", create(10001), 422, "'rate_limit' value 10001"},
		{"rate_limit 2.5", "POST", "/api/v2/admin/webhooks", create(2.5), 422, "'rate_limit' value 2.5"},
		{"rate_limit a string", "POST", "/api/v2/admin/webhooks", create("5"), 422, "'rate_limit'"},
		{"rate_limit -1 by PATCH", "PATCH", hook, map[string]any{"rate_limit": -1}, 422, "'rate_limit'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := apitest.AdminKey
			if strings.Contains(tc.name, "user key") {
				key = apitest.UserKey
			}
			r := h.Do(tc.method, tc.path, key, tc.body)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.says) {
				t.Errorf("%d %s, want %d saying %q", r.Status, r.Body, tc.status, tc.says)
			}
		})
	}
	// Nothing was saved by the refusals; the limits in range are.
	if w := h.Must(http.StatusOK, "GET", hook, nil)["webhook"].(map[string]any); w["rate_limit"] != nil {
		t.Errorf("rate_limit %v after refused changes, want null", w["rate_limit"])
	}
	for _, rate := range []int{1, 10000} {
		w := h.Must(http.StatusOK, "POST", "/api/v2/admin/webhooks", create(rate))["webhook"].(map[string]any)
		if w["rate_limit"] != float64(rate) {
			t.Errorf("created with rate_limit %d, shows %v", rate, w["rate_limit"])
		}
	}
	w := h.Must(http.StatusOK, "PATCH", hook, map[string]any{"rate_limit": 20})["webhook"].(map[string]any)
	if w["rate_limit"] != float64(20) {
		t.Errorf("patched to 20, shows %v", w["rate_limit"])
	}
	w = h.Must(http.StatusOK, "PATCH", hook, map[string]any{"name": "renamed"})["webhook"].(map[string]any)
	if w["rate_limit"] != float64(20) {
		t.Errorf("a PATCH of another field left rate_limit %v, want 20", w["rate_limit"])
	}
	w = h.Must(http.StatusOK, "PATCH", hook, map[string]any{"rate_limit": nil})["webhook"].(map[string]any)
	if v, ok := w["rate_limit"]; !ok || v != nil {
		t.Errorf("patched to null, shows %v (present: %v)", v, ok)
	}
}

// TestReplayAcrossMinutes: events routed minutes before the replay are
// counted once, though the replay stores them again in its own minute.
func TestReplayAcrossMinutes(t *testing.T) {
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			var skew atomic.Int64 // how far the engine's clock is ahead
			h := apitest.New(t, apitest.Options{Backend: b, Engine: engine.Config{
				Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}})
			witness, late := apitest.NewReceiver(t), apitest.NewReceiver(t)
			h.CreateWebhook(map[string]any{"name": "witness", "http_url": witness.URL, "trigger_events": []string{"*"}})
			id := h.CreateWebhook(map[string]any{"name": "late", "http_url": late.URL, "trigger_events": []string{"ASSET_ADDED"}, "disabled": true})
			start := time.Now()
			h.Send(asset(1), asset(2))
			witness.Wait(t, 2, wait)
			h.Must(http.StatusOK, "PATCH", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), map[string]any{"disabled": false})
			skew.Store(int64(3 * time.Minute))
			path := fmt.Sprintf("/api/v2/admin/webhooks/%d/replay", id)
			until := stamp(time.Now().Add(4 * time.Minute))
			got := h.Must(http.StatusAccepted, "POST", path, map[string]any{"since": stamp(start), "until": until})
			diff(t, "replay", got, map[string]any{"matched": float64(2), "queued": float64(2), "already_delivered": float64(0),
				"dry_run": false, "would_queue": float64(0)})
			late.Wait(t, 2, wait)
			drained(t, h)
			got = h.Must(http.StatusOK, "POST", path, map[string]any{"since": stamp(start), "until": until, "dry_run": true})
			diff(t, "dry run after", got, map[string]any{"matched": float64(2), "queued": float64(0), "already_delivered": float64(2),
				"dry_run": true, "would_queue": float64(0)})
			if n := late.Count(); n != 2 {
				t.Errorf("the late webhook got %d requests, want 2", n)
			}
		})
	}
}

// TestReplayUnmatched: events that no webhook at all took when they came
// (the only one was disabled) are kept in the history, and a replay once
// the webhook is enabled again sends them, each once.
func TestReplayUnmatched(t *testing.T) {
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := apitest.New(t, apitest.Options{Backend: b})
			rc := apitest.NewReceiver(t)
			id := h.CreateWebhook(map[string]any{"name": "late", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}, "disabled": true})
			start := time.Now()
			h.Send(asset(1), asset(2), asset(3))
			redistest.Eventually(t, wait, func() bool {
				r := h.Do("GET", "/api/v2/admin/events?type=ASSET_ADDED", apitest.AdminKey, nil)
				evs, _ := r.JSON(t)["events"].([]any)
				return len(evs) == 3
			}, "the three events in the history")
			h.Must(http.StatusOK, "PATCH", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), map[string]any{"disabled": false})
			path := fmt.Sprintf("/api/v2/admin/webhooks/%d/replay", id)
			got := h.Must(http.StatusAccepted, "POST", path, map[string]any{"since": stamp(start.Add(-time.Minute))})
			diff(t, "replay", got, map[string]any{"matched": float64(3), "queued": float64(3), "already_delivered": float64(0),
				"dry_run": false, "would_queue": float64(0)})
			rc.Wait(t, 3, wait)
			got = h.Must(http.StatusAccepted, "POST", path, map[string]any{"since": stamp(start.Add(-time.Minute))})
			diff(t, "replay again", got, map[string]any{"matched": float64(3), "queued": float64(0), "already_delivered": float64(3),
				"dry_run": false, "would_queue": float64(0)})
		})
	}
}
