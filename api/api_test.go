package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// setup starts an engine and API on the backend and a receiver.
func setup(t *testing.T, b redistest.Backend) (*apitest.Harness, *apitest.Receiver) {
	t.Helper()
	h := apitest.New(t, apitest.Options{Backend: b})
	return h, apitest.NewReceiver(t)
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h, rc := setup(t, b)
			other := apitest.NewReceiver(t)
			created := h.Must(200, "POST", "/api/v2/admin/webhooks", map[string]any{
				"name": "DAM uploads", "http_url": rc.URL + "/hook", "http_method": "POST",
				"trigger_events": []string{"ASSET_ADDED"}})
			wh := created["webhook"].(map[string]any)
			secret := wh["signing_secret"].(string)
			if !strings.HasPrefix(secret, "whsec_") || strings.Contains(secret, "*") {
				t.Fatalf("create must show the signing secret in clear once, got %q", secret)
			}
			h.CreateWebhook(map[string]any{"name": "deletions only", "http_url": other.URL,
				"trigger_events": []string{"ASSET_REMOVED"}})

			// Sent as raw JSON: numbers must arrive exactly as written (1.50 stays 1.50).
			r := h.Admin("POST", "/api/v2/events", `{"id": "evt_e2e_1", "type": "ASSET_ADDED", "occurred_at": "2026-11-22T10:00:00Z",
				"actor": {"username": "ana", "interface": "web"},
				"asset": {"uuid": "a-1", "name": "banner.jpg", "path": "/marketing/banner.jpg", "size": 20480, "ratio": 1.50, "tags": ["hero"]}}`)
			if diff := cmp.Diff(`{"events":[{"id":"evt_e2e_1"}]}`, string(r.Body)); r.Status != 202 || diff != "" {
				t.Fatalf("ingest: %d %s", r.Status, diff)
			}
			got := rc.Wait(t, 1, 10*time.Second)[0]
			if got.Method != "POST" || got.Path != "/hook" {
				t.Fatalf("request = %s %s", got.Method, got.Path)
			}
			want := `{"id":"evt_e2e_1","type":"ASSET_ADDED","timestamp":"2026-11-22T10:00:00.000Z","data":{` +
				`"actor":{"interface":"web","username":"ana"},` +
				`"asset":{"name":"banner.jpg","path":"/marketing/banner.jpg","ratio":1.50,"size":20480,"tags":["hero"],"uuid":"a-1"},` +
				`"changes":[],"destination":null,"marker":null,"project_id":null}}`
			if diff := cmp.Diff(want, string(got.Body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			for k, v := range map[string]string{
				"Content-Type": "application/json", "User-Agent": "assethooks/test",
				"X-Assethooks-Event": "ASSET_ADDED", "X-Assethooks-Attempt": "1",
			} {
				if g := got.Header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			if id := got.Header.Get("webhook-id"); !strings.HasPrefix(id, "msg_") {
				t.Errorf("webhook-id = %q", id)
			}
			ts := got.Header.Get("webhook-timestamp")
			if sec, err := time.Parse(time.RFC3339, "2006-01-02T15:04:05Z"); err != nil || ts == "" {
				t.Errorf("webhook-timestamp = %q (%v %v)", ts, sec, err)
			}
			v, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(got.Body, got.Header); err != nil {
				t.Errorf("signature does not verify with the Standard Webhooks library: %v", err)
			}

			// The success log and the live figures show it.
			redistest.Eventually(t, 5*time.Second, func() bool {
				r := h.Admin("GET", "/api/v2/admin/webhooks/1/success", nil)
				return len(r.JSON(t)["success_log"].([]any)) == 1
			}, "success log")
			one := h.Must(200, "GET", "/api/v2/admin/webhooks/1", nil)["webhook"].(map[string]any)
			lr, _ := one["latest_run"].(map[string]any)
			if lr == nil || lr["outcome"] != "succeeded" || lr["status_code"] != float64(200) {
				t.Errorf("latest_run = %v", one["latest_run"])
			}
			if one["queue_length"] != float64(0) || one["retry_queue_length"] != float64(0) {
				t.Errorf("queue lengths = %v, %v", one["queue_length"], one["retry_queue_length"])
			}
			if s := one["signing_secret"].(string); s != "whsec_****"+secret[len(secret)-4:] {
				t.Errorf("signing secret shown as %q after create", s)
			}

			// A second event of a type nobody here subscribes to reaches nobody;
			// a later subscribed one proves the first was routed and dropped.
			h.Send(map[string]any{"type": "ASSET_EDITED_TAGS", "asset": map[string]any{"uuid": "a-1"}})
			h.Send(map[string]any{"type": "ASSET_REMOVED", "asset": map[string]any{"uuid": "a-1"}})
			other.Wait(t, 1, 10*time.Second)
			if n := rc.Count(); n != 1 {
				t.Errorf("the ASSET_ADDED receiver got %d requests, want exactly 1", n)
			}
			if g := other.Requests()[0].Header.Get("X-Assethooks-Event"); g != "ASSET_REMOVED" {
				t.Errorf("the deletions receiver got %s", g)
			}
		})
	}
}

