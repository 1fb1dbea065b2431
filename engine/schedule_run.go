package engine

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// A run of a schedule walks the stored snapshots in batches of
// Config.ScheduleBatch (scheduleStore.ScanSnapshots), evaluates the
// condition on each asset of a batch, holds back those `once` already sent
// in their current version, and hands the matches to the action's sink.
// Only one batch (and, for a digest, the MaxDigest assets kept so far) is
// in memory at a time.

// schedHit is one asset a run's condition matched.
type schedHit struct {
	uuid  string
	raw   []byte // the snapshot as stored, whose digest is the once mark
	asset map[string]any
}

// schedSink is what a schedule's action does with its matches.
type schedSink interface {
	// add takes the matches of one batch, in no particular order.
	add(ctx context.Context, hits []schedHit) error
	// flush ends the run.
	flush(ctx context.Context) error
}

// scheduleSinks are the schedule action types by name, each with the
// factory of its sink for one run.
var scheduleSinks = map[string]func(r *schedRun) schedSink{
	ScheduleEvents: func(r *schedRun) schedSink { return eventSink{r} },
	ScheduleDigest: func(r *schedRun) schedSink { return &digestSink{r: r, in: map[string]bool{}} },
}

func sinkNames() []string {
	out := make([]string, 0, len(scheduleSinks))
	for n := range scheduleSinks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// schedRun is one run of one schedule at one tick.
type schedRun struct {
	e       *Engine
	c       *schedCompiled
	at      time.Time
	ref     *event.ScheduleRef
	actor   event.Actor
	matched int
	errors  int
	lastErr error
}

// runSchedule runs c's tick at and records it as the schedule's last run.
func (e *Engine) runSchedule(ctx context.Context, c *schedCompiled, at time.Time) (*ScheduleRun, error) {
	start := time.Now()
	r := &schedRun{e: e, c: c, at: at, ref: &event.ScheduleRef{ID: c.s.ID, Name: c.s.Name},
		actor: event.Actor{Username: "schedule:" + c.s.Name, Interface: "robot"}}
	err := r.walk(ctx)
	res := &ScheduleRun{At: At(at), Matched: r.matched, DurationMS: time.Since(start).Milliseconds(), Errors: r.errors}
	if err != nil {
		res.Error = err.Error()
	}
	if raw, merr := json.Marshal(res); merr == nil {
		if serr := e.st.SaveRun(context.WithoutCancel(ctx), c.s.ID, raw); serr != nil && err == nil {
			err = serr
		}
	}
	if r.lastErr != nil {
		e.cfg.Logger.Warn("engine: schedule condition failed at run time (no match)", "schedule", c.s.ID,
			"assets", r.errors, "last_err", r.lastErr)
	}
	level := slog.LevelDebug // a tick that found nothing is routine
	if r.matched > 0 || err != nil {
		level = slog.LevelInfo
	}
	e.cfg.Logger.Log(ctx, level, "engine: schedule ran", "schedule", c.s.ID, "at", at, "matched", r.matched,
		"duration_ms", res.DurationMS, "err", err)
	return res, err
}

// walk scans every snapshot and hands the matches to the action's sink.
func (r *schedRun) walk(ctx context.Context) error {
	st := r.e.st
	out := scheduleSinks[r.c.s.Action.Type](r)
	ev := rules.NewEvaluator()
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, next, err := st.ScanSnapshots(ctx, cursor, r.e.cfg.ScheduleBatch)
		if err != nil {
			return fmt.Errorf("scan snapshots: %w", err)
		}
		hits, err := r.evaluate(ctx, ev, batch)
		if err != nil {
			return err
		}
		if r.c.s.Once {
			if hits, err = r.unsent(ctx, hits); err != nil {
				return err
			}
		}
		r.matched += len(hits)
		if len(hits) > 0 {
			if err := out.add(ctx, hits); err != nil {
				return err
			}
		}
		if next == 0 {
			return out.flush(ctx)
		}
		cursor = next
	}
}

// evaluate runs the condition over one batch of snapshots, with the change
// times since() reads fetched for the whole batch in one round trip.
func (r *schedRun) evaluate(ctx context.Context, ev *rules.Evaluator, batch map[string][]byte) ([]schedHit, error) {
	uuids := make([]string, 0, len(batch))
	for u := range batch {
		uuids = append(uuids, u)
	}
	var times []map[string]int64
	if len(r.c.since) > 0 && len(uuids) > 0 {
		var err error
		if times, err = r.e.st.SinceTimes(ctx, uuids, r.c.since); err != nil {
			return nil, fmt.Errorf("read change times: %w", err)
		}
		var unseen []string
		for i, t := range times {
			if _, ok := t[store.SinceFirstSeen]; !ok {
				unseen = append(unseen, uuids[i])
			}
		}
		if err := r.e.st.MarkFirstSeen(ctx, unseen, r.at); err != nil {
			return nil, fmt.Errorf("record first seen: %w", err)
		}
	}
	var hits []schedHit
	for i, u := range uuids {
		raw := batch[u]
		var asset map[string]any
		if err := event.UnmarshalJSONNumber(raw, &asset); err != nil || asset == nil {
			r.failed(fmt.Errorf("snapshot of %s does not decode: %v", u, err))
			continue
		}
		e := &event.Event{Type: event.AssetScheduled, OccurredAt: r.at, Actor: r.actor, Asset: asset,
			Changes: []event.Change{}, Schedule: r.ref}
		env := rules.NewEnv(e, nil, r.at)
		if times != nil {
			env.WithSince(sinceLookup(times[i]))
		}
		ok, err := ev.Eval(r.c.cond, env)
		if err != nil {
			r.failed(err)
			continue
		}
		if ok {
			hits = append(hits, schedHit{uuid: u, raw: raw, asset: asset})
		}
	}
	return hits, nil
}

