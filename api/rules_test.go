package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/rules"
)

// eventBody renders an event as an ingest request in project p.
func eventBody(t *testing.T, ev *event.Event, p string) map[string]any {
	t.Helper()
	cp := *ev
	cp.ID, cp.ProjectID = "", p
	if ev.Asset != nil { // each recipe's assets are its own
		cp.Asset = map[string]any{}
		for k, v := range ev.Asset {
			cp.Asset[k] = v
		}
		cp.Asset["uuid"] = fmt.Sprintf("%s/%v", strings.TrimPrefix(p, "seed:"), ev.Asset["uuid"])
	}
	b, err := json.Marshal(&cp)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Every cookbook rule runs through the API against real events and a real
// receiver: its webhook gets the matching event and not the missing one. Each
// recipe has a project of its own with a control webhook (no condition) that
// proves both events were routed; recipes with an old snapshot get it from a
// preceding event of the same asset, so their changes are derived by the
// engine, not sent.
func TestCookbookThroughTheAPI(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Backend: redistest.Real})
	type run struct {
		r            rules.Recipe
		hit, control *apitest.Receiver
		project      string
		webhook      int64
	}
	var runs []*run
	for i, r := range rules.Cookbook {
		if event.IsEngineType(r.Matches.Type) || r.Scheduled() {
			continue // only the engine emits these; covered by the engine's (and the schedules') tests
		}
		p := fmt.Sprintf("cookbook-%d", i)
		h.Must(200, "POST", "/api/v2/admin/projects", map[string]any{"id": p, "name": r.Name})
		x := &run{r: r, hit: apitest.NewReceiver(t), control: apitest.NewReceiver(t), project: p}
		x.webhook = h.CreateWebhook(map[string]any{"name": r.Name, "http_url": x.hit.URL, "trigger_events": []string{"*"},
			"project_id": p, "condition": r.Condition})
		h.CreateWebhook(map[string]any{"name": "control " + p, "http_url": x.control.URL,
			"trigger_events": []string{"*"}, "project_id": p})
		runs = append(runs, x)
	}
	seed := func(x *run, ev *event.Event) {
		if x.r.Old == nil || ev.AssetID() == "" {
			return
		}
		asset := map[string]any{}
		for k, v := range x.r.Old {
			asset[k] = v
		}
		asset["uuid"] = ev.AssetID()
		old := &event.Event{Type: "ASSET_UPDATED", Asset: asset, OccurredAt: ev.OccurredAt}
		h.Send(eventBody(t, old, "seed:"+x.project))
	}
	for _, x := range runs {
		seed(x, x.r.Matches)
		h.Send(eventBody(t, x.r.Matches, x.project))
		seed(x, x.r.Misses)
		h.Send(eventBody(t, x.r.Misses, x.project))
	}
	for _, x := range runs {
		x.control.Wait(t, 2, 15*time.Second)
		// Both events are routed (the control got them), so the rule's
		// deliveries are all recorded: exactly one, for the matching event.
		ds := h.Must(200, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries", x.webhook), nil)["deliveries"].([]any)
		if len(ds) != 1 {
			t.Errorf("%s: the rule's webhook has %d deliveries, want exactly the matching event", x.r.Name, len(ds))
			continue
		}
		got := x.hit.Wait(t, 1, 10*time.Second)
		var body struct {
			Type string `json:"type"`
			Data struct {
				Asset map[string]any `json:"asset"`
			} `json:"data"`
		}
		if err := json.Unmarshal(got[0].Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Type != x.r.Matches.Type || body.Data.Asset["uuid"] != fmt.Sprintf("%s/%v", x.project, x.r.Matches.Asset["uuid"]) {
			t.Errorf("%s: delivered %s for %v, want the matching %s", x.r.Name, body.Type, body.Data.Asset["uuid"], x.r.Matches.Type)
		}
	}
}
