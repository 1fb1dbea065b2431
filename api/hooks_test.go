package api_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// subscribe creates a REST hook with key and returns its id.
func subscribe(t *testing.T, h *apitest.Harness, key string, body map[string]any) int64 {
	t.Helper()
	r := h.Do("POST", "/api/v2/hooks", key, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	return int64(r.JSON(t)["id"].(float64))
}

func hookIDs(t *testing.T, h *apitest.Harness, key string) []int64 {
	t.Helper()
	r := h.Do("GET", "/api/v2/hooks", key, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list hooks: %d %s", r.Status, r.Body)
	}
	ids := []int64{}
	for _, x := range r.JSON(t)["hooks"].([]any) {
		ids = append(ids, int64(x.(map[string]any)["id"].(float64)))
	}
	return ids
}

// TestRESTHookLifecycle runs on both backends: the 410 removal goes through
// the delivery path and DeleteWebhook.
func TestRESTHookLifecycle(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := apitest.New(t, apitest.Options{Backend: b})
			rc := apitest.NewReceiver(t)
			id := subscribe(t, h, apitest.UserKey, map[string]any{"target_url": rc.URL + "/zap", "event": "ASSET_ADDED",
				"condition": `hasTag("zap")`})

			r := h.Do("GET", "/api/v2/hooks", apitest.UserKey, nil)
			hooks := r.JSON(t)["hooks"].([]any)
			if len(hooks) != 1 {
				t.Fatalf("hooks: %s", r.Body)
			}
			got := hooks[0].(map[string]any)
			if got["created_at"] == nil {
				t.Fatalf("no created_at: %v", got)
			}
			delete(got, "created_at")
			want := map[string]any{"id": float64(id), "target_url": rc.URL + "/zap", "event": "ASSET_ADDED", "condition": `hasTag("zap")`}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("hook (-want +got):\n%s", d)
			}

			// It receives what matches, as JSON.
			h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a0", "tags": []any{"other"}}},
				map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a1", "tags": []any{"zap"}}})
			req := rc.Wait(t, 1, 10*time.Second)[0]
			var p struct {
				Type string         `json:"type"`
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(req.Body, &p); err != nil || p.Type != "ASSET_ADDED" ||
				p.Data["asset"].(map[string]any)["uuid"] != "a1" || req.Header.Get("webhook-signature") == "" ||
				!strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("delivery: %v %s %v", err, req.Body, req.Header)
			}

			// Its target answers 410 Gone: the subscription disappears.
			rc.Respond = func(apitest.Request) (int, string) { return http.StatusGone, "gone" }
			h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a2", "tags": []any{"zap"}}})
			rc.Wait(t, 2, 10*time.Second)
			redistest.Eventually(t, 10*time.Second, func() bool { return len(hookIDs(t, h, apitest.UserKey)) == 0 },
				"the subscription is still listed after 410")
			h.Must(http.StatusNotFound, "GET", "/api/v2/admin/webhooks/"+strconv.FormatInt(id, 10), nil)
		})
	}
}

func TestRESTHookOwnership(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	mine := subscribe(t, h, apitest.UserKey, map[string]any{"target_url": rc.URL, "event": "ASSET_ADDED"})
	admins := subscribe(t, h, apitest.AdminKey, map[string]any{"target_url": rc.URL, "event": "ASSET_REMOVED"})
	wh := h.CreateWebhook(map[string]any{"name": "plain", "http_url": rc.URL, "trigger_events": []any{"ASSET_ADDED"}})

	if d := cmp.Diff([]int64{mine}, hookIDs(t, h, apitest.UserKey)); d != "" {
		t.Fatalf("user sees (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int64{mine, admins}, hookIDs(t, h, apitest.AdminKey)); d != "" {
		t.Fatalf("admin sees (-want +got):\n%s", d)
	}
	// Listed as webhooks, with their kind.
	kinds := map[int64]string{}
	for _, x := range h.Must(200, "GET", "/api/v2/admin/webhooks", nil)["webhooks"].([]any) {
		w := x.(map[string]any)
		kinds[int64(w["id"].(float64))] = w["kind"].(string)
	}
	if d := cmp.Diff(map[int64]string{mine: "hook", admins: "hook", wh: "webhook"}, kinds); d != "" {
		t.Fatalf("webhook list kinds (-want +got):\n%s", d)
	}
	if w := h.Must(200, "GET", "/api/v2/admin/webhooks/"+strconv.FormatInt(mine, 10), nil)["webhook"].(map[string]any); w["kind"] != "hook" {
		t.Fatalf("GET hook as webhook: %v", w)
	}

	for _, tc := range []struct {
		name   string
		key    string
		id     string
		status int
	}{
		{"another key's hook", apitest.UserKey, strconv.FormatInt(admins, 10), 404},
		{"a plain webhook", apitest.UserKey, strconv.FormatInt(wh, 10), 404},
		{"a plain webhook, even for an admin", apitest.AdminKey, strconv.FormatInt(wh, 10), 404},
		{"not an id", apitest.UserKey, "abc", 404},
		{"zero", apitest.UserKey, "0", 404},
		{"own hook", apitest.UserKey, strconv.FormatInt(mine, 10), 204},
		{"own hook again", apitest.UserKey, strconv.FormatInt(mine, 10), 404},
		{"an admin removes any hook", apitest.AdminKey, strconv.FormatInt(admins, 10), 204},
	} {
		if r := h.Do("DELETE", "/api/v2/hooks/"+tc.id, tc.key, nil); r.Status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, r.Status, r.Body, tc.status)
		}
	}
	// An admin deletes a subscription through the webhooks API too.
	again := subscribe(t, h, apitest.UserKey, map[string]any{"target_url": rc.URL, "event": "ASSET_ADDED"})
	h.Must(204, "DELETE", "/api/v2/admin/webhooks/"+strconv.FormatInt(again, 10), nil)
	if ids := hookIDs(t, h, apitest.AdminKey); len(ids) != 0 {
		t.Fatalf("left: %v", ids)
	}
}

