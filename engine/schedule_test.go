package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// never is a cron that does not fire during a test (midnight, January 1st):
// tests that drive ticks themselves (RunTick) use it.
const never = "0 0 1 1 *"

// scheduleHook creates a webhook to a recording receiver for the triggers.
func scheduleHook(t *testing.T, e *engine.Engine, name string, triggers ...string) (*apitest.Receiver, *engine.Webhook) {
	t.Helper()
	rc := apitest.NewReceiver(t)
	c, err := actions.DecodeConfig(map[string]any{"http_url": rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	w := &engine.Webhook{Name: name, Triggers: triggers, WebhookConfig: c}
	if err := e.Webhooks().Create(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return rc, w
}

// reviewAsset is a stored asset in a review status.
func reviewAsset(uuid, status string) map[string]any {
	return map[string]any{"uuid": uuid, "name": uuid + ".jpg", "path": "/shop",
		"meta": map[string]any{"custom": map[string]any{"status": status}}}
}

// putAssets writes snapshots as the engine keeps them.
func putAssets(t *testing.T, e *engine.Engine, assets ...map[string]any) {
	t.Helper()
	m := make(map[string]map[string]any, len(assets))
	for _, a := range assets {
		m[a["uuid"].(string)] = a
	}
	if err := e.Assets().Put(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func createSchedule(t *testing.T, e *engine.Engine, s *engine.Schedule) *engine.Schedule {
	t.Helper()
	if err := e.Schedules().Create(context.Background(), s); err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
	return s
}

// scheduledBody is the part of a delivered ASSET_SCHEDULED body the tests read.
type scheduledBody struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		Asset     map[string]any     `json:"asset"`
		Assets    []map[string]any   `json:"assets"`
		Actor     event.Actor        `json:"actor"`
		Schedule  *event.ScheduleRef `json:"schedule"`
		Truncated *bool              `json:"truncated"`
		Changes   []map[string]any   `json:"changes"`
	} `json:"data"`
}

func scheduledBodies(t *testing.T, reqs []apitest.Request) []scheduledBody {
	t.Helper()
	out := make([]scheduledBody, 0, len(reqs))
	for _, r := range reqs {
		var b scheduledBody
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("delivered body is not JSON: %v: %s", err, r.Body)
		}
		out = append(out, b)
	}
	return out
}

// uuids are the asset ids of ASSET_SCHEDULED bodies, sorted.
func uuids(bs []scheduledBody) []string {
	var out []string
	for _, b := range bs {
		if b.Data.Asset != nil {
			out = append(out, b.Data.Asset["uuid"].(string))
		}
	}
	sort.Strings(out)
	return out
}

// drained waits until every event is routed and every delivery attempted
// (acknowledged entries are deleted from both streams).
func drained(t *testing.T, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	redistest.Eventually(t, 30*time.Second, func() bool {
		ctx := context.Background()
		for _, pp := range partPrefixes(rdb, prefix) {
			a, err1 := rdb.XLen(ctx, pp+":events").Result()
			b, err2 := rdb.XLen(ctx, pp+":deliveries").Result()
			if err1 != nil || err2 != nil || a != 0 || b != 0 {
				return false
			}
		}
		return true
	}, "streams drained")
}

// TestScheduleFires: an @every 1s schedule fires by itself; its condition
// selects exactly the assets in review, each of which is delivered an
// ASSET_SCHEDULED event from the schedule's robot, with data.schedule, to
// the webhook subscribed to that type.
func TestScheduleFires(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		e := startEngine(t, rdb, prefix, engine.Config{Workers: 16})
		rc, _ := scheduleHook(t, e, "reviewers", event.AssetScheduled)
		putAssets(t, e, reviewAsset("a1", "review"), reviewAsset("a2", "approved"), reviewAsset("a3", "review"),
			map[string]any{"uuid": "a4"}, reviewAsset("a5", "draft"))
		s := createSchedule(t, e, &engine.Schedule{Name: "nudge", Cron: "@every 1s",
			Condition: `asset.meta?.custom?.status == "review"`})

		got := scheduledBodies(t, rc.Wait(t, 2, 20*time.Second))[:2]
		if d := cmp.Diff([]string{"a1", "a3"}, uuids(got)); d != "" {
			t.Fatalf("first tick's assets (-want +got):\n%s", d)
		}
		for _, b := range got {
			if b.Type != event.AssetScheduled || b.Data.Actor != (event.Actor{Username: "schedule:nudge", Interface: "robot"}) ||
				b.Data.Schedule == nil || *b.Data.Schedule != (event.ScheduleRef{ID: s.ID, Name: "nudge"}) || len(b.Data.Changes) != 0 {
				t.Errorf("delivered %+v", b)
			}
		}
		redistest.Eventually(t, 10*time.Second, func() bool {
			runs, err := e.Schedules().Runs(context.Background(), []int64{s.ID})
			return err == nil && runs[s.ID] != nil && runs[s.ID].Matched == 2
		}, "last_run recorded with 2 matches")
	})
}

