package rules

import (
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
)

// evalOn runs src against ev as the router would: changes first, then the env.
func evalOn(t *testing.T, src string, ev *event.Event, old map[string]any) (bool, error) {
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
	return NewEvaluator().Eval(c, NewEnv(&cp, old, time.Now()))
}

func TestCookbook(t *testing.T) {
	t.Parallel()
	if len(Cookbook) < 15 {
		t.Fatalf("cookbook has %d recipes, want at least 15", len(Cookbook))
	}
	for _, r := range Cookbook {
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			if got, err := evalOn(t, r.Condition, r.Matches, r.Old); err != nil || !got {
				t.Errorf("Matches: got %v, %v; want true", got, err)
			}
			if got, err := evalOn(t, r.Condition, r.Misses, r.Old); err != nil || got {
				t.Errorf("Misses: got %v, %v; want false", got, err)
			}
		})
	}
}
