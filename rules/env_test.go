package rules

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/event"
)

// helperCase is one condition over one event; old is the previous snapshot
// (ev.Previous is used when old is nil).
type helperCase struct {
	name string
	src  string
	ev   *event.Event
	old  map[string]any
	want bool
}

func edited(changes ...event.Change) *event.Event {
	return exampleEvent("ASSET_EDITED_METADATA", nil, changes...)
}

func withPrevious(prev map[string]any, extra map[string]any) *event.Event {
	ev := exampleEvent("ASSET_EDITED_METADATA", extra)
	ev.Previous = prev
	return ev
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	status := func(s string) map[string]any {
		return map[string]any{"meta": map[string]any{"custom": map[string]any{"status": s}}}
	}
	draftPrev := exampleAsset(status("draft"))
	tests := []helperCase{
		// changed / changedTo / changedFrom over sent changes
		{"changed exact", `changed("meta.custom.status")`, edited(event.Change{Field: "meta.custom.status", Old: "a", New: "b"}), nil, true},
		{"changed parent path", `changed("meta")`, edited(event.Change{Field: "meta.custom.status", Old: "a", New: "b"}), nil, true},
		{"changed sibling", `changed("meta.custom.owner")`, edited(event.Change{Field: "meta.custom.status", Old: "a", New: "b"}), nil, false},
		{"changed prefix is not a parent", `changed("meta.custom.stat")`, edited(event.Change{Field: "meta.custom.status", Old: "a", New: "b"}), nil, false},
		{"changed any", `changed("*")`, edited(event.Change{Field: "info.title", Old: "a", New: "b"}), nil, true},
		{"changed any, no changes", `changed("*")`, edited(), nil, false},
		{"changed wildcard", `changed("meta.custom.*")`, edited(event.Change{Field: "meta.custom.x", Old: 1, New: 2}), nil, true},
		{"changed wildcard miss", `changed("meta.custom.*")`, edited(event.Change{Field: "meta.system.x", Old: 1, New: 2}), nil, false},
		{"changed middle wildcard", `changed("meta.*.status")`, edited(event.Change{Field: "meta.custom.status", Old: 1, New: 2}), nil, true},
		{"changed coarse change", `changed("meta.custom.status")`,
			edited(event.Change{Field: "meta", Old: map[string]any{"custom": map[string]any{"status": "draft"}}, New: status("approved")["meta"]}), nil, true},
		{"changed coarse change, other field", `changed("meta.custom.owner")`,
			edited(event.Change{Field: "meta", Old: map[string]any{"custom": map[string]any{"status": "draft"}}, New: status("approved")["meta"]}), nil, false},
		{"changedTo", `changedTo("meta.custom.status", "approved")`, edited(event.Change{Field: "meta.custom.status", Old: "draft", New: "approved"}), nil, true},
		{"changedTo other value", `changedTo("meta.custom.status", "approved")`, edited(event.Change{Field: "meta.custom.status", Old: "approved", New: "draft"}), nil, false},
		{"changedTo coarse change", `changedTo("meta.custom.status", "approved")`,
			edited(event.Change{Field: "meta", Old: nil, New: status("approved")["meta"]}), nil, true},
		{"changedTo number across types", `changedTo("image.width", 2400)`, edited(event.Change{Field: "image.width", Old: json.Number("1200"), New: json.Number("2400")}), nil, true},
		{"changedTo float", `changedTo("image.ratio", 1.5)`, edited(event.Change{Field: "image.ratio", Old: 1, New: json.Number("1.5")}), nil, true},
		{"changedTo nil (removed)", `changedTo("meta.custom.status", nil)`, edited(event.Change{Field: "meta.custom.status", Old: "x", New: nil}), nil, true},
		{"changedTo wildcard", `changedTo("meta.*", "approved")`, edited(event.Change{Field: "meta.custom.legal", Old: "x", New: "approved"}), nil, true},
		{"changedTo parent path: reads the asset", `changedTo("meta.custom", {"status": "approved"})`, edited(event.Change{Field: "meta.custom.status", Old: "x", New: "approved"}), nil, true},
		{"changedFrom", `changedFrom("meta.custom.status", "draft")`, edited(event.Change{Field: "meta.custom.status", Old: "draft", New: "approved"}), nil, true},
		{"changedFrom miss", `changedFrom("meta.custom.status", "approved")`, edited(event.Change{Field: "meta.custom.status", Old: "draft", New: "approved"}), nil, false},
		{"changed non-string path at run time", `changedTo(get("nothing"), 1)`, edited(event.Change{Field: "x", Old: 1, New: 2}), nil, false},
		// the same over previous (derived changes)
		{"previous: changedTo", `changedTo("meta.custom.status", "approved")`, withPrevious(draftPrev, nil), nil, true},
		{"previous: changedFrom", `changedFrom("meta.custom.status", "draft")`, withPrevious(draftPrev, nil), nil, true},
		{"previous: unchanged", `changed("meta")`, withPrevious(exampleAsset(nil), nil), nil, false},
		{"previous: number types", `changed("image")`, withPrevious(exampleAsset(map[string]any{"image": map[string]any{"width": 2400.0, "height": 1200}}), nil), nil, false},
		{"previous: added custom field", `changedTo("meta.custom.*", "approved")`, withPrevious(exampleAsset(map[string]any{"meta": map[string]any{}}), nil), nil, true},
		{"snapshot: changedTo", `changedTo("meta.custom.status", "approved")`, exampleEvent("ASSET_EDITED_METADATA", nil), draftPrev, true},
		{"no previous, no changes", `changed("*")`, exampleEvent("ASSET_EDITED_METADATA", nil), nil, false},
		// old and oldGet
		{"old is nil without a snapshot", `old == nil && oldGet("name") == nil`, exampleEvent("ASSET_ADDED", nil), nil, true},
		{"old and oldGet", `old.meta.custom.status == "draft" && oldGet("meta.custom.status") == "draft"`, withPrevious(draftPrev, nil), nil, true},
		// folders
		{"inFolder", `inFolder("/marketing/**")`, exampleEvent("ASSET_ADDED", nil), nil, true},
		{"inFolder path is a folder", `inFolder("/marketing/*.jpg")`, exampleEvent("ASSET_ADDED", map[string]any{"path": "/marketing"}), nil, true},
		{"inFolder other", `inFolder("/sales/**")`, exampleEvent("ASSET_ADDED", nil), nil, false},
		{"inFolder no path", `inFolder("/**")`, exampleEvent("ASSET_ADDED", map[string]any{"path": nil, "name": nil}), nil, false},
		{"movedFrom destination", `movedFrom("/marketing/**") && movedTo("/archive/**")`,
			with(exampleEvent("ASSET_MOVED", nil), func(e *event.Event) { e.Destination = "/archive/banner.jpg" }), nil, true},
		{"movedTo destination folder", `movedTo("/archive/*")`,
			with(exampleEvent("ASSET_MOVED", nil), func(e *event.Event) { e.Destination = "/archive/" }), nil, true},
		{"moved by previous", `movedFrom("/drafts/**") && movedTo("/marketing/**")`,
			withPrevious(exampleAsset(map[string]any{"path": "/drafts/banner.jpg"}), nil), nil, true},
		{"moved by path change", `movedFrom("/drafts/**")`,
			edited(event.Change{Field: "path", Old: "/drafts/banner.jpg", New: "/marketing/banner.jpg"}), nil, true},
		{"not moved", `movedFrom("/**") || movedTo("/**")`, edited(), nil, false},
		// tags, labels, markers
		{"hasTag", `hasTag("hero") && !hasTag("nope")`, edited(), nil, true},
		{"tagAdded by change", `tagAdded("new") && !tagAdded("summer")`,
			edited(event.Change{Field: "tags", Old: []any{"summer"}, New: []any{"summer", "new"}}), nil, true},
		{"tagRemoved by change", `tagRemoved("old") && !tagRemoved("summer")`,
			edited(event.Change{Field: "tags", Old: []any{"summer", "old"}, New: []any{"summer"}}), nil, true},
		{"tagAdded by previous", `tagAdded("hero")`, withPrevious(exampleAsset(map[string]any{"tags": []any{"summer"}}), nil), nil, true},
		{"tagAdded on upload", `tagAdded("hero")`, exampleEvent("ASSET_ADDED", nil), nil, true},
		{"tagAdded unknown history", `tagAdded("hero") || tagRemoved("hero")`, edited(), nil, false},
		{"tags as objects", `hasTag("x") && hasLabel("L")`,
			exampleEvent("ASSET_ADDED", map[string]any{"tags": []any{map[string]any{"name": "x"}}, "labels": []any{map[string]any{"label": "L"}}}), nil, true},
		{"labelAdded and labelRemoved", `labelAdded("new") && labelRemoved("old")`,
			edited(event.Change{Field: "labels", Old: []any{"old"}, New: []any{"new"}}), nil, true},
		{"hasMarker in asset", `hasMarker("print")`, exampleEvent("ASSET_UPDATED", map[string]any{"markers": []any{"print"}}), nil, true},
		{"hasMarker selected", `hasMarker("publish")`, with(exampleEvent("ASSET_MARKER_SELECTED", nil), func(e *event.Event) { e.Marker = "publish" }), nil, true},
		{"hasMarker empty", `hasMarker("")`, exampleEvent("ASSET_UPDATED", map[string]any{"markers": []any{map[string]any{"x": 1}}}), nil, false},
		// kinds
		{"isImage by mime", `isImage() && !isVideo()`, exampleEvent("ASSET_ADDED", map[string]any{"image": nil}), nil, true},
		{"isImage by object", `isImage()`, exampleEvent("ASSET_ADDED", map[string]any{"mime_type": nil}), nil, true},
		{"isVideo", `isVideo() && !isImage()`, exampleEvent("ASSET_ADDED", map[string]any{"image": nil, "mime_type": "video/mp4"}), nil, true},
		{"isImage by mime, any case", `isImage()`, exampleEvent("ASSET_ADDED", map[string]any{"image": nil, "mime_type": "Image/PNG"}), nil, true},
		{"a PDF with preview dimensions is no image", `!isImage() && !isVideo()`,
			exampleEvent("ASSET_ADDED", map[string]any{"mime_type": "application/pdf", "image": map[string]any{"width": 595, "height": 842}}), nil, true},
		{"a video with a poster image is no image", `isVideo() && !isImage()`,
			exampleEvent("ASSET_ADDED", map[string]any{"mime_type": "video/mp4", "image": map[string]any{"width": 1920, "height": 1080}}), nil, true},
		{"isVideo by object without mime", `isVideo() && !isImage()`,
			exampleEvent("ASSET_ADDED", map[string]any{"mime_type": nil, "image": nil, "video": map[string]any{"duration": 12}}), nil, true},
		{"an empty mime_type counts as none", `isImage()`, exampleEvent("ASSET_ADDED", map[string]any{"mime_type": ""}), nil, true},
		{"ext", `ext() == "jpg"`, exampleEvent("ASSET_ADDED", map[string]any{"name": "A.JPG", "path": "/x"}), nil, true},
		{"ext none", `ext() == ""`, exampleEvent("ASSET_ADDED", map[string]any{"name": "README", "path": "/x"}), nil, true},
		// values
		{"get", `get("image.width") == 2400 && get("tags.1") == "hero" && get("no.such.path") == nil`, edited(), nil, true},
		{"normalized numbers", `asset.image.width > 2000 && asset.size == 482133 && asset.image.width / 2 == 1200`, edited(), nil, true},
		{"now", `now() - date(event.occurred_at) > duration("1h")`, edited(), nil, true},
		{"event fields", `event.project_id == "GsrwPNm6nJ7CKRYnQZl6" && event.actor.username == "ana" && event.id == "evt_ASSET_EDITED_METADATA"`, edited(), nil, true},
		{"changes list", `len(changes) == 1 && changes[0].field == "x" && changes[0].new == 2`, edited(event.Change{Field: "x", Old: 1, New: json.Number("2")}), nil, true},
		{"object", `event.object?.name == "P"`, &event.Event{Type: "PROJECT_ADDED", Object: map[string]any{"name": "P"}}, nil, true},
		{"no asset", `asset.name == nil && !isImage() && !inFolder("/**")`, &event.Event{Type: "PROJECT_ADDED"}, nil, true},
		{"string concatenation", `asset.name + "!" == "banner.jpg!" && join(asset.tags, ",") == "summer,hero"`, edited(), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := evalOn(t, tt.src, tt.ev, tt.old)
			if err != nil {
				t.Fatalf("Eval(%s): %v", tt.src, err)
			}
			if got != tt.want {
				t.Errorf("Eval(%s) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src string }{
		{"field of a missing key", `asset.nothing.deeper == 1`},
		{"type mismatch", `asset.name > 3`},
		{"memory budget", `len(map(1..200000, #)) > 0`},
		{"string doubling", `let a = repeat("x", 4000); let b = a+a; let c = b+b; let d = c+c; let e = d+d; let f = e+e; let g = f+f; let h = g+g; let i = h+h; len(i) > 0`},
		{"toJSON doubling", `let a = repeat("x", 4000); let b = toJSON([a,a,a,a]); let c = toJSON([b,b,b,b]); let d = toJSON([c,c,c,c]); let e = toJSON([d,d,d,d]); len(e) > 0`},
		{"replace growth", `let a = repeat("x", 3000); len(replace(a, "", a)) > 0`},
	}
	env := NewEnv(edited(), nil, time.Now())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := NewEvaluator().Eval(c, env)
			if err == nil || got {
				t.Errorf("Eval = %v, %v; want false and an error", got, err)
			}
		})
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      map[string]any
		wantErr   bool
	}{
		{"fields", `{"id": asset.uuid, "title": get("info.title") ?? asset.name, "w": asset.image.width, "tags": asset.tags}`,
			map[string]any{"id": "0b6d2c1e-7f3a-4a55-9d3e-1c2b3a4d5e6f", "title": "Summer banner", "w": 2400, "tags": []any{"summer", "hero"}}, false},
		{"whole asset", `asset.meta`, map[string]any{"custom": map[string]any{"status": "approved"}}, false},
		{"not a map at run time", `get("name")`, nil, true},
	}
	env := NewEnv(edited(), nil, time.Now())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, err := CompileTemplate(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewEvaluator().Render(tp, env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Render error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Render (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEnvShared evaluates one Env from many goroutines (run with -race).
func TestEnvShared(t *testing.T) {
	t.Parallel()
	c, err := Compile(`changedTo("meta.custom.status", "approved") && tagAdded("x") == false && asset.name + "" != ""`)
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(edited(event.Change{Field: "meta.custom.status", Old: "a", New: "approved"}), nil, time.Now())
	done := make(chan bool)
	for range 8 {
		go func() {
			e := NewEvaluator()
			ok := true
			for range 200 {
				got, err := e.Eval(c, env)
				ok = ok && got && err == nil
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("concurrent evaluation failed")
		}
	}
}
