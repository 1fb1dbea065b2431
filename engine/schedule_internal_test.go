package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/internal/secret"
)

func TestScheduleParseCron(t *testing.T) {
	t.Parallel()
	paris, err := LoadZone("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC) // the day before Paris moves to summer time
	tests := []struct {
		spec string
		loc  *time.Location
		next time.Time // the tick after from; zero for a refused spec
	}{
		{"0 7 * * *", paris, time.Date(2026, 3, 29, 5, 0, 0, 0, time.UTC)}, // 07:00 CEST
		{"0 7 * * *", time.UTC, time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)},
		{"30 0 7 * * *", time.UTC, time.Date(2026, 3, 29, 7, 0, 30, 0, time.UTC)}, // seconds first
		{"*/15 * * * *", time.UTC, time.Date(2026, 3, 28, 12, 15, 0, 0, time.UTC)},
		{"@hourly", time.UTC, time.Date(2026, 3, 28, 13, 0, 0, 0, time.UTC)},
		{"@daily", paris, time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC)},
		{"@weekly", time.UTC, time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)}, // Sunday
		{"@monthly", time.UTC, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"@every 90s", time.UTC, time.Date(2026, 3, 28, 12, 1, 30, 0, time.UTC)},
		{" @every 1h ", time.UTC, time.Date(2026, 3, 28, 13, 0, 0, 0, time.UTC)},
		{"TZ=Europe/Paris 0 7 * * *", time.UTC, time.Time{}},
		{"CRON_TZ=Europe/Paris 0 7 * * *", time.UTC, time.Time{}},
		{"TZ=", time.UTC, time.Time{}},         // robfig#554: panics in robfig/cron
		{"CRON_TZ=UTC", time.UTC, time.Time{}}, // robfig#555
		{"tz=UTC 0 7 * * *", time.UTC, time.Time{}},
		{"", time.UTC, time.Time{}},
		{"* * *", time.UTC, time.Time{}},
		{"61 * * * *", time.UTC, time.Time{}},
		{"0 0 30 2 *", time.UTC, time.Time{}}, // never fires
		{"@every 500ms", time.UTC, time.Time{}},
		{"@every 1.5s", time.UTC, time.Time{}},
		{"@every -1s", time.UTC, time.Time{}},
		{"@every", time.UTC, time.Time{}},
		{"@yearly-ish", time.UTC, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			s, err := ParseCron(tc.spec, tc.loc)
			if tc.next.IsZero() {
				var pe *problem.Error
				if !errors.As(err, &pe) || pe.Kind != problem.KindInvalid || pe.Field != "cron" {
					t.Fatalf("ParseCron: %v, want a 422 naming cron", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCron: %v", err)
			}
			if got := s.Next(from); !got.Equal(tc.next) {
				t.Errorf("next after %s: %s, want %s", from, got.UTC(), tc.next)
			}
		})
	}
}

func TestScheduleZones(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{"": true, "UTC": true, "Europe/Paris": true, "America/Argentina/Buenos_Aires": true,
		"Local": false, "Mars/Olympus": false, "../etc/passwd": false, "europe/paris": false} {
		if _, err := LoadZone(name); (err == nil) != ok {
			t.Errorf("LoadZone(%q): %v", name, err)
		}
	}
}

func TestScheduleLastTick(t *testing.T) {
	t.Parallel()
	s, _ := ParseCron("*/5 * * * *", time.UTC)
	tick := time.Date(2026, 1, 1, 10, 5, 0, 0, time.UTC)
	for _, late := range []time.Duration{0, 3 * time.Millisecond, 59 * time.Second} {
		if got, ok := lastTick(s, tick.Add(late)); !ok || !got.Equal(tick) {
			t.Errorf("fired %s late: tick %s %v, want %s", late, got, ok, tick)
		}
	}
	if got, ok := lastTick(s, tick.Add(2*time.Minute)); ok {
		t.Errorf("a job 2 minutes late found tick %s; want none (skipped)", got)
	}
	every, _ := ParseCron("@every 10s", time.UTC)
	// Anchored to the clock: processes started at different times agree.
	if a, b := every.Next(tick.Add(1234*time.Millisecond)), every.Next(tick.Add(7*time.Second)); !a.Equal(b) || !a.Equal(tick.Add(10*time.Second)) {
		t.Errorf("@every 10s: next %s and %s, want both %s", a, b, tick.Add(10*time.Second))
	}
}

// TestScheduleNotReplayed: a tick that passed while no process ran is not
// run when one starts; the first tick it runs is the next one.
func TestScheduleNotReplayed(t *testing.T) {
	rdb, prefix := redistest.Open(t, redistest.Embedded)
	box, _ := secret.NewBox("test-secret-key-0123456789abcdef-0123456789")
	e, err := New(store.New(rdb, prefix), Config{Box: box})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := &Schedule{Name: "hourly", Cron: "@hourly", Condition: "true"}
	if err := e.Schedules().Create(ctx, s); err != nil { // no process runs: not started
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	redistest.Eventually(t, 5*time.Second, func() bool { return len(e.sched.cron.Entries()) == 2 }, "entries")
	for _, en := range e.sched.cron.Entries() {
		if !en.Next.After(start) || !en.Prev.IsZero() {
			t.Errorf("entry next %s, prev %s; want the next tick after the start %s and none before", en.Next, en.Prev, start)
		}
	}
	if runs, _ := e.Schedules().Runs(ctx, []int64{s.ID}); runs[s.ID] != nil {
		t.Errorf("ran at start: %+v", runs[s.ID])
	}
}