// TestScheduleSelects: over one tick (run at a chosen time), the condition
// sees every stored asset, with now() the tick's time, and the receiver gets
// exactly the matching ones; a removed asset is not seen.
func TestScheduleSelects(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		e := startEngine(t, rdb, prefix, engine.Config{Workers: 16, ScheduleBatch: 7})
		rc, _ := scheduleHook(t, e, "expiring", event.AssetScheduled)
		at := time.Date(2030, 3, 4, 7, 0, 0, 0, time.UTC)
		var assets []map[string]any
		var want []string
		for i := range 60 {
			u := fmt.Sprintf("exp-%02d", i)
			days := i%20 - 5 // expired, this week, later
			assets = append(assets, map[string]any{"uuid": u,
				"meta": map[string]any{"custom": map[string]any{"expires_at": at.Add(time.Duration(days) * 24 * time.Hour).Format(time.RFC3339)}}})
			if days > 0 && days <= 7 && i != 7 {
				want = append(want, u)
			}
		}
		assets = append(assets, map[string]any{"uuid": "no-expiry"})
		putAssets(t, e, assets...)
		if _, err := e.Ingest(ctx, []*event.Event{{Type: event.AssetRemoved, Asset: map[string]any{"uuid": "exp-07"}}}); err != nil {
			t.Fatal(err)
		}
		drained(t, rdb, prefix)
		s := createSchedule(t, e, &engine.Schedule{Name: "expiring this week", Cron: never, Timezone: "Europe/Paris",
			Condition: `let exp = asset.meta?.custom?.expires_at; exp != nil && date(exp) > now() && date(exp) <= now() + duration("168h")`})
		run, err := e.Schedules().RunTick(ctx, s.ID, at)
		if err != nil || run == nil {
			t.Fatalf("RunTick: %+v, %v", run, err)
		}
		if run.Matched != len(want) || run.Errors != 0 || !run.At.Equal(at) {
			t.Errorf("run %+v, want %d matched at %s without errors", run, len(want), at)
		}
		rc.Wait(t, len(want), 20*time.Second)
		drained(t, rdb, prefix)
		got := scheduledBodies(t, rc.Requests())
		if d := cmp.Diff(want, uuids(got)); d != "" {
			t.Errorf("delivered assets (-want +got):\n%s", d)
		}
		for _, b := range got {
			if b.Timestamp != "2030-03-04T07:00:00.000Z" {
				t.Errorf("timestamp %s, want the tick's time", b.Timestamp)
			}
		}
	})
}

