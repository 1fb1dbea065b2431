package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/apitest"
)

func TestFormatDelay(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5s", 10 * time.Second: "10s", 5 * time.Minute: "5m", 30 * time.Minute: "30m",
		2 * time.Hour: "2h", 24 * time.Hour: "24h", 90 * time.Second: "1m30s", 90 * time.Minute: "1h30m",
		time.Hour + 30*time.Second: "1h0m30s", 1500 * time.Millisecond: "1.5s", 500 * time.Millisecond: "500ms",
	} {
		got := api.FormatDelay(d)
		back, err := time.ParseDuration(got)
		if got != want || err != nil || back != d {
			t.Errorf("FormatDelay(%v) = %q (reads back as %v, %v), want %q", d, got, back, err, want)
		}
	}
}

// A webhook without a retry_schedule of its own shows the engine's default
// schedule, the one in force, and a PATCH does not pin it.
func TestViewShowsRetryScheduleInForce(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	want := []any{"5s", "5m", "30m", "2h", "5h", "10h", "14h", "20h", "24h"}
	if len(want) != len(engine.DefaultRetrySchedule) {
		t.Fatalf("the default schedule has %d entries", len(engine.DefaultRetrySchedule))
	}
	for i, d := range engine.DefaultRetrySchedule {
		if back, _ := time.ParseDuration(want[i].(string)); back != d {
			t.Fatalf("want[%d] = %v, the engine's default is %v", i, want[i], d)
		}
	}
	created := h.Must(200, "POST", "/api/v2/admin/webhooks", map[string]any{"name": "d", "http_url": "https://example.com/h",
		"trigger_events": []string{"ASSET_ADDED"}})["webhook"].(map[string]any)
	if diff := cmp.Diff(want, created["retry_schedule"]); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}
	for _, r := range []map[string]any{
		h.Must(200, "GET", "/api/v2/admin/webhooks/1", nil)["webhook"].(map[string]any),
		h.Must(200, "GET", "/api/v2/admin/webhooks", nil)["webhooks"].([]any)[0].(map[string]any),
		h.Must(200, "PATCH", "/api/v2/admin/webhooks/1", map[string]any{"name": "patched"})["webhook"].(map[string]any),
	} {
		if diff := cmp.Diff(want, r["retry_schedule"]); diff != "" {
			t.Errorf("view (-want +got):\n%s", diff)
		}
	}
	w, err := h.Engine.Webhooks().Get(context.Background(), 1)
	if err != nil || len(w.RetrySchedule) != 0 {
		t.Errorf("after PATCH the webhook stores %v (%v); it must keep following the default", w.RetrySchedule, err)
	}

	own := h.Must(200, "POST", "/api/v2/admin/webhooks", map[string]any{"name": "o", "http_url": "https://example.com/h",
		"trigger_events": []string{"ASSET_ADDED"}, "retry_schedule": []string{"10s", "1m"}})["webhook"].(map[string]any)
	if diff := cmp.Diff([]any{"10s", "1m"}, own["retry_schedule"]); diff != "" {
		t.Errorf("own schedule (-want +got):\n%s", diff)
	}
}
