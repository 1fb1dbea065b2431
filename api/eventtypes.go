package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/event"
)

// EventType is one entry of GET /api/v2/event-types: the catalogue's entry
// with a sample of the json payload a webhook receives for it.
type EventType struct {
	event.Info
	// Sample is the default json body delivered for a synthetic event of the
	// type, encoded by the delivery code itself (actions.DefaultJSON).
	Sample json.RawMessage `json:"sample"`
}

// SampleTime is the occurred_at of every sample, fixed so that the samples
// (and the documentation generated from them) do not change between runs.
var SampleTime = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)

// EventTypes is the whole catalogue with a sample payload for each type, in
// the catalogue's order.
var EventTypes = sync.OnceValue(func() []EventType {
	cat := event.Catalogue()
	out := make([]EventType, len(cat))
	for i, info := range cat {
		b, err := actions.DefaultJSON(SampleEvent(info.Name))
		if err != nil {
			panic("api: sample payload of " + info.Name + ": " + err.Error()) // plain maps always encode
		}
		out[i] = EventType{Info: info, Sample: b}
	}
	return out
})

// SampleEvent is a synthetic event of type typ, holding what an event of the
// type carries: an asset (with changes, destination or marker where the type
// has them), the DAM's object, or for the engine's own types the webhook and
// the delivery.
func SampleEvent(typ string) *event.Event {
	ev := &event.Event{ID: "evt_01KF2SAMPLE0000000000000", Type: typ, OccurredAt: SampleTime,
		ProjectID: "GsrwPNm6nJ7CKRYnQZl6", Actor: event.Actor{Username: "ana", Interface: "web"}}
	info, _ := event.Describe(typ)
	switch info.Subject {
	case event.SubjectEngine:
		ev.Actor = event.Actor{Username: "assethooks", Interface: "robot"}
		ev.Webhook = map[string]any{"id": 1, "name": "CMS banner", "url": "https://cms.example.com/hooks/dam", "reason": ""}
		if typ == event.WebhookDisabled {
			ev.Webhook["reason"] = "the receiver answered 410 Gone"
		} else {
			ev.Delivery = sampleDelivery(typ == event.DeliveryFailed)
		}
	case event.SubjectAsset:
		ev.Asset = sampleAsset()
		sampleAssetEvent(ev)
	default:
		ev.Object = map[string]any{"id": "obj_" + info.Group + "_1", "name": "Sample " + strings.ReplaceAll(info.Group, "_", " ")}
	}
	return ev
}

func sampleAsset() map[string]any {
	return map[string]any{
		"uuid": "0b6d2c1e-7f3a-4a55-9d3e-1c2b3a4d5e6f", "name": "banner.jpg", "path": "/marketing/banner.jpg",
		"size": 482133, "mime_type": "image/jpeg", "cdn_url": "https://cdn.example.com/marketing/banner.jpg",
		"info":       map[string]any{"title": "Summer banner", "description": "Homepage banner, summer campaign"},
		"tags":       []any{"summer", "hero"},
		"image":      map[string]any{"width": 2400, "height": 1200},
		"meta":       map[string]any{"custom": map[string]any{"status": "approved"}},
		"created_at": "2026-01-14T16:02:11Z", "updated_at": "2026-01-15T09:30:00Z",
	}
}

// sampleAssetEvent adds what events of the asset types that change a field,
// a place or a marker carry.
func sampleAssetEvent(ev *event.Event) {
	switch ev.Type {
	case "ASSET_EDITED_METADATA":
		ev.Changes = []event.Change{{Field: "meta.custom.status", Old: "review", New: "approved"}}
	case "ASSET_EDITED_INFO":
		ev.Changes = []event.Change{{Field: "info.title", Old: "Banner", New: "Summer banner"}}
	case "ASSET_EDITED_TAGS":
		ev.Changes = []event.Change{{Field: "tags", Old: []any{"summer"}, New: []any{"summer", "hero"}}}
	case "ASSET_EDITED_LABELS":
		ev.Asset["labels"] = []any{"Print"}
		ev.Changes = []event.Change{{Field: "labels", Old: []any{}, New: []any{"Print"}}}
	case "ASSET_MOVED":
		ev.Asset["path"] = "/marketing/2026/banner.jpg"
		ev.Changes = []event.Change{{Field: "path", Old: "/marketing/banner.jpg", New: "/marketing/2026/banner.jpg"}}
		ev.Previous = map[string]any{"uuid": ev.Asset["uuid"], "path": "/marketing/banner.jpg"}
		ev.Destination, ev.Target = "/marketing/2026/banner.jpg", "file"
	case "ASSET_RENAMED":
		ev.Asset["name"], ev.Asset["path"] = "summer-banner.jpg", "/marketing/summer-banner.jpg"
		ev.Changes = []event.Change{{Field: "name", Old: "banner.jpg", New: "summer-banner.jpg"}}
		ev.Previous = map[string]any{"uuid": ev.Asset["uuid"], "name": "banner.jpg", "path": "/marketing/banner.jpg"}
		ev.Destination, ev.Target = "/marketing/summer-banner.jpg", "file"
	case "ASSET_COPIED":
		ev.Destination, ev.Target = "/press/banner.jpg", "file"
	case event.MarkerSelected:
		ev.Marker = "publish-to-cms"
		ev.Asset["markers"] = []any{"publish-to-cms"}
	case event.MarkerCleared:
		ev.Marker = "publish-to-cms"
		ev.Asset["markers"] = []any{}
	case event.AssetScheduled:
		ev.Actor = event.Actor{Username: "schedule:review-reminder", Interface: "robot"}
	}
}

// sampleDelivery is a delivery as the engine's events carry it (the shape
// of the delivery routes), failed for good or succeeded after failures.
func sampleDelivery(failed bool) map[string]any {
	code, at := 503, engine.At(SampleTime.Add(-time.Second))
	d := engine.Delivery{ID: "msg_2YtqZfV9kJc3WbnS8xQe4", EventID: "evt_01KF1SAMPLE0000000000000", EventType: "ASSET_ADDED",
		WebhookID: 1, Status: engine.StatusFailed, Attempts: 10, CreatedAt: engine.At(SampleTime.Add(-72 * time.Hour)),
		LastAttempt: &engine.Attempt{At: at, URL: "https://cms.example.com/hooks/dam", StatusCode: &code, DurationMS: 212,
			Error: "receiver answered 503 Service Unavailable", ResponseBody: "maintenance"}}
	if !failed {
		code = 200
		d.Status, d.Attempts = engine.StatusSucceeded, 3
		d.CreatedAt = engine.At(SampleTime.Add(-35 * time.Minute))
		d.LastAttempt.Error, d.LastAttempt.ResponseBody = "", "ok"
	}
	b, _ := json.Marshal(d)
	var m map[string]any
	_ = event.UnmarshalJSONNumber(b, &m)
	return m
}

// eventTypesAnswer is the body of GET /api/v2/event-types, encoded once.
var eventTypesAnswer = sync.OnceValue(func() []byte {
	b, err := json.Marshal(struct {
		EventTypes []EventType `json:"event_types"`
	}{EventTypes()})
	if err != nil {
		panic("api: event types: " + err.Error())
	}
	return b
})

// eventTypes answers the catalogue (any key).
func (s *Server) eventTypes(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", eventTypesAnswer())
}
