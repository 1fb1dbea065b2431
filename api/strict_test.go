package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// TestUnknownParameters: a parameter an admin object neither accepts nor
// shows is refused, naming it, on create, PUT and PATCH, nested objects
// included; what the object's view shows is accepted and ignored, so a
// client may send back what it read.
func TestUnknownParameters(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Extra: withMarkers})
	rc := apitest.NewReceiver(t)
	good := func(extra map[string]any) map[string]any {
		m := map[string]any{"name": "w", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	id := h.CreateWebhook(good(nil))
	path := fmt.Sprintf("/api/v2/admin/webhooks/%d", id)
	for _, tc := range []struct {
		name, method, path string
		key                string
		body               any
		param              string
	}{
		{"webhook create", "POST", "/api/v2/admin/webhooks", apitest.AdminKey, good(map[string]any{"conditon": "true"}), "conditon"},
		{"webhook put", "PUT", path, apitest.AdminKey, good(map[string]any{"trigger_event": "ASSET_ADDED"}), "trigger_event"},
		{"webhook patch", "PATCH", path, apitest.AdminKey, map[string]any{"folders": "/x"}, "folders"},
		{"webhook body", "POST", "/api/v2/admin/webhooks", apitest.AdminKey, good(map[string]any{"body": map[string]any{"fromat": "form"}}), "body.fromat"},
		{"webhook auth", "PATCH", path, apitest.AdminKey, map[string]any{"auth": map[string]any{"type": "bearer", "tokn": "x"}}, "auth.tokn"},
		{"webhook header", "POST", "/api/v2/admin/webhooks", apitest.AdminKey,
			good(map[string]any{"webhook_headers": []any{map[string]any{"name": "X-A", "value": "1", "secrt": true}}}), "webhook_headers[0].secrt"},
		{"marker create", "POST", "/api/v2/admin/markers", apitest.AdminKey, map[string]any{"name": "m", "label": "M", "webhook_id": 1}, "webhook_id"},
		{"project", "POST", "/api/v2/admin/projects", apitest.AdminKey, map[string]any{"name": "P", "colour": "red"}, "colour"},
		{"rest hook", "POST", "/api/v2/hooks", apitest.UserKey, map[string]any{"target_url": rc.URL, "event": "ASSET_ADDED", "conditon": "true"}, "conditon"},
	} {
		r := h.Do(tc.method, tc.path, tc.key, tc.body)
		want := "Invalid parameter '" + tc.param + "': Unknown parameter"
		if r.Status != http.StatusUnprocessableEntity || r.JSON(t)["error"] != want {
			t.Errorf("%s: %d %s, want 422 %q", tc.name, r.Status, r.Body, want)
		}
	}
	if ws := h.Must(200, "GET", "/api/v2/admin/webhooks", nil)["webhooks"].([]any); len(ws) != 1 {
		t.Errorf("a refused request saved a webhook: %d webhooks", len(ws))
	}

	// What a webhook's view shows is sent back as it was read.
	view := h.Must(200, "GET", path, nil)["webhook"].(map[string]any)
	view["name"] = "renamed"
	view["id"], view["queue_length"], view["rule_errors"] = 999, 7, map[string]any{"count": 3, "last": nil}
	got := h.Must(200, "PUT", path, view)["webhook"].(map[string]any)
	if got["id"] != float64(id) || got["name"] != "renamed" || got["queue_length"] != 0.0 {
		t.Errorf("PUT of the view: %v", got)
	}
	h.Must(200, "PATCH", path, map[string]any{"latest_run": nil, "created_at": "2020-01-01T00:00:00Z", "disabled": true})
	m := h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "m", "label": "M"})["marker"].(map[string]any)
	m["label"] = "Again"
	h.Must(200, "PUT", "/api/v2/admin/markers/m", m)
	r := h.Do("PUT", "/api/v2/admin/markers/m", apitest.AdminKey, map[string]any{"label": "x", "lable": "y"})
	if r.Status != 422 || r.JSON(t)["error"] != "Invalid parameter 'lable': Unknown parameter" {
		t.Errorf("marker PUT with a typo: %d %s", r.Status, r.Body)
	}
	p := h.Must(200, "POST", "/api/v2/admin/projects", map[string]any{"name": "P", "id": "p1", "created_at": "x"})
	if p["project"].(map[string]any)["id"] != "p1" {
		t.Errorf("project: %v", p)
	}
	r = h.Do("POST", "/api/v2/hooks", apitest.UserKey, map[string]any{"target_url": rc.URL, "event": "ASSET_ADDED", "id": 5, "created_at": "x"})
	if r.Status != http.StatusCreated {
		t.Errorf("hook with its view's fields: %d %s", r.Status, r.Body)
	}
}