// TestScheduleDigest: a digest sends each of its webhooks one delivery per
// run, whatever their triggers and conditions, with the matches in asset-id
// order (at most MaxDigest, then truncated), data.schedule and truncated;
// other webhooks, even subscribed to ASSET_SCHEDULED, and a disabled
// target get nothing. A run with no match sends nothing.
func TestScheduleDigest(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		e := startEngine(t, rdb, prefix, engine.Config{Workers: 16})
		target, tw := scheduleHook(t, e, "digest target", "ASSET_ADDED")
		tw.Condition = `false`
		if err := e.Webhooks().Update(ctx, tw); err != nil {
			t.Fatal(err)
		}
		other, _ := scheduleHook(t, e, "subscriber", "*")
		_, off := scheduleHook(t, e, "disabled target", "ASSET_ADDED")
		off.Disabled = true
		if err := e.Webhooks().Update(ctx, off); err != nil {
			t.Fatal(err)
		}
		var assets []map[string]any
		for i := range engine.MaxDigest + 5 {
			assets = append(assets, map[string]any{"uuid": fmt.Sprintf("d-%04d", 2*i), "tags": []any{}})
		}
		assets = append(assets, map[string]any{"uuid": "d-0001", "tags": []any{"ok"}})
		putAssets(t, e, assets...)
		s := createSchedule(t, e, &engine.Schedule{Name: "untagged", Cron: never, Condition: `len(asset.tags ?? []) == 0`,
			Action: engine.ScheduleAction{Type: engine.ScheduleDigest, WebhookIDs: []int64{off.ID, tw.ID}}})
		run, err := e.Schedules().RunTick(ctx, s.ID, time.Now().Truncate(time.Second))
		if err != nil || run.Matched != engine.MaxDigest+5 {
			t.Fatalf("RunTick: %+v, %v", run, err)
		}
		got := scheduledBodies(t, target.Wait(t, 1, 20*time.Second))
		drained(t, rdb, prefix)
		if n := target.Count(); n != 1 {
			t.Fatalf("the target got %d deliveries, want 1", n)
		}
		d := got[0].Data
		if len(d.Assets) != engine.MaxDigest || d.Truncated == nil || !*d.Truncated || d.Schedule == nil || d.Schedule.ID != s.ID ||
			d.Asset != nil || d.Actor.Username != "schedule:untagged" {
			t.Fatalf("digest: %d assets, truncated %v, schedule %v, asset %v, actor %v", len(d.Assets), d.Truncated, d.Schedule, d.Asset, d.Actor)
		}
		for i, a := range d.Assets {
			if want := fmt.Sprintf("d-%04d", 2*i); a["uuid"] != want {
				t.Fatalf("digest asset %d is %v, want %s (asset-id order)", i, a["uuid"], want)
			}
		}
		if n := other.Count(); n != 0 {
			t.Errorf("a webhook outside the digest got %d deliveries", n)
		}

		// Nothing matches: no delivery.
		s.Condition = `asset.uuid == "nobody"`
		if err := e.Schedules().Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		run, err = e.Schedules().RunTick(ctx, s.ID, time.Now().Truncate(time.Second).Add(time.Second))
		if err != nil || run.Matched != 0 {
			t.Fatalf("RunTick: %+v, %v", run, err)
		}
		drained(t, rdb, prefix)
		if n := target.Count(); n != 1 {
			t.Errorf("an empty run sent a digest: %d deliveries", n)
		}

		// With once, a digest marks what it held: the 5 left out come next.
		o := createSchedule(t, e, &engine.Schedule{Name: "untagged once", Cron: never, Once: true, Condition: `len(asset.tags ?? []) == 0`,
			Action: engine.ScheduleAction{Type: engine.ScheduleDigest, WebhookIDs: []int64{tw.ID}}})
		at := time.Now().Truncate(time.Second).Add(5 * time.Second)
		for i, want := range []int{engine.MaxDigest + 5, 5, 0} {
			run, err := e.Schedules().RunTick(ctx, o.ID, at.Add(time.Duration(i)*time.Second))
			if err != nil || run.Matched != want {
				t.Fatalf("once digest run %d: %+v, %v; want %d matched", i, run, err, want)
			}
		}
		got = scheduledBodies(t, target.Wait(t, 3, 20*time.Second))
		drained(t, rdb, prefix)
		// Deliveries carry no order promise: find the once schedule's
		// second digest among the three by what it holds.
		var rest []int
		for i, b := range got {
			if len(b.Data.Assets) == 5 {
				rest = append(rest, i)
			}
		}
		if target.Count() != 3 || len(rest) != 1 {
			t.Fatalf("%d digests, %d of them with 5 assets; want 3 digests, one with the 5 left out", target.Count(), len(rest))
		}
		if last := got[rest[0]].Data; *last.Truncated || last.Assets[0]["uuid"] != fmt.Sprintf("d-%04d", 2*engine.MaxDigest) {
			t.Errorf("the digest of the 5 left out starts at %v, truncated %v; want d-%04d, not truncated",
				last.Assets[0]["uuid"], *last.Truncated, 2*engine.MaxDigest)
		}
	})
}

