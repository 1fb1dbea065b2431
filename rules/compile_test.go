package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/event"
)

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want *CompileError
	}{
		{"syntax error", `changed("a") &&`, &CompileError{Msg: "unexpected token EOF", Line: 1, Column: 15}},
		{"syntax error on line 2", "changed(\"a\") &&\n  (isImage() ||", &CompileError{Msg: "unexpected token EOF", Line: 2, Column: 15}},
		{"unknown name", `isImage() && foo == 1`, &CompileError{Msg: "unknown name foo", Line: 1, Column: 14}},
		{"misspelt helper", `changedTO("a", 1)`, &CompileError{Msg: "unknown name changedTO", Line: 1, Column: 1}},
		{"non-boolean result", `"n: " + asset.name`, &CompileError{Msg: "expected bool, but got string", Line: 1, Column: 1}},
		{"non-boolean result after spaces", "\n  1 + 2", &CompileError{Msg: "expected bool, but got int", Line: 2, Column: 3}},
		{"wrong helper argument", `changed(1)`, &CompileError{Msg: "cannot use int as argument (type string) to call changed ", Line: 1, Column: 9}},
		{"non-string path", `changedTo(true, 1)`, &CompileError{Msg: "changedTo: the path must be a string, not bool", Line: 1, Column: 11}},
		{"relative glob", `inFolder("marketing/**")`, &CompileError{Msg: `inFolder: folder glob "marketing/**": Must start with "/"`, Line: 1, Column: 10}},
		{"string plus number", `asset.name == "a" + 1`, &CompileError{Msg: "invalid operation: + (mismatched types string and int)", Line: 1, Column: 19}},
		{"hidden field", `$env.used > 0`, &CompileError{Msg: "unknown name used", Line: 1, Column: 6}},
		{"empty", "  \n ", &CompileError{Msg: "condition is empty", Line: 1, Column: 1}},
		{"over-size", `changed("a") || ` + strings.Repeat(`changed("a") || `, 300) + `true`,
			&CompileError{Msg: "condition is longer than 4096 bytes", Line: 1, Column: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tt.src)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile error = %v (%T), want *CompileError", err, err)
			}
			if diff := cmp.Diff(tt.want, ce); diff != "" {
				t.Errorf("Compile(%q) (-want +got):\n%s", tt.src, diff)
			}
		})
	}
}

func TestCompile(t *testing.T) {
	t.Parallel()
	src := `changedTo("meta.custom.status", "approved")`
	c, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source() != src {
		t.Errorf("Source() = %q", c.Source())
	}
	if _, err := Compile(strings.Repeat(" ", MaxConditionBytes-4) + "true"); err != nil {
		t.Errorf("a condition of exactly MaxConditionBytes: %v", err)
	}
	tp, err := CompileTemplate(`{"a": 1}`)
	if err != nil || tp.Source() != `{"a": 1}` {
		t.Errorf("CompileTemplate: %v", err)
	}
	var ce *CompileError
	if _, err := CompileTemplate(`1 + 1`); !errors.As(err, &ce) {
		t.Errorf("CompileTemplate(1 + 1) = %v, want *CompileError", err)
	}
	if got := (&CompileError{Msg: "m", Line: 2, Column: 3}).Error(); got != "m (line 2, column 3)" {
		t.Errorf("Error() = %q", got)
	}
}