// TestConditionNotBoolean: a condition seen not to yield a boolean is
// refused with its line and column, on validate and wherever a condition is
// saved (webhooks, PATCH included, REST hooks, markers); nothing is saved.
func TestConditionNotBoolean(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Extra: withMarkers})
	rc := apitest.NewReceiver(t)
	id := h.CreateWebhook(map[string]any{"name": "w", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	for _, tc := range []struct {
		name, method, path, key string
		body                    map[string]any
		line, column            float64
	}{
		{"validate asset.name", "POST", "/api/v2/admin/rules/validate", apitest.AdminKey, map[string]any{"condition": "asset.name"}, 1, 1},
		{"validate a sum", "POST", "/api/v2/admin/rules/validate", apitest.AdminKey, map[string]any{"condition": "isImage() &&\n  asset.size + 1"}, 2, 3},
		{"validate a string", "POST", "/api/v2/admin/rules/validate", apitest.AdminKey, map[string]any{"condition": `"yes"`}, 1, 1},
		{"webhook", "POST", "/api/v2/admin/webhooks", apitest.AdminKey, map[string]any{"name": "x", "http_url": rc.URL,
			"trigger_events": []string{"*"}, "condition": "asset.size + 1"}, 1, 1},
		{"webhook patch", "PATCH", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), apitest.AdminKey, map[string]any{"condition": "asset.path"}, 1, 1},
		{"rest hook", "POST", "/api/v2/hooks", apitest.UserKey, map[string]any{"target_url": rc.URL, "event": "ASSET_ADDED",
			"condition": "  event.type"}, 1, 3},
		{"marker", "POST", "/api/v2/admin/markers", apitest.AdminKey, map[string]any{"name": "m", "label": "M", "condition": "asset.tags"}, 1, 1},
	} {
		r := h.Do(tc.method, tc.path, tc.key, tc.body)
		m := r.JSON(t)
		if r.Status != http.StatusUnprocessableEntity || m["line"] != tc.line || m["column"] != tc.column {
			t.Errorf("%s: %d %s, want 422 at %v:%v", tc.name, r.Status, r.Body, tc.line, tc.column)
		}
	}
	if w := h.Must(200, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d", id), nil)["webhook"].(map[string]any); w["condition"] != "" {
		t.Errorf("a refused PATCH changed the condition: %q", w["condition"])
	}
	if ws := h.Must(200, "GET", "/api/v2/admin/webhooks", nil)["webhooks"].([]any); len(ws) != 1 {
		t.Errorf("%d webhooks, want 1", len(ws))
	}
	if ms := h.Must(200, "GET", "/api/v2/admin/markers", nil)["markers"].([]any); len(ms) != 0 {
		t.Errorf("%d markers, want 0", len(ms))
	}
}

// TestValidateWarnings: validate names each asset path the condition reads
// that no recent stored event carried, and only those.
func TestValidateWarnings(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := apitest.New(t, apitest.Options{Backend: b})
			h.Send(map[string]any{"id": "v1", "type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a",
				"meta": map[string]any{"custom": map[string]any{"status": "draft"}}, "tags": []any{"x"}}},
				map[string]any{"id": "v2", "type": "PROJECT_ADDED", "object": map[string]any{"id": "p"}},
				map[string]any{"id": "v3", "type": "ASSET_EDITED_INFO", "asset": map[string]any{"uuid": "b", "info": map[string]any{"title": "T"}}})
			redistest.Eventually(t, 10*time.Second, func() bool {
				return h.Admin("GET", "/api/v2/admin/events/v3", nil).Status == 200
			}, "events stored")
			m := h.Must(200, "POST", "/api/v2/admin/rules/validate", map[string]any{"condition": `asset.meta.status == "approved" ||
				changedTo("meta.custom.status", "approved") || get("info.title") != nil || asset.tags[0] == "x" ||
				(asset.video?.duration ?? 0) > 60 || changed("meta.custom.*")`})
			want := map[string]any{"valid": true, "warnings": []any{
				"asset.meta.status: no stored event has this field",
				"asset.video.duration: no stored event has this field",
			}}
			if d := cmp.Diff(want, m); d != "" {
				t.Errorf("validate (-want +got):\n%s", d)
			}
			m = h.Must(200, "POST", "/api/v2/admin/rules/validate", map[string]any{"condition": `isImage() && hasTag("x")`})
			if d := cmp.Diff(map[string]any{"valid": true, "warnings": []any{}}, m); d != "" {
				t.Errorf("validate without paths (-want +got):\n%s", d)
			}
		})
	}
}
