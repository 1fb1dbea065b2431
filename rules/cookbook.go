package rules

import (
	"encoding/json"
	"time"

	"github.com/assethooks/assethooks/event"
)

// Recipe is one cookbook rule with an event it matches and one it does not,
// so that the rules tests, the engine's end-to-end tests and the docs all run
// the same examples.
type Recipe struct {
	// Name says what the rule is for.
	Name string
	// Condition is the expr source.
	Condition string
	// Matches is an example event the condition matches.
	Matches *event.Event
	// Misses is an example event the condition does not match.
	Misses *event.Event
	// Old is the previous snapshot of the asset for both events, when the
	// recipe needs one (else nil: the events carry their changes).
	Old map[string]any
	// At is what now() returns, for recipes that depend on the time
	// (schedule recipes); zero means the time the recipe is tried.
	At time.Time
	// Since holds the change times since() reads, by asset uuid and then
	// by path, as the engine records them for schedules.
	Since map[string]map[string]time.Time
}

// Scheduled reports whether the recipe is a schedule's condition: its
// events are the ASSET_SCHEDULED events of a schedule's scan, and it may
// depend on At and Since.
func (r Recipe) Scheduled() bool { return r.Matches.Type == event.AssetScheduled }

var cookbookTime = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// asset builds an example asset; extra fields override the defaults.
func exampleAsset(extra map[string]any) map[string]any {
	a := map[string]any{
		"uuid": "0b6d2c1e-7f3a-4a55-9d3e-1c2b3a4d5e6f", "name": "banner.jpg", "path": "/marketing/banner.jpg",
		"size": json.Number("482133"), "mime_type": "image/jpeg", "cdn_url": "https://cdn.example.com/banner.jpg",
		"image": map[string]any{"width": json.Number("2400"), "height": json.Number("1200")},
		"info":  map[string]any{"title": "Summer banner"},
		"tags":  []any{"summer", "hero"},
		"meta":  map[string]any{"custom": map[string]any{"status": "approved"}},
	}
	for k, v := range extra {
		if v == nil {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	return a
}

func exampleEvent(typ string, extra map[string]any, changes ...event.Change) *event.Event {
	return &event.Event{ID: "evt_" + typ, Type: typ, OccurredAt: cookbookTime, ProjectID: "GsrwPNm6nJ7CKRYnQZl6",
		Actor: event.Actor{Username: "ana", Interface: "web"}, Asset: exampleAsset(extra), Changes: changes}
}

func with(ev *event.Event, f func(*event.Event)) *event.Event { f(ev); return ev }

// scheduled is the event a schedule's scan evaluates for one stored asset.
func scheduled(uuid string, extra map[string]any) *event.Event {
	ev := exampleEvent(event.AssetScheduled, extra)
	ev.Asset["uuid"] = uuid
	ev.ID, ev.ProjectID = "", ""
	ev.Actor = event.Actor{Username: "schedule:nightly", Interface: "robot"}
	ev.Schedule = &event.ScheduleRef{ID: 1, Name: "nightly"}
	return ev
}

func status(s string) map[string]any {
	return map[string]any{"custom": map[string]any{"status": s}}
}

const day = 24 * time.Hour

// Cookbook is the rules of doc.go's cookbook with example events.
var Cookbook = []Recipe{
	{
		Name:      "Filerobot change meta: a specific field to a specific value",
		Condition: `changedTo("meta.custom.status", "approved")`,
		Matches:   exampleEvent("ASSET_EDITED_METADATA", nil, event.Change{Field: "meta.custom.status", Old: "draft", New: "approved"}),
		Misses: exampleEvent("ASSET_EDITED_METADATA", map[string]any{"meta": map[string]any{"custom": map[string]any{"status": "rejected"}}},
			event.Change{Field: "meta.custom.status", Old: "draft", New: "rejected"}),
	},
	{
		Name:      "Filerobot change meta: a specific field to any value",
		Condition: `changed("meta.custom.status")`,
		Matches:   exampleEvent("ASSET_EDITED_METADATA", nil, event.Change{Field: "meta.custom.status", Old: nil, New: "approved"}),
		Misses:    exampleEvent("ASSET_EDITED_METADATA", nil, event.Change{Field: "meta.custom.owner", Old: "ana", New: "bo"}),
	},
	{
		Name:      "Filerobot change meta: any field to any value",
		Condition: `changed("meta")`,
		Matches:   exampleEvent("ASSET_EDITED_METADATA", nil, event.Change{Field: "meta.custom.owner", Old: "ana", New: "bo"}),
		Misses:    exampleEvent("ASSET_EDITED_INFO", nil, event.Change{Field: "info.title", Old: "Banner", New: "Summer banner"}),
	},
	{
		Name:      "Filerobot change meta: any custom field to a specific value",
		Condition: `changedTo("meta.custom.*", "approved")`,
		Matches:   exampleEvent("ASSET_EDITED_METADATA", nil, event.Change{Field: "meta.custom.legal", Old: "pending", New: "approved"}),
		Misses:    exampleEvent("ASSET_EDITED_METADATA", nil, event.Change{Field: "meta.custom.legal", Old: "approved", New: "pending"}),
	},
	{
		Name:      "Leaving a state: a status that was approved is changed",
		Condition: `changedFrom("meta.custom.status", "approved")`,
		Matches: exampleEvent("ASSET_EDITED_METADATA", map[string]any{"meta": map[string]any{"custom": map[string]any{"status": "archived"}}},
			event.Change{Field: "meta.custom.status", Old: "approved", New: "archived"}),
		Misses: exampleEvent("ASSET_EDITED_METADATA", nil, event.Change{Field: "meta.custom.status", Old: "draft", New: "approved"}),
	},
	{
		Name:      "Derived changes: status approved, the DAM sent only the new asset",
		Condition: `changedTo("meta.custom.status", "approved")`,
		Old:       exampleAsset(map[string]any{"meta": map[string]any{"custom": map[string]any{"status": "draft"}}}),
		Matches:   exampleEvent("ASSET_EDITED_METADATA", nil),
		Misses:    exampleEvent("ASSET_EDITED_METADATA", map[string]any{"meta": map[string]any{"custom": map[string]any{"status": "draft"}}}),
	},
	{
		Name:      "Folder scope: anything under /marketing, at any depth",
		Condition: `inFolder("/marketing/**")`,
		Matches:   exampleEvent("ASSET_ADDED", map[string]any{"path": "/marketing/2026/summer/banner.jpg"}),
		Misses:    exampleEvent("ASSET_ADDED", map[string]any{"path": "/sales/banner.jpg"}),
	},
	{
		Name:      "Folder scope: files directly in /press (not in subfolders)",
		Condition: `inFolder("/press/*")`,
		Matches:   exampleEvent("ASSET_ADDED", map[string]any{"path": "/press", "name": "release.pdf", "mime_type": "application/pdf"}),
		Misses:    exampleEvent("ASSET_ADDED", map[string]any{"path": "/press/2025/release.pdf", "name": "release.pdf"}),
	},
	{
		Name:      "Only images wider than 2000 px in /marketing",
		Condition: `isImage() && inFolder("/marketing/**") && asset.image?.width > 2000`,
		Matches:   exampleEvent("ASSET_ADDED", nil),
		Misses:    exampleEvent("ASSET_ADDED", map[string]any{"image": map[string]any{"width": 1200.0, "height": 600.0}}),
	},
	{
		Name:      "Tag added",
		Condition: `tagAdded("approved")`,
		Matches: exampleEvent("ASSET_EDITED_TAGS", map[string]any{"tags": []any{"summer", "approved"}},
			event.Change{Field: "tags", Old: []any{"summer"}, New: []any{"summer", "approved"}}),
		Misses: exampleEvent("ASSET_EDITED_TAGS", map[string]any{"tags": []any{"summer", "approved", "hero"}},
			event.Change{Field: "tags", Old: []any{"summer", "approved"}, New: []any{"summer", "approved", "hero"}}),
	},
	{
		Name:      "Tag removed (tags as objects)",
		Condition: `tagRemoved("embargo")`,
		Old:       exampleAsset(map[string]any{"tags": []any{map[string]any{"name": "embargo"}, map[string]any{"name": "summer"}}}),
		Matches:   exampleEvent("ASSET_EDITED_TAGS", map[string]any{"tags": []any{map[string]any{"name": "summer"}}}),
		Misses:    exampleEvent("ASSET_EDITED_TAGS", map[string]any{"tags": []any{map[string]any{"name": "embargo"}}}),
	},
	{
		Name:      "Label added",
		Condition: `labelAdded("Print")`,
		Matches: exampleEvent("ASSET_EDITED_LABELS", map[string]any{"labels": []any{map[string]any{"label": "Print"}}},
			event.Change{Field: "labels", Old: []any{}, New: []any{map[string]any{"label": "Print"}}}),
		Misses: exampleEvent("ASSET_EDITED_LABELS", map[string]any{"labels": []any{}},
			event.Change{Field: "labels", Old: []any{map[string]any{"label": "Print"}}, New: []any{}}),
	},
	{
		Name:      "A marker selected by a user (Fotoware)",
		Condition: `event.type == "ASSET_MARKER_SELECTED" && event.marker == "publish-to-cms"`,
		Matches:   with(exampleEvent("ASSET_MARKER_SELECTED", nil), func(e *event.Event) { e.Marker = "publish-to-cms" }),
		Misses:    with(exampleEvent("ASSET_MARKER_SELECTED", nil), func(e *event.Event) { e.Marker = "use-as-banner" }),
	},
	{
		Name:      "Renamed or moved out of /drafts",
		Condition: `movedFrom("/drafts/**") && !movedTo("/drafts/**")`,
		Matches: with(exampleEvent("ASSET_RENAMED", map[string]any{"path": "/drafts/banner.jpg"}),
			func(e *event.Event) { e.Destination = "/published/banner.jpg" }),
		Misses: with(exampleEvent("ASSET_RENAMED", map[string]any{"path": "/drafts/banner.jpg"}),
			func(e *event.Event) { e.Destination = "/drafts/banner-final.jpg" }),
	},
	{
		Name:      "Files.com: a deletion done by a robot (a retention rule), not by a person",
		Condition: `event.type == "ASSET_REMOVED" && event.actor.interface == "robot"`,
		Matches:   with(exampleEvent("ASSET_REMOVED", nil), func(e *event.Event) { e.Actor = event.Actor{Interface: "robot"} }),
		Misses:    exampleEvent("ASSET_REMOVED", nil),
	},
	{
		Name:      "Uploads of videos longer than a minute",
		Condition: `isVideo() && (get("video.duration") ?? 0) > 60`,
		Matches: exampleEvent("ASSET_ADDED", map[string]any{"name": "teaser.mp4", "mime_type": "video/mp4", "image": nil,
			"video": map[string]any{"width": json.Number("1920"), "height": json.Number("1080"), "duration": json.Number("95.5")}}),
		Misses: exampleEvent("ASSET_ADDED", nil),
	},
	{
		Name:      "PDFs or Word documents added through FTP",
		Condition: `ext() in ["pdf", "docx"] && event.actor.interface == "ftp"`,
		Matches: with(exampleEvent("ASSET_ADDED", map[string]any{"name": "Terms.PDF", "path": "/legal", "mime_type": "application/pdf", "image": nil}),
			func(e *event.Event) { e.Actor.Interface = "ftp" }),
		Misses: with(exampleEvent("ASSET_ADDED", nil), func(e *event.Event) { e.Actor.Interface = "ftp" }),
	},
	{
		Name:      "Title edited, except by the import robot",
		Condition: `changed("info.title") && event.actor.username != "importer"`,
		Matches:   exampleEvent("ASSET_EDITED_INFO", nil, event.Change{Field: "info.title", Old: "Banner", New: "Summer banner"}),
		Misses: with(exampleEvent("ASSET_EDITED_INFO", nil, event.Change{Field: "info.title", Old: "Banner", New: "Summer banner"}),
			func(e *event.Event) { e.Actor.Username = "importer" }),
	},
	{
		Name:      "Approved and tagged hero, whatever the event",
		Condition: `get("meta.custom.status") == "approved" && hasTag("hero")`,
		Matches:   exampleEvent("ASSET_UPDATED", nil),
		Misses:    exampleEvent("ASSET_UPDATED", map[string]any{"tags": []any{"summer"}}),
	},
	{
		Name:      "A custom field that may be missing, read safely with ?. and ??",
		Condition: `(asset.meta?.custom?.priority ?? 0) >= 3`,
		Matches:   exampleEvent("ASSET_EDITED_METADATA", map[string]any{"meta": map[string]any{"custom": map[string]any{"priority": json.Number("5")}}}),
		Misses:    exampleEvent("ASSET_EDITED_METADATA", map[string]any{"meta": nil}),
	},
	{
		Name:      "Any change to a rendition list (Fotoware), compared as a whole",
		Condition: `changed("renditions")`,
		Old:       exampleAsset(map[string]any{"renditions": []any{map[string]any{"size": json.Number("800")}}}),
		Matches:   exampleEvent("ASSET_UPDATED", map[string]any{"renditions": []any{map[string]any{"size": json.Number("800")}, map[string]any{"size": json.Number("1600")}}}),
		Misses:    exampleEvent("ASSET_UPDATED", map[string]any{"renditions": []any{map[string]any{"size": 800.0}}}),
	},
	{
		Name:      "Events of one project's engine: a delivery that failed for good",
		Condition: `event.type == "WEBHOOK_DELIVERY_FAILED" && (event.webhook?.id ?? 0) == 5`,
		Matches: &event.Event{Type: "WEBHOOK_DELIVERY_FAILED", OccurredAt: cookbookTime, Actor: event.Actor{Interface: "robot"},
			Webhook: map[string]any{"id": json.Number("5"), "name": "CMS"}},
		Misses: &event.Event{Type: "WEBHOOK_DELIVERY_FAILED", OccurredAt: cookbookTime, Actor: event.Actor{Interface: "robot"},
			Webhook: map[string]any{"id": json.Number("6"), "name": "Search"}},
	},
	{
		Name: "Schedule: assets that expire this week",
		Condition: `let exp = asset.meta?.custom?.expires_at; ` +
			`exp != nil && date(exp) > now() && date(exp) <= now() + duration("168h")`,
		At: cookbookTime,
		Matches: scheduled("a-expiring", map[string]any{"meta": map[string]any{"custom": map[string]any{
			"expires_at": cookbookTime.Add(3 * day).Format(time.RFC3339)}}}),
		Misses: scheduled("a-later", map[string]any{"meta": map[string]any{"custom": map[string]any{
			"expires_at": cookbookTime.Add(10 * day).Format(time.RFC3339)}}}),
	},
	{
		Name:      "Schedule: still in review for 7 days",
		Condition: `asset.meta.custom.status == "review" && since("meta.custom.status") > duration("168h")`,
		At:        cookbookTime,
		Since: map[string]map[string]time.Time{
			"a-stuck":  {"meta.custom.status": cookbookTime.Add(-8 * day)},
			"a-recent": {"meta.custom.status": cookbookTime.Add(-2 * day)},
		},
		Matches: scheduled("a-stuck", map[string]any{"meta": status("review")}),
		Misses:  scheduled("a-recent", map[string]any{"meta": status("review")}),
	},
	{
		Name:      "Schedule: untagged uploads older than a day",
		Condition: `len(asset.tags ?? []) == 0 && age(asset.created_at ?? now()) > duration("24h")`,
		At:        cookbookTime,
		Matches: scheduled("a-old", map[string]any{"tags": nil,
			"created_at": cookbookTime.Add(-2 * day).Format(time.RFC3339)}),
		Misses: scheduled("a-new", map[string]any{"tags": []any{},
			"created_at": cookbookTime.Add(-2 * time.Hour).Format(time.RFC3339)}),
	},
}