// Media Pocket's documented examples (SPEC §3.1), byte for byte on errors.
func TestMediaPocketExamples(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	h.Must(200, "POST", "/api/v2/admin/projects", map[string]any{"id": "GsrwPNm6nJ7CKRYnQZl6", "name": "Sample"})

	doc := `{"name": "Sample Webhook", "http_url": "https://example.website.com", "http_method": "POST",
	         "trigger_events": ["ASSET_ADDED"], "project_id": "GsrwPNm6nJ7CKRYnQZl6"}`
	for _, tc := range []struct {
		name    string
		body    string
		project any
	}{
		{"with project", doc, "GsrwPNm6nJ7CKRYnQZl6"},
		{"without project", `{"name": "Sample Webhook", "http_url": "https://example.website.com",
		   "http_method": "POST", "trigger_events": ["ASSET_ADDED"]}`, nil},
	} {
		r := h.Admin("POST", "/api/v2/admin/webhooks", tc.body)
		if r.Status != 200 {
			t.Fatalf("%s: status %d: %s", tc.name, r.Status, r.Body)
		}
		w := r.JSON(t)["webhook"].(map[string]any)
		created, _ := time.Parse("2006-01-02T15:04:05.000Z", w["created_at"].(string))
		if created.IsZero() || w["created_at"] != w["updated_at"] {
			t.Errorf("%s: created_at %v updated_at %v", tc.name, w["created_at"], w["updated_at"])
		}
		if _, ok := w["id"].(float64); !ok {
			t.Errorf("%s: id %v is not an integer", tc.name, w["id"])
		}
		for _, k := range []string{"id", "created_at", "updated_at", "signing_secret"} {
			delete(w, k)
		}
		want := map[string]any{"name": "Sample Webhook", "http_url": "https://example.website.com",
			"http_method": "POST", "trigger_events": []any{"ASSET_ADDED"}, "disabled": false,
			"project_id": tc.project, "queue_length": 0.0, "retry_queue_length": 0.0, "latest_run": nil,
			"webhook_users": []any{}, "webhook_headers": []any{}}
		for k, v := range want {
			if diff := cmp.Diff(v, w[k]); diff != "" {
				t.Errorf("%s: field %s (-want +got):\n%s", tc.name, k, diff)
			}
		}
	}

	for _, tc := range []struct {
		name, key, body, want string
		status                int
	}{
		{"not admin user", apitest.UserKey, doc, `{"error":"Not admin user"}`, 401},
		{"no key", "", doc, `{"error":"Unauthorized"}`, 401},
		{"unknown key", "nope", doc, `{"error":"Unauthorized"}`, 401},
		{"missing parameters", apitest.AdminKey, `{"name": "Sample Webhook", "http_url": null, "http_method": "POST",
		  "trigger_events": ["ASSET_ADDED"]}`, `{"error":"Invalid parameter 'http_url' value nil: Must be a String"}`, 422},
		{"project not found", apitest.AdminKey, `{"name": "Sample Webhook", "http_url": "https://example.website.com",
		  "http_method": "POST", "trigger_events": ["ASSET_ADDED"], "project_id": "test_id"}`, `{"error":"project not found"}`, 404},
	} {
		r := h.Do("POST", "/api/v2/admin/webhooks", tc.key, tc.body)
		if r.Status != tc.status || string(r.Body) != tc.want {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.want)
		}
	}
}

