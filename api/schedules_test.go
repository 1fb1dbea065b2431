package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// TestSchedulesEndToEnd: a schedule created through the API, run now,
// answers 202 with its run and sends each matching asset an ASSET_SCHEDULED
// event in the default json body, data.schedule included; its view then
// shows the last run and the next tick.
func TestSchedulesEndToEnd(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h, rc := setup(t, b)
			h.CreateWebhook(map[string]any{"name": "reviewers", "http_url": rc.URL, "trigger_events": []string{"ASSET_SCHEDULED"}})
			// Raw JSON: the snapshot keeps numbers as written (1.50 stays 1.50).
			h.Must(http.StatusAccepted, "POST", "/api/v2/events", `{"events": [
				{"type": "ASSET_ADDED", "asset": {"uuid": "a-1", "name": "a.jpg", "size": 1.50, "meta": {"custom": {"status": "review"}}}},
				{"type": "ASSET_ADDED", "asset": {"uuid": "a-2", "meta": {"custom": {"status": "approved"}}}}]}`)
			redistest.Eventually(t, 10*time.Second, func() bool {
				a, err := h.Engine.Assets().Get(t.Context(), "a-2")
				return err == nil && a != nil
			}, "snapshots stored")
			created := h.Must(200, "POST", "/api/v2/admin/schedules", map[string]any{"name": "review nudge",
				"cron": "0 7 * * 1-5", "timezone": "Europe/Paris", "condition": `asset.meta.custom.status == "review"`})
			sc := created["schedule"].(map[string]any)
			id := int64(sc["id"].(float64))
			if sc["last_run"] != nil || sc["action"].(map[string]any)["type"] != "events" || sc["once"] != false || sc["disabled"] != false {
				t.Errorf("created: %v", sc)
			}
			next, err := time.Parse(time.RFC3339, sc["next_run_at"].(string))
			paris, _ := time.LoadLocation("Europe/Paris")
			if lp := next.In(paris); err != nil || lp.Hour() != 7 || lp.Minute() != 0 || lp.Weekday() == time.Saturday || lp.Weekday() == time.Sunday || !next.After(time.Now()) {
				t.Errorf("next_run_at %v (%v), want the next weekday 07:00 in Paris", sc["next_run_at"], err)
			}

			r := h.Admin("POST", fmt.Sprintf("/api/v2/admin/schedules/%d/run", id), nil)
			if r.Status != http.StatusAccepted {
				t.Fatalf("run: %d %s", r.Status, r.Body)
			}
			run := r.JSON(t)["run"].(map[string]any)
			if run["matched"] != 1.0 || run["at"] == nil {
				t.Errorf("run answered %v", run)
			}
			got := rc.Wait(t, 1, 10*time.Second)[0]
			var body map[string]any
			if err := json.Unmarshal(got.Body, &body); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(`{"id":%q,"type":"ASSET_SCHEDULED","timestamp":%q,"data":{`+
				`"actor":{"interface":"robot","username":"schedule:review nudge"},`+
				`"asset":{"meta":{"custom":{"status":"review"}},"name":"a.jpg","size":1.50,"uuid":"a-1"},`+
				`"changes":[],"destination":null,"marker":null,"project_id":null,"schedule":{"id":%d,"name":"review nudge"}}}`,
				body["id"], body["timestamp"], id)
			if d := cmp.Diff(want, string(got.Body)); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}
			if got.Header.Get("X-Assethooks-Event") != "ASSET_SCHEDULED" {
				t.Errorf("X-Assethooks-Event %q", got.Header.Get("X-Assethooks-Event"))
			}

			view := h.Must(200, "GET", fmt.Sprintf("/api/v2/admin/schedules/%d", id), nil)["schedule"].(map[string]any)
			last, _ := view["last_run"].(map[string]any)
			if last == nil || last["matched"] != 1.0 || last["at"] != run["at"] || last["duration_ms"] == nil {
				t.Errorf("last_run %v, want the run %v", view["last_run"], run)
			}
			list := h.Must(200, "GET", "/api/v2/admin/schedules", nil)["schedules"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["id"] != float64(id) {
				t.Errorf("list: %v", list)
			}
		})
	}
}

