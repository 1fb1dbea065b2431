package rules

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/event"
)

func TestDeriveChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new map[string]any
		want     []event.Change
	}{
		{"nil old: everything added", nil, map[string]any{"name": "a.jpg", "info": map[string]any{"title": "T"}},
			[]event.Change{{Field: "info", New: map[string]any{"title": "T"}}, {Field: "name", New: "a.jpg"}}},
		{"both nil", nil, nil, []event.Change{}},
		{"nested meta", map[string]any{"meta": map[string]any{"custom": map[string]any{"status": "draft", "owner": "ana"}}},
			map[string]any{"meta": map[string]any{"custom": map[string]any{"status": "approved", "owner": "ana"}}},
			[]event.Change{{Field: "meta.custom.status", Old: "draft", New: "approved"}}},
		{"added and removed keys", map[string]any{"info": map[string]any{"title": "T"}}, map[string]any{"info": map[string]any{"description": "D"}},
			[]event.Change{{Field: "info.description", New: "D"}, {Field: "info.title", Old: "T"}}},
		{"tags compared whole", map[string]any{"tags": []any{"a"}}, map[string]any{"tags": []any{"a", "b"}},
			[]event.Change{{Field: "tags", Old: []any{"a"}, New: []any{"a", "b"}}}},
		{"same tags", map[string]any{"tags": []any{"a", "b"}}, map[string]any{"tags": []any{"a", "b"}}, []event.Change{}},
		{"numbers across types are equal", map[string]any{"image": map[string]any{"width": json.Number("2"), "height": 3.0, "x": json.Number("1.5")}},
			map[string]any{"image": map[string]any{"width": float64(2), "height": 3, "x": 1.5}}, []event.Change{}},
		{"numbers differ", map[string]any{"size": json.Number("2")}, map[string]any{"size": 2.5},
			[]event.Change{{Field: "size", Old: json.Number("2"), New: 2.5}}},
		{"object replaced by scalar", map[string]any{"meta": map[string]any{"a": 1}}, map[string]any{"meta": "x"},
			[]event.Change{{Field: "meta", Old: map[string]any{"a": 1}, New: "x"}}},
		{"numbers inside lists", map[string]any{"renditions": []any{map[string]any{"w": json.Number("800")}}},
			map[string]any{"renditions": []any{map[string]any{"w": 800}}}, []event.Change{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, DeriveChanges(tt.old, tt.new)); diff != "" {
				t.Errorf("DeriveChanges (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChanges(t *testing.T) {
	t.Parallel()
	sent := []event.Change{{Field: "x", Old: 1, New: 2}}
	tests := []struct {
		name string
		ev   *event.Event
		old  map[string]any
		want []event.Change
	}{
		{"sent by the DAM wins", &event.Event{Changes: sent, Asset: map[string]any{"x": 3}}, map[string]any{"x": 0}, sent},
		{"derived from old", &event.Event{Asset: map[string]any{"x": 3}}, map[string]any{"x": 0}, []event.Change{{Field: "x", Old: 0, New: 3}}},
		{"nil old: empty", &event.Event{Asset: map[string]any{"x": 3}}, nil, []event.Change{}},
		{"nil event", nil, nil, []event.Change{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Changes(tt.ev, tt.old)
			if got == nil {
				t.Fatal("Changes returned nil")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	in := map[string]any{"a": json.Number("2"), "b": json.Number("2.5"), "c": 3.0, "d": []any{json.Number("1e3")}, "e": int64(7),
		"f": []map[string]any{{"g": float32(1.5)}}}
	want := map[string]any{"a": 2, "b": 2.5, "c": 3, "d": []any{1000}, "e": 7, "f": []any{map[string]any{"g": 1.5}}}
	if diff := cmp.Diff(want, normalize(in)); diff != "" {
		t.Errorf("normalize (-want +got):\n%s", diff)
	}
}

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"/marketing/**", "/marketing/a.jpg", true},
		{"/marketing/**", "/marketing/x/y/a.jpg", true},
		{"/marketing/**", "/marketingx/a.jpg", false},
		{"/marketing/*", "/marketing/a.jpg", true},
		{"/marketing/*", "/marketing/x/a.jpg", false},
		{"/marketing", "/marketing/x/a.jpg", true},
		{"/marketing/", "/marketing/a.jpg", true},
		{"/marketing", "/marketing2/a.jpg", false},
		{"/**/*.jpg", "/a/b/c.jpg", true},
		{"/**/*.jpg", "/c.jpg", true},
		{"/**/*.jpg", "/a/c.png", false},
		{"/a/**/z/*.pdf", "/a/b/c/z/d.pdf", true},
		{"/", "/anything/at/all", true},
		{"/x/*", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.glob+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			if got := matchGlob(tt.glob, tt.path); got != tt.want {
				t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.glob, tt.path, got, tt.want)
			}
		})
	}
}
