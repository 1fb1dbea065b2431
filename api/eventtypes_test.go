package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/internal/apitest"
)

// Every sample of GET /api/v2/event-types is the json body a webhook
// subscribed to that type receives (checked on a real delivery for one type
// of each subject), and the list is the whole catalogue.
func TestEventTypes(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	r := h.Do("GET", "/api/v2/event-types", apitest.UserKey, nil)
	var got struct {
		EventTypes []struct {
			Name, Group, Description, Subject string
			Sample                            json.RawMessage
		} `json:"event_types"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &got) != nil {
		t.Fatalf("GET /api/v2/event-types: %d %.300s", r.Status, r.Body)
	}
	if len(got.EventTypes) != len(api.EventTypes()) || len(got.EventTypes) < 130 {
		t.Fatalf("%d types", len(got.EventTypes))
	}
	subjects := map[string]int{}
	for i, et := range got.EventTypes {
		want := api.EventTypes()[i]
		var p struct {
			ID, Type  string
			Timestamp string
			Data      map[string]any
		}
		if err := json.Unmarshal(et.Sample, &p); err != nil || p.Type != et.Name || et.Name != want.Name {
			t.Errorf("%d: %s: sample %s (%v)", i, et.Name, et.Sample, err)
			continue
		}
		subjects[et.Subject]++
		key := map[string]string{"asset": "asset", "object": "object", "engine": "webhook"}[et.Subject]
		if p.Data[key] == nil {
			t.Errorf("%s (%s): the sample's data has no %s: %s", et.Name, et.Subject, key, et.Sample)
		}
	}
	if subjects["asset"] == 0 || subjects["object"] == 0 || subjects["engine"] != 3 {
		t.Errorf("subjects: %v", subjects)
	}
}

// A sample is what the delivery code sends for that event: the bytes of
// actions.DefaultJSON, as a subscribed webhook receives them.
func TestEventTypeSampleIsTheDeliveredShape(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	h.CreateWebhook(map[string]any{"name": "all", "http_url": rc.URL, "trigger_events": []string{"ASSET_MOVED"}})
	ev := api.SampleEvent("ASSET_MOVED")
	body := map[string]any{"id": ev.ID, "type": ev.Type, "occurred_at": ev.OccurredAt.Format(time.RFC3339), "project_id": ev.ProjectID,
		"actor": ev.Actor, "asset": ev.Asset, "changes": ev.Changes, "destination": ev.Destination, "target": ev.Target}
	h.Send(body)
	got := rc.Wait(t, 1, 10*time.Second)[0].Body
	var sample json.RawMessage
	for _, et := range api.EventTypes() {
		if et.Name == "ASSET_MOVED" {
			sample = et.Sample
		}
	}
	if string(got) != string(sample) {
		t.Errorf("delivered:\n%s\nsample:\n%s", got, sample)
	}
}

// Every refusal of an unknown event type names it and points to the
// catalogue's route.
func TestUnknownEventTypePointsToTheCatalogue(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	const see = ": Unknown event type, see GET /api/v2/event-types"
	for _, tc := range []struct{ name, method, path, body, want string }{
		{"ingest", "POST", "/api/v2/events", `{"type": "ASSET_EXPLODED", "asset": {"uuid": "a"}}`, `Invalid parameter 'type' value "ASSET_EXPLODED"` + see},
		{"batch", "POST", "/api/v2/events", `{"events": [{"type": "NOPE"}]}`, `Invalid parameter 'events[0].type' value "NOPE"` + see},
		{"trigger_events", "POST", "/api/v2/admin/webhooks", `{"name": "x", "http_url": "https://e.com", "trigger_events": ["ASSET_ADDED", "ASSET_EXPLODED"]}`,
			`Invalid parameter 'trigger_events[1]' value "ASSET_EXPLODED"` + see},
		{"hook event", "POST", "/api/v2/hooks", `{"target_url": "https://e.com", "event": "NOPE"}`, `Invalid parameter 'event' value "NOPE"` + see},
		{"hook sample", "GET", "/api/v2/hooks/sample?event=NOPE", ``, `Invalid parameter 'event' value "NOPE"` + see},
	} {
		r := h.Admin(tc.method, tc.path, tc.body)
		var got struct{ Error string }
		if err := json.Unmarshal(r.Body, &got); err != nil || r.Status != 422 || got.Error != tc.want {
			t.Errorf("%s: %d %s, want 422 %q", tc.name, r.Status, r.Body, tc.want)
		}
	}
}