// keysOf lists the keys under the harness prefix, without the short-lived lock.
func keysOf(t *testing.T, h *apitest.Harness) map[string]string {
	t.Helper()
	ctx := context.Background()
	rdb := h.Redis
	out := map[string]string{}
	ks, err := rdb.Keys(ctx, h.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ks)
	for _, k := range ks {
		if strings.Contains(k, ":lock:") {
			continue
		}
		typ := rdb.Type(ctx, k).Val()
		var v any
		switch typ {
		case "string":
			v = rdb.Get(ctx, k).Val()
		case "hash":
			v = rdb.HGetAll(ctx, k).Val()
		case "stream":
			v = rdb.XLen(ctx, k).Val()
		case "zset":
			v = rdb.ZCard(ctx, k).Val()
		case "list":
			v = rdb.LLen(ctx, k).Val()
		}
		b, _ := json.Marshal(v)
		out[k] = typ + ":" + string(b)
	}
	return out
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := apitest.New(t, apitest.Options{Backend: b, MaxBody: 64 << 10})
			h.CreateWebhook(map[string]any{"name": "w", "http_url": "https://example.com/h", "trigger_events": []string{"*"}})
			before := keysOf(t, h)
			asset := `"asset": {"uuid": "a-1"}`
			big := `{"type": "ASSET_ADDED", "asset": {"uuid": "a", "blob": "` + strings.Repeat("x", 70<<10) + `"}}`
			for _, tc := range []struct {
				name, method, path, body string
				status                   int
				want                     string // a substring of the error
			}{
				{"truncated JSON", "POST", "/api/v2/events", `{"type": "ASSET_ADDED", ` + asset, 400, "malformed JSON"},
				{"trailing garbage", "POST", "/api/v2/events", `{"type": "ASSET_ADDED", ` + asset + `} x`, 400, "malformed JSON"},
				{"not an object", "POST", "/api/v2/events", `[1, 2]`, 400, "expected an object"},
				{"empty body", "POST", "/api/v2/events", ``, 400, "malformed JSON"},
				{"no type", "POST", "/api/v2/events", `{` + asset + `}`, 422, "Invalid parameter 'type' value nil: Must be a String"},
				{"type not a string", "POST", "/api/v2/events", `{"type": 5, ` + asset + `}`, 422, "Invalid parameter 'type' value 5: Must be a String"},
				{"unknown type", "POST", "/api/v2/events", `{"type": "ASSET_EXPLODED", ` + asset + `}`, 422, `Invalid parameter 'type' value \"ASSET_EXPLODED\": Unknown event type`},
				{"engine type", "POST", "/api/v2/events", `{"type": "WEBHOOK_DISABLED"}`, 422, "'type'"},
				{"asset missing", "POST", "/api/v2/events", `{"type": "ASSET_ADDED"}`, 422, "Invalid parameter 'asset' value nil: Must be an Object"},
				{"asset not object", "POST", "/api/v2/events", `{"type": "ASSET_ADDED", "asset": "a-1"}`, 422, "'asset'"},
				{"uuid not string", "POST", "/api/v2/events", `{"type": "ASSET_ADDED", "asset": {"uuid": 7}}`, 422, "Invalid parameter 'asset.uuid' value 7: Must be a String"},
				{"actor wrong", "POST", "/api/v2/events", `{"type": "ASSET_ADDED", ` + asset + `, "actor": {"username": 1}}`, 422, "'actor.username'"},
				{"bad time", "POST", "/api/v2/events", `{"type": "ASSET_ADDED", ` + asset + `, "occurred_at": "yesterday"}`, 422, "'occurred_at'"},
				{"empty batch", "POST", "/api/v2/events", `{"events": []}`, 422, "'events'"},
				{"batch bad index", "POST", "/api/v2/events", `{"events": [{"type": "ASSET_ADDED", ` + asset + `}, {"type": "NOPE", ` + asset + `}]}`, 422, "Invalid parameter 'events[1].type'"},
				{"too large", "POST", "/api/v2/events", big, 413, "too large"},
				{"webhook wrong type", "POST", "/api/v2/admin/webhooks", `{"name": "x", "http_url": 5, "trigger_events": ["ASSET_ADDED"]}`, 422, "Invalid parameter 'http_url' value 5: Must be a String"},
				{"webhook no name", "POST", "/api/v2/admin/webhooks", `{"http_url": "https://e.com", "trigger_events": ["ASSET_ADDED"]}`, 422, "Invalid parameter 'name' value nil: Must be a String"},
				{"webhook bad trigger", "POST", "/api/v2/admin/webhooks", `{"name": "x", "http_url": "https://e.com", "trigger_events": ["NOPE"]}`, 422, "'trigger_events[0]'"},
				{"webhook bad method", "POST", "/api/v2/admin/webhooks", `{"name": "x", "http_url": "https://e.com", "http_method": "", "trigger_events": ["ASSET_ADDED"]}`, 422, "'http_method'"},
				{"webhook bad url", "POST", "/api/v2/admin/webhooks", `{"name": "x", "http_url": "ftp://e.com", "trigger_events": ["ASSET_ADDED"]}`, 422, "'http_url'"},
				{"webhook bad condition", "POST", "/api/v2/admin/webhooks", `{"name": "x", "http_url": "https://e.com", "trigger_events": ["ASSET_ADDED"], "condition": "asset.size >"}`, 422, "'condition'"},
				{"webhook header reserved", "POST", "/api/v2/admin/webhooks", `{"name": "x", "http_url": "https://e.com", "trigger_events": ["ASSET_ADDED"], "webhook_headers": [{"name": "webhook-id", "value": "x"}]}`, 422, "webhook_headers"},
				{"webhook timeout", "POST", "/api/v2/admin/webhooks", `{"name": "x", "http_url": "https://e.com", "trigger_events": ["ASSET_ADDED"], "timeout_seconds": 31}`, 422, "'timeout_seconds'"},
				{"put bad condition", "PUT", "/api/v2/admin/webhooks/1", `{"name": "w", "http_url": "https://example.com/h", "trigger_events": ["*"], "condition": "nope("}`, 422, "'condition'"},
				{"patch wrong type", "PATCH", "/api/v2/admin/webhooks/1", `{"disabled": "yes"}`, 422, "'disabled'"},
				{"unknown webhook", "GET", "/api/v2/admin/webhooks/99", ``, 404, "webhook not found"},
				{"webhook id zero", "GET", "/api/v2/admin/webhooks/0", ``, 404, "webhook not found"},
				{"webhook id negative", "GET", "/api/v2/admin/webhooks/-1", ``, 404, "webhook not found"},
				{"webhook id text", "DELETE", "/api/v2/admin/webhooks/abc", ``, 404, "webhook not found"},
				{"unknown status", "GET", "/api/v2/admin/webhooks/1/deliveries?status=lost", ``, 422, "'status'"},
				{"limit too big", "GET", "/api/v2/admin/webhooks/1/deliveries?limit=501", ``, 422, "'limit'"},
				{"limit zero", "GET", "/api/v2/admin/webhooks/1/deliveries?limit=0", ``, 422, "'limit'"},
				{"unknown path", "GET", "/api/v2/nothing", ``, 404, "not found"},
				{"trailing slash", "GET", "/api/v2/admin/webhooks/", ``, 404, "not found"},
				{"rule syntax", "POST", "/api/v2/admin/rules/validate", `{"condition": "asset.size >"}`, 422, `"line":1`},
				{"rule not string", "POST", "/api/v2/admin/rules/validate", `{"condition": 3}`, 422, "'condition'"},
			} {
				r := h.Admin(tc.method, tc.path, tc.body)
				if r.Status != tc.status || !strings.Contains(string(r.Body), tc.want) {
					t.Errorf("%s: got %d %s, want %d containing %q", tc.name, r.Status, r.Body, tc.status, tc.want)
				}
				var m map[string]any
				if json.Unmarshal(r.Body, &m) != nil || m["error"] == nil {
					t.Errorf("%s: body is not {\"error\": …}: %s", tc.name, r.Body)
				}
			}
			if diff := cmp.Diff(before, keysOf(t, h)); diff != "" {
				t.Errorf("bad input changed Redis (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRuleValidateAndTest(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	for _, tc := range []struct {
		name, cond   string
		status       int
		line, column float64
	}{
		{"valid", `changedTo("meta.custom.status", "approved")`, 200, 0, 0},
		{"syntax", "asset.size >", 422, 1, 0},
		{"unknown name", "nosuchhelper(1)", 422, 1, 1},
		{"not boolean", `len(asset.tags) + 1`, 422, 1, 0},
		{"second line", "isImage() &&\n  hasTag(", 422, 2, 0},
		{"over size", strings.Repeat("true && ", 600) + "true", 422, 1, 1},
	} {
		r := h.Admin("POST", "/api/v2/admin/rules/validate", map[string]any{"condition": tc.cond})
		m := r.JSON(t)
		if r.Status != tc.status {
			t.Errorf("%s: status %d: %s", tc.name, r.Status, r.Body)
			continue
		}
		if tc.status == 200 {
			// No event is stored yet: the path it reads is unknown (SPEC §3.4).
			want := map[string]any{"valid": true, "warnings": []any{"asset.meta.custom.status: no stored event has this field"}}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("%s: %s", tc.name, diff)
			}
			continue
		}
		if m["error"] == nil || m["line"] != tc.line || (tc.column != 0 && m["column"] != tc.column) {
			t.Errorf("%s: got %v, want line %v column %v", tc.name, m, tc.line, tc.column)
		}
	}

	// The test route derives changes from the snapshot of an earlier event.
	rc := apitest.NewReceiver(t)
	h.CreateWebhook(map[string]any{"name": "w", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a-9", "meta": map[string]any{"custom": map[string]any{"status": "draft"}}}})
	rc.Wait(t, 1, 10*time.Second)
	m := h.Must(200, "POST", "/api/v2/admin/rules/test", map[string]any{
		"condition": `changedTo("meta.custom.status", "approved")`,
		"event": map[string]any{"type": "ASSET_EDITED_METADATA",
			"asset": map[string]any{"uuid": "a-9", "meta": map[string]any{"custom": map[string]any{"status": "approved"}}}}})
	want := map[string]any{"matches": true, "changes": []any{map[string]any{"field": "meta.custom.status", "old": "draft", "new": "approved"}}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("rules/test (-want +got):\n%s", diff)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := h.Do("GET", p, "", nil); r.Status != http.StatusOK {
			t.Errorf("%s: %d", p, r.Status)
		}
	}
	r := h.Do("GET", "/metrics", "", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "assethooks_events_ingested_total") {
		t.Errorf("/metrics: %d %.200s", r.Status, r.Body)
	}
}

// PATCH merges into the stored webhook; the masked secrets it carries back
// keep the stored ones.
func TestPatchKeepsSecrets(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	created := h.Must(200, "POST", "/api/v2/admin/webhooks", map[string]any{"name": "p", "http_url": rc.URL,
		"trigger_events": []string{"ASSET_ADDED"}, "condition": `hasTag("x")`,
		"auth": map[string]any{"type": "bearer", "token": "tok-1"}})["webhook"].(map[string]any)
	secret := created["signing_secret"].(string)
	m := h.Must(200, "PATCH", "/api/v2/admin/webhooks/1", map[string]any{"condition": "", "name": "patched"})["webhook"].(map[string]any)
	if m["name"] != "patched" || m["condition"] != "" || m["http_url"] != rc.URL {
		t.Fatalf("patched webhook: %v", m)
	}
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "p-1"}})
	got := rc.Wait(t, 1, 10*time.Second)[0]
	v, _ := standardwebhooks.NewWebhook(secret)
	if err := v.Verify(got.Body, got.Header); err != nil || got.Header.Get("Authorization") != "Bearer tok-1" {
		t.Errorf("after PATCH: signature %v, Authorization %q", err, got.Header.Get("Authorization"))
	}
	r := h.Admin("PATCH", "/api/v2/admin/webhooks/1", map[string]any{"signing_secret": "whsec_****zzzz"})
	if r.Status != 422 || !strings.Contains(string(r.Body), "signing_secret") {
		t.Errorf("a mask of another secret: %d %s", r.Status, r.Body)
	}
}