func TestRESTHookBadInput(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	for _, tc := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"truncated", `{"target_url":`, 400, "malformed JSON"},
		{"an array", `[]`, 400, "malformed JSON"},
		{"no target_url", map[string]any{"event": "ASSET_ADDED"}, 422, "'target_url'"},
		{"target_url a number", map[string]any{"target_url": 1, "event": "ASSET_ADDED"}, 422, "'target_url'"},
		{"target_url not http", map[string]any{"target_url": "ftp://x.example", "event": "ASSET_ADDED"}, 422, "'target_url'"},
		{"target_url with a space", map[string]any{"target_url": "https://x.example/a b", "event": "ASSET_ADDED"}, 422, "'target_url'"},
		{"no event", map[string]any{"target_url": "https://x.example"}, 422, "'event'"},
		{"unknown event", map[string]any{"target_url": "https://x.example", "event": "ASSET_EXPLODED"}, 422, "'event'"},
		{"wildcard event", map[string]any{"target_url": "https://x.example", "event": "ASSET_*"}, 422, "'event'"},
		{"condition a number", map[string]any{"target_url": "https://x.example", "event": "ASSET_ADDED", "condition": 3}, 422, "'condition'"},
		{"condition does not compile", map[string]any{"target_url": "https://x.example", "event": "ASSET_ADDED", "condition": "hasTag("}, 422, "line 1"},
	} {
		r := h.Do("POST", "/api/v2/hooks", apitest.UserKey, tc.body)
		if r.Status != tc.status || !strings.Contains(string(r.Body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, r.Status, r.Body, tc.status, tc.want)
		}
	}
	if ids := hookIDs(t, h, apitest.AdminKey); len(ids) != 0 {
		t.Fatalf("bad input stored hooks: %v", ids)
	}
	if r := h.Do("GET", "/api/v2/hooks", "", nil); r.Status != 401 {
		t.Fatalf("no key: %d", r.Status)
	}
	for _, q := range []string{"", "?event=", "?event=NOPE"} {
		if r := h.Do("GET", "/api/v2/hooks/sample"+q, apitest.UserKey, nil); r.Status != 422 || !strings.Contains(string(r.Body), "'event'") {
			t.Fatalf("sample%s: %d %s", q, r.Status, r.Body)
		}
	}
}

func TestRESTHookSample(t *testing.T) {
	t.Parallel()
	// A fixed clock: the synthetic sample carries the time of the request,
	// which must not cross a second boundary away from the test's.
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h := apitest.New(t, apitest.Options{Engine: engine.Config{Now: func() time.Time { return now }}})
	// None seen yet: a synthetic payload of the delivered shape.
	r := h.Do("GET", "/api/v2/hooks/sample?event=ASSET_ADDED", apitest.UserKey, nil)
	want, err := actions.JSONBody(engine.Synthetic("ASSET_ADDED", now), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []json.RawMessage
	if err := json.Unmarshal(r.Body, &got); err != nil || r.Status != 200 || len(got) != 1 {
		t.Fatalf("sample: %d %s", r.Status, r.Body)
	}
	if d := cmp.Diff(string(want), string(got[0])); d != "" {
		t.Fatalf("synthetic sample (-want +got):\n%s", d)
	}

	// Once an event was routed, the sample is that event, byte for byte what
	// a subscriber received.
	rc := apitest.NewReceiver(t)
	subscribe(t, h, apitest.UserKey, map[string]any{"target_url": rc.URL, "event": "ASSET_ADDED"})
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a1", "size": json.Number("1.50"), "name": "a<b>&c.jpg"}})
	delivered := rc.Wait(t, 1, 10*time.Second)[0].Body
	r = h.Do("GET", "/api/v2/hooks/sample?event=ASSET_ADDED", apitest.UserKey, nil)
	got = nil
	if err := json.Unmarshal(r.Body, &got); err != nil || len(got) != 1 {
		t.Fatalf("sample: %d %s", r.Status, r.Body)
	}
	if d := cmp.Diff(string(delivered), string(got[0])); d != "" {
		t.Fatalf("recent sample (-delivered +sample):\n%s", d)
	}
}
