package rules

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/event"
)

// TestCheckStages: Check names the first check that turns an event down,
// in the router's order, and evaluates the condition only when every scope
// passed.
func TestCheckStages(t *testing.T) {
	t.Parallel()
	ev := &event.Event{Type: "ASSET_ADDED", ProjectID: "p1", Actor: event.Actor{Username: "ana"},
		Asset: map[string]any{"uuid": "a", "name": "a.jpg", "path": "/press", "size": 5}}
	cond := func(src string) *Condition {
		c, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		rule    Rule
		want    Stage
		wantErr bool
	}{
		{"matched", Rule{ProjectID: "p1", Users: []string{"ana"}, Folder: "/press/**", Condition: cond("asset.size > 1")}, StageMatched, false},
		{"disabled first", Rule{Disabled: true, ProjectID: "other"}, StageDisabled, false},
		{"project", Rule{ProjectID: "other", Users: []string{"bo"}}, StageProject, false},
		{"users", Rule{Users: []string{"bo"}, Folder: "/marketing/**"}, StageUsers, false},
		{"folder", Rule{Folder: "/marketing/**", Condition: cond("true")}, StageFolder, false},
		{"condition false", Rule{Condition: cond("asset.size > 10")}, StageCondition, false},
		{"condition error", Rule{Condition: cond("asset.video.duration > 1")}, StageCondition, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := tt.rule.Check(NewEvaluator(), NewEnv(ev, nil, time.Now()))
			if st != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("Check = %s, %v; want %s (error %v)", st, err, tt.want, tt.wantErr)
			}
			ok, merr := tt.rule.Match(NewEvaluator(), NewEnv(ev, nil, time.Now()))
			if ok != (tt.want == StageMatched) || (merr != nil) != tt.wantErr {
				t.Errorf("Match = %v, %v; disagrees with Check", ok, merr)
			}
		})
	}
	for s := StageMatched; s <= StageCondition; s++ {
		if p, ok := ParseStage(s.String()); !ok || p != s {
			t.Errorf("ParseStage(%q) = %v, %v", s.String(), p, ok)
		}
	}
}

// TestNotBoolean: a condition whose result can be seen at compile time not
// to be a boolean is refused where the value comes from; one that may be a
// boolean is not.
func TestNotBoolean(t *testing.T) {
	t.Parallel()
	refused := []struct {
		src  string
		want *CompileError
	}{
		{`asset.name`, &CompileError{Msg: "expected bool, but the condition yields asset.name, which is a string", Line: 1, Column: 1}},
		{`asset.size + 1`, &CompileError{Msg: "expected bool, but the condition yields a sum", Line: 1, Column: 1}},
		{`asset.size * 2`, &CompileError{Msg: "expected bool, but the condition yields a number", Line: 1, Column: 1}},
		{`"yes"`, &CompileError{Msg: "expected bool, but got string", Line: 1, Column: 1}},
		{"isImage() ?\n  asset.image?.width : false", &CompileError{Msg: "expected bool, but the condition yields asset.image.width, which is a number", Line: 2, Column: 3}},
		{`-asset.size`, &CompileError{Msg: "expected bool, but the condition yields a number", Line: 1, Column: 1}},
		{`lower(asset.name)`, &CompileError{Msg: "expected bool, but got string", Line: 1, Column: 1}},
		{`event.type`, &CompileError{Msg: "expected bool, but the condition yields event.type, which is a string", Line: 1, Column: 1}},
		{`asset.meta ?? false`, &CompileError{Msg: "expected bool, but the condition yields asset.meta, which is an object", Line: 1, Column: 1}},
		{`isImage() && asset.size + 1`, &CompileError{Msg: "expected bool, but the condition yields a sum", Line: 1, Column: 14}},
		{`!asset.name`, &CompileError{Msg: "expected bool, but the condition yields asset.name, which is a string", Line: 1, Column: 2}},
		{`let s = asset.size; s * 2`, &CompileError{Msg: "expected bool, but the condition yields a number", Line: 1, Column: 21}},
	}
	for _, tt := range refused {
		_, err := Compile(tt.src)
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%q) = %v, want a CompileError", tt.src, err)
			continue
		}
		if d := cmp.Diff(tt.want, ce); d != "" {
			t.Errorf("Compile(%q) (-want +got):\n%s", tt.src, d)
		}
	}
	for _, src := range []string{`asset.meta.custom.approved`, `get("flag") ?? false`, `asset.size > 1`, `!asset.flagged`,
		`asset.image?.width > 100 ? true : hasTag("x")`, `event.webhook?.id == 5`, `let big = asset.size > 9; big`} {
		if _, err := Compile(src); err != nil {
			t.Errorf("Compile(%q) = %v, want it accepted", src, err)
		}
	}
}

// TestAssetPaths: the asset paths a condition reads, from member chains and
// helpers' constant paths.
func TestAssetPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want []string
	}{
		{`asset.meta.custom.status == "x"`, []string{"meta.custom.status"}},
		{`(asset.meta?.custom?.priority ?? 0) > 2`, []string{"meta.custom.priority"}},
		{`changedTo("meta.status", "approved") && get("info.title") != nil`, []string{"meta.status", "info.title"}},
		{`asset.tags[0] == "a" && get("labels.2") == "b"`, []string{"tags", "labels"}},
		{`asset["info"].title == old.info.title`, []string{"info.title"}},
		{`changed("meta.custom.*") || isImage()`, nil},
		{`event.actor.username == "ana"`, nil},
	}
	for _, tt := range tests {
		c, err := Compile(tt.src)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, c.AssetPaths()); d != "" {
			t.Errorf("AssetPaths(%q) (-want +got):\n%s", tt.src, d)
		}
	}
}

// TestBefore: the asset before its changes is the snapshot they were
// derived from.
func TestBefore(t *testing.T) {
	t.Parallel()
	old := map[string]any{"uuid": "a", "name": "x.jpg", "meta": map[string]any{"custom": map[string]any{"status": "draft", "gone": "y"}},
		"tags": []any{"a"}}
	now := map[string]any{"uuid": "a", "name": "y.jpg", "meta": map[string]any{"custom": map[string]any{"status": "approved"}},
		"tags": []any{"a", "b"}, "info": map[string]any{"title": "T"}}
	changes := DeriveChanges(old, now)
	got := Before(now, changes)
	if d := cmp.Diff(old, got); d != "" {
		t.Errorf("Before (-want +got):\n%s", d)
	}
	if now["name"] != "y.jpg" {
		t.Error("Before modified the asset")
	}
	paths := map[string]bool{}
	CollectPaths(now, paths)
	want := map[string]bool{"uuid": true, "name": true, "meta": true, "meta.custom": true, "meta.custom.status": true,
		"tags": true, "info": true, "info.title": true}
	if d := cmp.Diff(want, paths); d != "" {
		t.Errorf("CollectPaths (-want +got):\n%s", d)
	}
}
