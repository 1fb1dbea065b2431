package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// scheduler runs the schedules' ticks and the housekeeping jobs on one
// robfig/cron runner. Every process sharing a Redis runs the same entries;
// a tick key taken with SET NX (scheduleStore.claimTick) lets exactly one
// of them run each tick. Schedules are reloaded when their revision
// counter moves.
type scheduler struct {
	e    *Engine
	cron *cron.Cron
	log  *slog.Logger

	// current is the loaded schedules, swapped whole; the router reads its
	// watched paths.
	current atomic.Pointer[scheduleSet]

	mu      sync.Mutex // serialises reloads and guards what follows
	rev     int64
	entries map[int64]scheduleEntry
	ctx     context.Context // the engine's, once run has started
}

// scheduleSet is an immutable view of the stored schedules.
type scheduleSet struct {
	byID map[int64]*schedCompiled
	// watched are the paths every saved condition passes to since(),
	// sorted: the paths whose change times the router records.
	watched []string
	// once are the schedules with once marks, whose marks of a removed
	// asset the router drops.
	once []int64
}

// scheduleEntry is a schedule's cron entry and the JSON it was made from.
type scheduleEntry struct {
	id  cron.EntryID
	raw string
}

func newScheduler(e *Engine) *scheduler {
	log := e.cfg.Logger.With("part", "scheduler")
	s := &scheduler{e: e, log: log, entries: map[int64]scheduleEntry{}}
	s.cron = cron.New(cron.WithLocation(time.UTC), cron.WithLogger(cronLogger{log}),
		cron.WithChain(cron.Recover(cronLogger{log})))
	s.current.Store(&scheduleSet{byID: map[int64]*schedCompiled{}})
	return s
}

// run loads the schedules, starts the cron runner with them and the
// housekeeping jobs, and polls the revision until ctx ends; then it waits
// for running jobs (which see ctx end) to return.
func (s *scheduler) run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	if err := s.reload(ctx); err != nil {
		s.log.Warn("engine: load schedules", "err", err)
	}
	for _, hk := range s.e.housekeeping() {
		s.cron.Schedule(everySchedule{hk.every}, cron.FuncJob(func() { s.housekeep(ctx, hk) }))
	}
	s.cron.Start()
	every(ctx, s.e.cfg.RevisionEvery, func() {
		rev, err := s.e.st.ScheduleRevision(ctx)
		s.mu.Lock()
		moved := err == nil && rev != s.rev
		s.mu.Unlock()
		if moved {
			if err := s.reload(ctx); err != nil {
				s.log.Warn("engine: reload schedules", "err", err)
			}
		}
	})
	<-s.cron.Stop().Done()
}

// reload reads every schedule, compiles the changed ones and brings the
// cron entries in line: a schedule changed, disabled or deleted loses its
// entry; a new or changed enabled one gets one, firing from its next tick.
func (s *scheduler) reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, rev, err := s.e.st.AllSchedules(ctx)
	if err != nil {
		return err
	}
	old := s.current.Load()
	next := &scheduleSet{byID: make(map[int64]*schedCompiled, len(all))}
	for idStr, raw := range all {
		id, _ := strconv.ParseInt(idStr, 10, 64)
		if c, ok := old.byID[id]; ok && c.raw == raw {
			next.byID[id] = c
			continue
		}
		var sc Schedule
		if err := json.Unmarshal([]byte(raw), &sc); err != nil {
			s.log.Error("engine: stored schedule does not decode", "schedule", idStr, "err", err)
			continue
		}
		c, err := compileSchedule(&sc)
		if err != nil {
			s.log.Error("engine: stored schedule does not compile", "schedule", idStr, "err", err)
			continue
		}
		c.raw = raw
		next.byID[id] = c
	}
	for id, en := range s.entries {
		if c, ok := next.byID[id]; !ok || c.raw != en.raw || c.s.Disabled {
			s.cron.Remove(en.id)
			delete(s.entries, id)
		}
	}
	for id, c := range next.byID {
		next.watched = append(next.watched, c.since...)
		if c.s.Once {
			next.once = append(next.once, id)
		}
		if _, ok := s.entries[id]; ok || c.s.Disabled || s.ctx == nil {
			continue
		}
		s.entries[id] = scheduleEntry{id: s.cron.Schedule(c.spec, s.job(id)), raw: c.raw}
	}
	slices.Sort(next.watched)
	next.watched = slices.Compact(next.watched)
	s.current.Store(next)
	s.rev = rev
	return nil
}

// job is the cron job of schedule id: it works out which tick it fires for
// and runs it, unless another process took that tick. A run still going on
// in this process when the next tick comes makes that tick skipped here
// (another process may take it).
func (s *scheduler) job(id int64) cron.Job {
	return cron.NewChain(cron.SkipIfStillRunning(cronLogger{s.log})).Then(cron.FuncJob(func() {
		c := s.current.Load().byID[id]
		if c == nil || c.s.Disabled {
			return
		}
		at, ok := lastTick(c.spec, time.Now())
		if !ok {
			s.log.Warn("engine: schedule tick skipped: its job started too late", "schedule", id)
			return
		}
		if _, err := s.e.Schedules().RunTick(s.ctx, id, at); err != nil && s.ctx.Err() == nil {
			s.log.Warn("engine: schedule tick failed", "schedule", id, "at", at, "err", err)
		}
	}))
}

// cronLogger is robfig/cron's logger on slog: its routine lines at debug.
type cronLogger struct{ l *slog.Logger }

// Info implements cron.Logger.
func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }

// Error implements cron.Logger.
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append([]any{"err", err}, kv...)...)
}