func (r *schedRun) failed(err error) {
	r.errors++
	r.lastErr = err
}

// sinceLookup is since()'s lookup over one asset's recorded times: the
// path's last change, else when the asset was first seen.
func sinceLookup(t map[string]int64) rules.SinceFunc {
	return func(path string) (time.Time, bool) {
		ms, ok := t[path]
		if !ok {
			ms, ok = t[store.SinceFirstSeen]
		}
		if !ok {
			return time.Time{}, false
		}
		return time.UnixMilli(ms), true
	}
}

// onceMark is the once mark of a snapshot: a digest of its bytes.
func onceMark(raw []byte) string { return hashID(string(raw)) }

// unsent drops the hits this schedule already sent in their current version.
func (r *schedRun) unsent(ctx context.Context, hits []schedHit) ([]schedHit, error) {
	if len(hits) == 0 {
		return hits, nil
	}
	uuids := make([]string, len(hits))
	for i, h := range hits {
		uuids[i] = h.uuid
	}
	marks, err := r.e.st.OnceMarks(ctx, r.c.s.ID, uuids)
	if err != nil {
		return nil, err
	}
	out := hits[:0]
	for i, h := range hits {
		if marks[i] != onceMark(h.raw) {
			out = append(out, h)
		}
	}
	return out, nil
}

// sent records, for a `once` schedule, the versions of the assets it sent.
func (r *schedRun) sent(ctx context.Context, hits []schedHit) error {
	if !r.c.s.Once || len(hits) == 0 {
		return nil
	}
	marks := make(map[string]string, len(hits))
	for _, h := range hits {
		marks[h.uuid] = onceMark(h.raw)
	}
	return r.e.st.SetOnceMarks(ctx, r.c.s.ID, marks)
}

// eventSink sends each match an ASSET_SCHEDULED event through Ingest, a
// batch at a time, routed like any event.
type eventSink struct{ r *schedRun }

// ingestChunk is the most events one Ingest call of a run carries (the
// API's batch limit).
const ingestChunk = 1000

func (s eventSink) add(ctx context.Context, hits []schedHit) error {
	for len(hits) > 0 {
		n := min(len(hits), ingestChunk)
		evs := make([]*event.Event, n)
		for i, h := range hits[:n] {
			evs[i] = &event.Event{Type: event.AssetScheduled, OccurredAt: s.r.at.UTC(), Actor: s.r.actor,
				Asset: h.asset, Schedule: s.r.ref}
		}
		if _, err := s.r.e.Ingest(ctx, evs); err != nil {
			return fmt.Errorf("queue events: %w", err)
		}
		if err := s.r.sent(ctx, hits[:n]); err != nil {
			return err
		}
		hits = hits[n:]
	}
	return nil
}

func (eventSink) flush(context.Context) error { return nil }

// digestSink keeps the MaxDigest matches with the smallest asset ids and
// sends them, in asset-id order, as one event targeted at the action's
// webhooks: one delivery per webhook per run. A run that matched nothing
// sends nothing.
type digestSink struct {
	r     *schedRun
	kept  schedHitHeap
	in    map[string]bool // uuids kept, as SCAN may return a key twice
	total int
}

func (s *digestSink) add(_ context.Context, hits []schedHit) error {
	for _, h := range hits {
		if s.in[h.uuid] {
			continue
		}
		s.total++
		if len(s.kept) < MaxDigest {
			heap.Push(&s.kept, h)
			s.in[h.uuid] = true
			continue
		}
		if h.uuid < s.kept[0].uuid {
			delete(s.in, s.kept[0].uuid)
			s.kept[0] = h
			heap.Fix(&s.kept, 0)
			s.in[h.uuid] = true
		}
	}
	return nil
}

func (s *digestSink) flush(ctx context.Context) error {
	if len(s.kept) == 0 {
		return nil
	}
	hits := slices.SortedFunc(slices.Values(s.kept), func(a, b schedHit) int {
		switch {
		case a.uuid < b.uuid:
			return -1
		case a.uuid > b.uuid:
			return 1
		}
		return 0
	})
	assets := make([]map[string]any, len(hits))
	for i, h := range hits {
		assets[i] = h.asset
	}
	ev := &event.Event{Type: event.AssetScheduled, OccurredAt: s.r.at.UTC(), Actor: s.r.actor, Assets: assets,
		Schedule: s.r.ref, Truncated: s.total > len(hits), Targets: s.r.c.s.Action.WebhookIDs}
	if _, err := s.r.e.Ingest(ctx, []*event.Event{ev}); err != nil {
		return fmt.Errorf("queue digest: %w", err)
	}
	return s.r.sent(ctx, hits)
}

// schedHitHeap is a max-heap of hits by uuid: its root is the largest uuid kept.
type schedHitHeap []schedHit

// Len, Less, Swap, Push and Pop implement heap.Interface.
func (h schedHitHeap) Len() int           { return len(h) }
func (h schedHitHeap) Less(i, j int) bool { return h[i].uuid > h[j].uuid }
func (h schedHitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *schedHitHeap) Push(x any)        { *h = append(*h, x.(schedHit)) }
func (h *schedHitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