// TestSchedulesCRUD: PUT replaces, PATCH merges, read-only view fields sent
// back are ignored, disabled shows no next run, DELETE answers 204 and then
// 404, and ids that are not positive integers are unknown.
func TestSchedulesCRUD(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	hook := h.CreateWebhook(map[string]any{"name": "digest", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	sc := h.Must(200, "POST", "/api/v2/admin/schedules", map[string]any{"name": "n", "cron": "@daily",
		"condition": "true", "once": true})["schedule"].(map[string]any)
	path := fmt.Sprintf("/api/v2/admin/schedules/%v", sc["id"])
	if sc["timezone"] != "UTC" {
		t.Errorf("default timezone %v", sc["timezone"])
	}

	// The view sent back, with changes: read-only fields ignored.
	sc["name"], sc["id"], sc["created_at"], sc["next_run_at"] = "renamed", 999, "2000-01-01T00:00:00.000Z", "x"
	sc["last_run"] = map[string]any{"at": "x", "matched": 5}
	sc["action"] = map[string]any{"type": "digest", "webhook_ids": []int64{hook, hook}}
	put := h.Must(200, "PUT", path, sc)["schedule"].(map[string]any)
	if put["name"] != "renamed" || put["id"] == 999.0 || put["created_at"] == "2000-01-01T00:00:00.000Z" || put["last_run"] != nil ||
		put["once"] != true || !cmp.Equal(put["action"], map[string]any{"type": "digest", "webhook_ids": []any{float64(hook)}}) {
		t.Errorf("PUT answered %v", put)
	}

	patched := h.Must(200, "PATCH", path, map[string]any{"disabled": true, "action": map[string]any{"type": "events", "webhook_ids": nil}})["schedule"].(map[string]any)
	if patched["disabled"] != true || patched["name"] != "renamed" || patched["next_run_at"] != nil ||
		!cmp.Equal(patched["action"], map[string]any{"type": "events"}) {
		t.Errorf("PATCH answered %v", patched)
	}
	if r := h.Admin("PATCH", path, map[string]any{"action": map[string]any{"type": "events"}, "disabled": false}); r.Status != 200 {
		t.Errorf("PATCH to events again: %d %s", r.Status, r.Body)
	}
	if r := h.Admin("PUT", "/api/v2/admin/schedules/77", sc); r.Status != 404 {
		t.Errorf("PUT of an unknown schedule: %d", r.Status)
	}
	if r := h.Admin("DELETE", path, nil); r.Status != http.StatusNoContent {
		t.Errorf("DELETE: %d %s", r.Status, r.Body)
	}
	for _, m := range []string{"GET", "DELETE", "PUT", "PATCH"} {
		if r := h.Admin(m, path, map[string]any{}); r.Status != 404 {
			t.Errorf("%s after DELETE: %d", m, r.Status)
		}
	}
	for _, id := range []string{"-1", "0", "abc", "1.5"} {
		for _, m := range []string{"GET", "DELETE", "POST /run"} {
			method, suffix, _ := strings.Cut(m, " ")
			if r := h.Admin(method, "/api/v2/admin/schedules/"+id+suffix, nil); r.Status != 404 {
				t.Errorf("%s %s: %d, want 404", m, id, r.Status)
			}
		}
	}
	if r := h.Do("GET", "/api/v2/admin/schedules", apitest.UserKey, nil); r.Status != 401 {
		t.Errorf("a user key listed schedules: %d", r.Status)
	}
}

// TestSchedulesRefused: every bad schedule is a 422 naming its field, and
// nothing is saved.
func TestSchedulesRefused(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	hook := h.CreateWebhook(map[string]any{"name": "d", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	good := func(extra map[string]any) map[string]any {
		m := map[string]any{"name": "s", "cron": "@hourly", "condition": "true"}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
				continue
			}
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name  string
		body  map[string]any
		field string // named in the message
		msg   string // a part of the message
	}{
		{"unknown parameter", good(map[string]any{"conditon": "true"}), "conditon", "Invalid parameter 'conditon': Unknown parameter"},
		{"unknown action parameter", good(map[string]any{"action": map[string]any{"type": "digest", "webhook_id": 1}}), "action.webhook_id", "Unknown parameter"},
		{"missing name", good(map[string]any{"name": nil}), "name", "Must be a String"},
		{"empty name", good(map[string]any{"name": " "}), "name", "non-empty"},
		{"missing cron", good(map[string]any{"cron": nil}), "cron", "Must be a String"},
		{"bad cron", good(map[string]any{"cron": "every morning"}), "cron", "Not a cron expression"},
		{"six fields, bad seconds", good(map[string]any{"cron": "61 0 7 * * *"}), "cron", "Not a cron expression"},
		{"TZ= prefix", good(map[string]any{"cron": "TZ=Europe/Paris 0 7 * * *"}), "cron", "TZ="},
		{"CRON_TZ= prefix", good(map[string]any{"cron": "CRON_TZ=Europe/Paris 0 7 * * *"}), "cron", "TZ="},
		{"a bare TZ= (robfig#554)", good(map[string]any{"cron": "TZ="}), "cron", "TZ="},
		{"@every too short", good(map[string]any{"cron": "@every 100ms"}), "cron", "at least 1s"},
		{"never fires", good(map[string]any{"cron": "0 0 31 2 *"}), "cron", "Never fires"},
		{"unknown time zone", good(map[string]any{"timezone": "Europe/Atlantis"}), "timezone", "Unknown time zone"},
		{"Local time zone", good(map[string]any{"timezone": "Local"}), "timezone", "Unknown time zone"},
		{"time zone not a string", good(map[string]any{"timezone": 1}), "timezone", "Must be a String"},
		{"missing condition", good(map[string]any{"condition": nil}), "condition", "Must be a String"},
		{"empty condition", good(map[string]any{"condition": ""}), "condition", "non-empty"},
		{"condition does not compile", good(map[string]any{"condition": "asset.name =="}), "condition", "(line 1, column"},
		{"condition not boolean", good(map[string]any{"condition": "len(asset) + 1"}), "condition", "(line 1, column 1)"},
		{"condition a string", good(map[string]any{"condition": `"yes"`}), "condition", "(line 1, column 1)"},
		{"unknown helper", good(map[string]any{"condition": `sinse("x") > duration("1h")`}), "condition", "line 1"},
		{"since of no literal", good(map[string]any{"condition": `since(asset.name) > duration("1h")`}), "condition", "quoted string"},
		{"once not a boolean", good(map[string]any{"once": "yes"}), "once", "Must be a Boolean"},
		{"disabled not a boolean", good(map[string]any{"disabled": 1}), "disabled", "Must be a Boolean"},
		{"action not an object", good(map[string]any{"action": "events"}), "action", "Must be an Object"},
		{"unknown action type", good(map[string]any{"action": map[string]any{"type": "email"}}), "action.type", "Must be one of digest, events"},
		{"digest without webhooks", good(map[string]any{"action": map[string]any{"type": "digest"}}), "action.webhook_ids", "non-empty"},
		{"unknown webhook id", good(map[string]any{"action": map[string]any{"type": "digest", "webhook_ids": []any{hook, 99}}}),
			"action.webhook_ids[1]", "Unknown webhook"},
		{"webhook id not positive", good(map[string]any{"action": map[string]any{"type": "digest", "webhook_ids": []any{0}}}),
			"action.webhook_ids[0]", "positive Integer"},
		{"webhook ids for events", good(map[string]any{"action": map[string]any{"type": "events", "webhook_ids": []any{hook}}}),
			"action.webhook_ids", "Only with type digest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Admin("POST", "/api/v2/admin/schedules", tc.body)
			msg, _ := r.JSON(t)["error"].(string)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(msg, "'"+tc.field+"'") || !strings.Contains(msg, tc.msg) {
				t.Errorf("%d %q; want 422 naming '%s' with %q", r.Status, msg, tc.field, tc.msg)
			}
		})
	}
	if got := h.Must(200, "GET", "/api/v2/admin/schedules", nil)["schedules"].([]any); len(got) != 0 {
		t.Errorf("refused schedules were saved: %v", got)
	}
	// The same refusals on PUT and PATCH leave the stored schedule as it was.
	sc := h.Must(200, "POST", "/api/v2/admin/schedules", good(nil))["schedule"].(map[string]any)
	path := fmt.Sprintf("/api/v2/admin/schedules/%v", sc["id"])
	for _, bad := range []map[string]any{{"cron": "TZ=UTC * * * * *"}, {"timezone": "Nowhere"}, {"conditon": "x"}} {
		if r := h.Admin("PATCH", path, bad); r.Status != 422 {
			t.Errorf("PATCH %v: %d", bad, r.Status)
		}
		if r := h.Admin("PUT", path, good(bad)); r.Status != 422 {
			t.Errorf("PUT %v: %d", bad, r.Status)
		}
	}
	after := h.Must(200, "GET", path, nil)["schedule"].(map[string]any)
	if after["updated_at"] != sc["updated_at"] || after["cron"] != "@hourly" {
		t.Errorf("a refused update changed the schedule: %v", after)
	}
	if r := h.Admin("POST", "/api/v2/admin/schedules", `{"name": "x", "cron": `); r.Status != 400 {
		t.Errorf("malformed JSON: %d", r.Status)
	}
}
