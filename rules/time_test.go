package rules

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/event"
)

func TestTimeHelpers(t *testing.T) {
	t.Parallel()
	now := cookbookTime
	changed := map[string]time.Time{
		"meta.custom.status": now.Add(-8 * day),
		"info.title":         now.Add(time.Hour), // recorded ahead of this clock
	}
	lookup := func(path string) (time.Time, bool) { at, ok := changed[path]; return at, ok }
	asset := map[string]any{"created_at": now.Add(-36 * time.Hour).Format(time.RFC3339Nano), "bad": "yesterday"}
	tests := []struct {
		name   string
		src    string
		lookup SinceFunc
		want   bool
		err    bool
	}{
		{"since measures from the recorded change", `since("meta.custom.status") == duration("192h")`, lookup, true, false},
		{"since of a path never recorded is 0", `since("meta.custom.owner") == duration("0s")`, lookup, true, false},
		{"since of a time ahead of now() is 0", `since("info.title") == duration("0s")`, lookup, true, false},
		{"since without a lookup is 0", `since("meta.custom.status") == duration("0s")`, nil, true, false},
		{"age of an RFC 3339 string", `age(asset.created_at) == duration("36h")`, nil, true, false},
		{"age of date()", `age(date(asset.created_at)) == duration("36h")`, nil, true, false},
		{"age of now() is 0", `age(now()) == duration("0s")`, nil, true, false},
		{"age of a missing field, defaulted", `age(asset.expires_at ?? now()) < duration("1s")`, nil, true, false},
		{"age of nil is an error", `age(asset?.expires_at) > duration("1s")`, nil, false, true},
		{"age of a string that is no time is an error", `age(asset.bad) > duration("1s")`, nil, false, true},
		{"age of a number is an error", `age(1) > duration("1s")`, nil, false, true},
		{"date and durations compare", `date("2026-11-25T10:00:00Z") - now() == duration("72h")`, nil, true, false},
		{"time plus a duration", `now() + duration("24h") > date("2026-11-23T09:59:59Z")`, nil, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Compile(tc.src)
			if err != nil {
				if tc.err {
					return // refused at compile time: as good as a run-time error
				}
				t.Fatalf("Compile: %v", err)
			}
			ev := &event.Event{Type: event.AssetScheduled, Asset: asset, Changes: []event.Change{}}
			got, err := NewEvaluator().Eval(c, NewEnv(ev, nil, now).WithSince(tc.lookup))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestSinceNeedsAQuotedPath(t *testing.T) {
	t.Parallel()
	_, err := Compile(`since(asset.name) > duration("1h")`)
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("Compile: %v, want a *CompileError", err)
	}
	if ce.Line != 1 || ce.Column < 7 || ce.Column > 16 { // within the argument
		t.Errorf("at line %d, column %d; want line 1, columns 7-16 (%s)", ce.Line, ce.Column, ce.Msg)
	}
}

func TestSincePaths(t *testing.T) {
	t.Parallel()
	c, err := Compile(`since("meta.custom.status") > duration("1h") || (since("info.title") > duration("2h") && since("meta.custom.status") < duration("9h"))`)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"info.title", "meta.custom.status"}, SincePaths(c)); d != "" {
		t.Errorf("SincePaths (-want +got):\n%s", d)
	}
	c, _ = Compile(`asset.name == "x"`)
	if got := SincePaths(c); len(got) != 0 {
		t.Errorf("SincePaths of a condition without since: %v", got)
	}
	if got := SincePaths(nil); got != nil {
		t.Errorf("SincePaths(nil) = %v", got)
	}
}

func TestTouched(t *testing.T) {
	t.Parallel()
	watched := []string{"meta.custom.status", "info.title", "tags"}
	tests := []struct {
		name    string
		changes []event.Change
		want    []string
	}{
		{"none", nil, nil},
		{"the path itself", []event.Change{{Field: "meta.custom.status", Old: "draft", New: "review"}}, []string{"meta.custom.status"}},
		{"below the path", []event.Change{{Field: "info.title.en", Old: "a", New: "b"}}, []string{"info.title"}},
		{"an ancestor that changed the path", []event.Change{{Field: "meta",
			Old: map[string]any{"custom": map[string]any{"status": "draft"}},
			New: map[string]any{"custom": map[string]any{"status": "review"}}}}, []string{"meta.custom.status"}},
		{"an ancestor that left the path alone", []event.Change{{Field: "meta",
			Old: map[string]any{"custom": map[string]any{"status": "review", "owner": "ana"}},
			New: map[string]any{"custom": map[string]any{"status": "review", "owner": "bo"}}}}, nil},
		{"a sibling", []event.Change{{Field: "meta.custom.owner", Old: "ana", New: "bo"}}, nil},
		{"several", []event.Change{{Field: "tags", Old: []any{}, New: []any{"x"}}, {Field: "info.title", Old: nil, New: "T"}},
			[]string{"info.title", "tags"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if d := cmp.Diff(tc.want, Touched(tc.changes, watched)); d != "" {
				t.Errorf("Touched (-want +got):\n%s", d)
			}
		})
	}
}

func TestScheduleInTheEnvironment(t *testing.T) {
	t.Parallel()
	c, err := Compile(`event.schedule.name == "nightly" && event.schedule.id == 7 && event.actor.interface == "robot"`)
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{Type: event.AssetScheduled, Asset: map[string]any{"uuid": "a"},
		Actor: event.Actor{Username: "schedule:nightly", Interface: "robot"}, Schedule: &event.ScheduleRef{ID: 7, Name: "nightly"}}
	if ok, err := NewEvaluator().Eval(c, NewEnv(ev, nil, time.Now())); err != nil || !ok {
		t.Errorf("got %v, %v; want true", ok, err)
	}
}