func TestRule(t *testing.T) {
	t.Parallel()
	cond := func(src string) *Condition {
		c, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	moved := with(exampleEvent("ASSET_MOVED", map[string]any{"path": "/drafts/banner.jpg"}), func(e *event.Event) { e.Destination = "/marketing/banner.jpg" })
	tests := []struct {
		name string
		rule Rule
		ev   *event.Event
		want bool
	}{
		{"no scopes", Rule{}, edited(), true},
		{"disabled", Rule{Disabled: true}, edited(), false},
		{"project", Rule{ProjectID: "GsrwPNm6nJ7CKRYnQZl6"}, edited(), true},
		{"other project", Rule{ProjectID: "other"}, edited(), false},
		{"user", Rule{Users: []string{"bo", "ana"}}, edited(), true},
		{"other user", Rule{Users: []string{"bo"}}, edited(), false},
		{"folder", Rule{Folder: "/marketing/**"}, edited(), true},
		{"plain folder", Rule{Folder: "/marketing"}, edited(), true},
		{"other folder", Rule{Folder: "/sales/**"}, edited(), false},
		{"moved into the folder", Rule{Folder: "/marketing/**"}, moved, true},
		{"moved out of the folder", Rule{Folder: "/drafts/**"}, moved, true},
		{"condition", Rule{Condition: cond(`isImage()`)}, edited(), true},
		{"condition false", Rule{Condition: cond(`isVideo()`)}, edited(), false},
		{"scopes before condition", Rule{Users: []string{"bo"}, Condition: cond(`asset.nothing.x == 1`)}, edited(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.rule.Match(NewEvaluator(), NewEnv(tt.ev, nil, time.Now()))
			if err != nil || got != tt.want {
				t.Errorf("Match = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	r := Rule{Condition: cond(`asset.nothing.x == 1`)}
	if got, err := r.Match(NewEvaluator(), NewEnv(edited(), nil, time.Now())); got || err == nil {
		t.Errorf("run-time error: Match = %v, %v; want false and an error", got, err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		triggers []string
		folder   string
		want     string
	}{
		{"catalogue types", []string{"ASSET_ADDED", "PROJECT_ADDED"}, "/", ""},
		{"wildcards", []string{"*", "ASSET_*", "ASSET_EDITED_*"}, "/marketing/**", ""},
		{"empty", []string{}, "/", "Invalid parameter 'trigger_events' value []: Must be a non-empty Array"},
		{"unknown type", []string{"ASSET_ADDED", "ASSET_EXPLODED"}, "/", `Invalid parameter 'trigger_events[1]' value "ASSET_EXPLODED": Unknown event type, see GET /api/v2/event-types`},
		{"wildcard matching nothing", []string{"NOPE_*"}, "/", `Invalid parameter 'trigger_events[0]' value "NOPE_*": Unknown event type, see GET /api/v2/event-types`},
		{"inner wildcard", []string{"ASSET_*_TAGS"}, "/", `Invalid parameter 'trigger_events[0]' value "ASSET_*_TAGS": Unknown event type, see GET /api/v2/event-types`},
		{"relative folder", []string{"*"}, "marketing", `Invalid parameter 'folder' value "marketing": Must start with "/"`},
		{"partial double star", []string{"*"}, "/a**", `Invalid parameter 'folder' value "/a**": "**" must be a whole path segment`},
		{"malformed folder", []string{"*"}, "/a[", `Invalid parameter 'folder' value "/a[": Malformed glob`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateTriggers(tt.triggers)
			if err == nil {
				err = ValidateFolder(tt.folder)
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIndex(t *testing.T) {
	t.Parallel()
	rs := []*Rule{
		{ID: 5, Triggers: []string{"ASSET_*"}},
		{ID: 1, Triggers: []string{"ASSET_ADDED"}},
		{ID: 3, Triggers: []string{"*"}},
		{ID: 2, Triggers: []string{"ASSET_ADDED"}, Disabled: true},
		{ID: 4, Triggers: []string{"PROJECT_ADDED", "ASSET_REMOVED"}},
	}
	ix := NewIndex(rs)
	ids := func(rs []*Rule) []int64 {
		out := []int64{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		typ  string
		want []int64
	}{
		{"ASSET_ADDED", []int64{1, 3, 5}},
		{"ASSET_REMOVED", []int64{3, 4, 5}},
		{"PROJECT_ADDED", []int64{3, 4}},
		{"USER_ADDED", []int64{3}},
		{"NOT_IN_CATALOGUE", []int64{3}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ids(ix.Candidates(tt.typ))); diff != "" {
			t.Errorf("Candidates(%s) (-want +got):\n%s", tt.typ, diff)
		}
	}
	if ix.Len() != 4 {
		t.Errorf("Len() = %d, want 4", ix.Len())
	}
	if !rs[0].Covers("ASSET_EDITED_TAGS") || rs[0].Covers("PROJECT_ADDED") {
		t.Error("Covers is wrong for ASSET_*")
	}
}
