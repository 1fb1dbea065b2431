package rules

import (
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
)

// evalOn runs src against ev as the router would: changes first, then the env.
func evalOn(t *testing.T, src string, ev *event.Event, old map[string]any) (bool, error) {
	t.Helper()
	return evalRecipe(t, Recipe{Condition: src}, ev, old)
}

// evalRecipe runs r's condition against ev as the router (or, for schedule
// recipes, a schedule's scan) would, at r.At with r.Since.
func evalRecipe(t *testing.T, r Recipe, ev *event.Event, old map[string]any) (bool, error) {
	src := r.Condition
	t.Helper()
	c, err := Compile(src)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	cp := *ev
	if cp.Previous != nil && old == nil {
		old = cp.Previous
	}
	cp.Changes = Changes(&cp, old)
	now := r.At
	if now.IsZero() {
		now = time.Now()
	}
	env := NewEnv(&cp, old, now)
	if r.Since != nil {
		times := r.Since[cp.AssetID()]
		env.WithSince(func(path string) (time.Time, bool) { at, ok := times[path]; return at, ok })
	}
	return NewEvaluator().Eval(c, env)
}

func TestCookbook(t *testing.T) {
	t.Parallel()
	if len(Cookbook) < 15 {
		t.Fatalf("cookbook has %d recipes, want at least 15", len(Cookbook))
	}
	for _, r := range Cookbook {
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			if got, err := evalRecipe(t, r, r.Matches, r.Old); err != nil || !got {
				t.Errorf("Matches: got %v, %v; want true", got, err)
			}
			if got, err := evalRecipe(t, r, r.Misses, r.Old); err != nil || got {
				t.Errorf("Misses: got %v, %v; want false", got, err)
			}
		})
	}
}
