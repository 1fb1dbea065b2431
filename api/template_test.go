package api_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// A template's result replaces data on the first try, on scheduled retries
// and on a resend by hand of a failed delivery.
func TestTemplateOnEveryTry(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	rc.Status = 500
	id := h.CreateWebhook(map[string]any{"name": "tpl", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"},
		"retry_schedule": []string{"50ms"},
		"body":           map[string]any{"template": `{"asset_id": asset.uuid, "who": event.actor.username, "tagged": hasTag("hero")}`}})
	h.Send(map[string]any{"type": "ASSET_ADDED", "actor": map[string]any{"username": "ana"},
		"asset": map[string]any{"uuid": "t-1", "tags": []any{"hero"}}})
	rc.Wait(t, 2, 10*time.Second) // the first try and its one retry
	var failed []any
	redistest.Eventually(t, 10*time.Second, func() bool {
		failed = h.Must(200, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/failed", id), nil)["failed_log"].([]any)
		return len(failed) == 1
	}, "the delivery failed for good")
	rc.Status = 200
	did := failed[0].(map[string]any)["id"].(string)
	h.Must(202, "POST", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries/%s/retry", id, did), nil)
	got := rc.Wait(t, 3, 10*time.Second)
	want := map[string]any{"asset_id": "t-1", "who": "ana", "tagged": true}
	for i, r := range got {
		var p struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, p.Data); diff != "" {
			t.Errorf("try %d: data (-want +got):\n%s", i+1, diff)
		}
		if r.Header.Get("webhook-id") != did {
			t.Errorf("try %d: webhook-id %s, want %s", i+1, r.Header.Get("webhook-id"), did)
		}
	}
}