// TestScheduleOnce: with once, an asset sent by a tick is not sent again by
// the next ones until its snapshot changes (or it is removed and comes
// back); a schedule without once sends every time.
func TestScheduleOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		e := startEngine(t, rdb, prefix, engine.Config{Workers: 16})
		rc, _ := scheduleHook(t, e, "once", event.AssetScheduled)
		putAssets(t, e, reviewAsset("o1", "review"), reviewAsset("o2", "review"), reviewAsset("o3", "approved"))
		once := createSchedule(t, e, &engine.Schedule{Name: "once", Cron: never, Once: true,
			Condition: `asset.meta.custom.status == "review"`})
		always := createSchedule(t, e, &engine.Schedule{Name: "always", Cron: never,
			Condition: `asset.meta.custom.status == "review"`})
		at := time.Now().Truncate(time.Second)
		tick := func(s *engine.Schedule, n int) {
			t.Helper()
			at = at.Add(time.Second)
			run, err := e.Schedules().RunTick(ctx, s.ID, at)
			if err != nil || run == nil || run.Matched != n {
				t.Fatalf("%s at %s: %+v, %v; want %d matched", s.Name, at, run, err, n)
			}
		}
		tick(once, 2)
		tick(once, 0)
		tick(always, 2)
		tick(always, 2)
		// o1 changes (an event from the DAM); o2 is sent the same again.
		if _, err := e.Ingest(ctx, []*event.Event{{Type: "ASSET_EDITED_INFO",
			Asset: map[string]any{"uuid": "o1", "name": "o1.jpg", "path": "/shop", "info": map[string]any{"title": "T"},
				"meta": map[string]any{"custom": map[string]any{"status": "review"}}}}}); err != nil {
			t.Fatal(err)
		}
		drained(t, rdb, prefix)
		tick(once, 1)
		tick(once, 0)
		// o2 is removed: its mark goes; stored again as it was, it is new.
		if _, err := e.Ingest(ctx, []*event.Event{{Type: event.AssetRemoved, Asset: map[string]any{"uuid": "o2"}}}); err != nil {
			t.Fatal(err)
		}
		drained(t, rdb, prefix)
		if ok, err := rdb.HExists(ctx, fmt.Sprintf("%s:sched:%d:once", prefix, once.ID), "o2").Result(); err != nil || ok {
			t.Errorf("the removed asset's once mark is kept (%v)", err)
		}
		putAssets(t, e, reviewAsset("o2", "review"))
		tick(once, 1)
		rc.Wait(t, 2+4+1+1, 20*time.Second)
		drained(t, rdb, prefix)
		var fromOnce []string
		for _, b := range scheduledBodies(t, rc.Requests()) {
			if b.Data.Schedule.ID == once.ID {
				fromOnce = append(fromOnce, b.Data.Asset["uuid"].(string))
			}
		}
		slices.Sort(fromOnce)
		if d := cmp.Diff([]string{"o1", "o1", "o2", "o2"}, fromOnce); d != "" {
			t.Errorf("once schedule sent (-want +got):\n%s", d)
		}
		if n := rc.Count(); n != 8 {
			t.Errorf("%d deliveries, want 8", n)
		}
	})
}

// TestScheduleSince: since(path) measures from the last change of the
// value at path, recorded by the router from the changes it derives; an
// asset whose value never changed counts from when it was first seen; an
// asset stored before any schedule read since() counts from the first scan.
func TestScheduleSince(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		e := startEngine(t, rdb, prefix, engine.Config{Workers: 16})
		putAssets(t, e, reviewAsset("old-stock", "review")) // before any schedule: no change times
		s := createSchedule(t, e, &engine.Schedule{Name: "stuck in review", Cron: never,
			Condition: `asset.meta.custom.status == "review" && since("meta.custom.status") > duration("168h")`})
		now := time.Now()
		ago := func(days float64) time.Time { return now.Add(-time.Duration(days * float64(24*time.Hour))) }
		edit := func(uuid, status, title string, at time.Time) *event.Event {
			a := reviewAsset(uuid, status)
			a["info"] = map[string]any{"title": title}
			return &event.Event{Type: "ASSET_EDITED_METADATA", OccurredAt: at, Asset: a}
		}
		evs := []*event.Event{
			// changed to review 8 days ago: stuck
			edit("a", "draft", "A", ago(10)), edit("a", "review", "A", ago(8)),
			// in review for 10 days; only its title changed since: stuck
			edit("b", "review", "B", ago(10)), edit("b", "review", "B2", ago(2)),
			// back to review yesterday: not stuck
			edit("c", "review", "C", ago(9)), edit("c", "approved", "C", ago(3)), edit("c", "review", "C", ago(1)),
			// first seen in review 9 days ago, never changed: stuck
			{Type: "ASSET_ADDED", OccurredAt: ago(9), Asset: reviewAsset("d", "review")},
			// first seen in review 2 days ago: not stuck
			{Type: "ASSET_ADDED", OccurredAt: ago(2), Asset: reviewAsset("e", "review")},
		}
		if _, err := e.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
		drained(t, rdb, prefix)
		rc, _ := scheduleHook(t, e, "nudges", event.AssetScheduled)
		run, err := e.Schedules().RunTick(ctx, s.ID, now)
		if err != nil || run.Errors != 0 {
			t.Fatalf("RunTick: %+v, %v", run, err)
		}
		rc.Wait(t, run.Matched, 20*time.Second)
		drained(t, rdb, prefix)
		if d := cmp.Diff([]string{"a", "b", "d"}, uuids(scheduledBodies(t, rc.Requests()))); d != "" {
			t.Errorf("stuck in review (-want +got):\n%s", d)
		}
		// old-stock was first seen by that scan: 8 days on, it is stuck
		// too, with every other asset.
		run, err = e.Schedules().RunTick(ctx, s.ID, now.Add(8*24*time.Hour))
		if err != nil || run.Matched != 6 {
			t.Errorf("8 days later: %+v, %v; want all 6 assets", run, err)
		}
	})
}

// TestScheduleTwoEngines: two engines on one Redis run the same schedules,
// yet each tick fires once: a tick is taken by one of them, and every
// tick's events carry its own time.
func TestScheduleTwoEngines(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		a := startEngine(t, rdb, prefix, engine.Config{Workers: 16})
		b := startEngine(t, rdb, prefix, engine.Config{Workers: 16})
		rc, _ := scheduleHook(t, a, "ticks", event.AssetScheduled)
		putAssets(t, a, reviewAsset("t1", "review"))
		manual := createSchedule(t, a, &engine.Schedule{Name: "manual", Cron: never, Condition: `true`})
		if err := b.Reload(ctx); err != nil {
			t.Fatal(err)
		}

		// The same tick asked of both engines at once runs once.
		at := time.Now().Truncate(time.Second)
		var wg sync.WaitGroup
		ran := make([]*engine.ScheduleRun, 2)
		for i, e := range []*engine.Engine{a, b} {
			wg.Go(func() {
				r, err := e.Schedules().RunTick(ctx, manual.ID, at)
				if err != nil {
					t.Error(err)
				}
				ran[i] = r
			})
		}
		wg.Wait()
		if (ran[0] == nil) == (ran[1] == nil) {
			t.Fatalf("tick ran on %v and %v, want exactly one", ran[0] != nil, ran[1] != nil)
		}

		// Cron ticks every second on both engines: each tick once.
		auto := createSchedule(t, a, &engine.Schedule{Name: "auto", Cron: "@every 1s", Condition: `true`})
		const ticks = 4
		redistest.Eventually(t, 30*time.Second, func() bool {
			n := 0
			for _, body := range scheduledBodies(t, rc.Requests()) {
				if body.Data.Schedule.ID == auto.ID {
					n++
				}
			}
			return n >= ticks
		}, "%d ticks delivered", ticks)
		if err := a.Schedules().Update(ctx, &engine.Schedule{ID: auto.ID, Name: "auto", Cron: "@every 1s", Condition: `true`, Disabled: true}); err != nil {
			t.Fatal(err)
		}
		drained(t, rdb, prefix)
		seen := map[string]int{}
		for _, body := range scheduledBodies(t, rc.Requests()) {
			if body.Data.Schedule.ID == auto.ID {
				seen[body.Timestamp]++
			}
		}
		for ts, n := range seen {
			if n != 1 {
				t.Errorf("tick %s delivered %d times, want once", ts, n)
			}
		}
		if len(seen) < ticks {
			t.Errorf("%d ticks, want at least %d", len(seen), ticks)
		}
	})
}

// TestScheduleHousekeeping: a housekeeping job's tick runs on one engine
// only, and the delivery-index job drops index entries older than the
// records' lifetime.
func TestScheduleHousekeeping(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		a := startEngine(t, rdb, prefix, engine.Config{RecordTTL: time.Hour})
		b := startEngine(t, rdb, prefix, engine.Config{RecordTTL: time.Hour})
		_, w := scheduleHook(t, a, "indexed", "ASSET_ADDED")
		key := fmt.Sprintf("%s:wh:%d:dlv", prefix, w.ID)
		now := time.Now()
		if err := rdb.ZAdd(ctx, key, redis.Z{Score: float64(now.Add(-2 * time.Hour).UnixMilli()), Member: "msg_old"},
			redis.Z{Score: float64(now.UnixMilli()), Member: "msg_new"}).Err(); err != nil {
			t.Fatal(err)
		}
		at := now.Truncate(time.Hour)
		ranA, errA := a.RunHousekeeping(ctx, "delivery-index", at)
		ranB, errB := b.RunHousekeeping(ctx, "delivery-index", at)
		if errA != nil || errB != nil || !ranA || ranB {
			t.Fatalf("ran on a: %v (%v), on b: %v (%v); want a only", ranA, errA, ranB, errB)
		}
		left, err := rdb.ZRange(ctx, key, 0, -1).Result()
		if err != nil || !slices.Equal(left, []string{"msg_new"}) {
			t.Errorf("index left %v (%v), want only the recent entry", left, err)
		}
		if _, err := a.RunHousekeeping(ctx, "nothing-by-that-name", at); err != engine.ErrNotFound {
			t.Errorf("unknown job: %v", err)
		}
	})
}
