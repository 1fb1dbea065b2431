package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// Engine routes and delivers events; its methods are also the stores the API
// reads and writes. Create it with New, run it with Start, end it with Stop.
type Engine struct {
	st  *store.Store
	cfg Config
	// gaugesAt is when the queue gauges were last read (unix ms).
	gaugesAt atomic.Int64

	state atomic.Pointer[state]
	// ruleLogged holds, per webhook, when a run-time rule error was last logged.
	ruleLogged sync.Map
	// sampled holds, per event type, when this process last kept a sample.
	sampled sync.Map
	mu      sync.Mutex // serialises reloads

	stopOnce sync.Once
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  atomic.Bool
	workers  *workers
	// aborts holds the abort marks of deliveries not finished, refreshed
	// when the abort counter moves.
	aborts abortMarks
	// commits feeds the ingest committers; closed ends them at Stop.
	commits    chan *ingestReq
	commitOnce sync.Once
	closed     chan struct{}
	// reclaimed is closed when the reclaimer has stopped, so that the
	// workers stop taking jobs from it before they shut down.
	reclaimed chan struct{}
	sched     *scheduler // schedules: cron ticks, scans and housekeeping (schedule*.go)

	// rosterSaved is the rosterMark of the roster this process last stored.
	rosterSaved atomic.Value
	// paths caches the asset paths of recent stored events (validation
	// warnings).
	paths pathCache
}

// state is an immutable view of the configured webhooks, swapped whole when
// the revision counter moves.
type state struct {
	rev   int64
	hooks map[int64]*hook
	index *rules.Index
	// markers maps a marker name to the webhooks it fires directly.
	markers map[string][]int64
	// roster lists the webhooks for the routing traces.
	roster *store.Roster
}

// hook is a webhook compiled for routing and delivery.
type hook struct {
	w        *Webhook // secrets opened
	rule     *rules.Rule
	action   actions.Action
	tmpl     *rules.Template
	schedule []time.Duration
	raw      string // the stored JSON, to reuse the compiled hook while unchanged
	// plain is set when the action sends the event's default json body as
	// is (no fields, no template), which the router then hands it ready.
	plain bool
	// rate is the webhook's rate limit (attempts per second), 0 for none.
	rate int
	// host is the target's host:port, whose budget its deliveries share;
	// "" for an action without a URL.
	host string
}

// sendsDefault reports whether the hook sends the default json body.
func (h *hook) sendsDefault() bool { return h.plain }

// New returns an engine on st; it validates cfg after filling in defaults.
func New(st *store.Store, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{st: st, cfg: cfg, commits: make(chan *ingestReq), closed: make(chan struct{})}
	e.state.Store(&state{hooks: map[int64]*hook{}, index: rules.NewIndex(nil), markers: map[string][]int64{},
		roster: buildRoster(nil)})
	e.sched = newScheduler(e) // schedules
	return e, nil
}

// Config returns the engine's configuration, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Store returns the engine's storage layer.
func (e *Engine) Store() *store.Store { return e.st }

// Metrics returns the engine's metrics.
func (e *Engine) Metrics() *Metrics { return e.cfg.Metrics }

// Start checks that the deployment runs this store's number of partitions
// (store.CheckPartitions), creates the consumer groups, loads the webhooks
// and starts the
// router, the workers, the scheduler and the reloader. They run until Stop or
// until ctx ends; Redis being away is waited out, not fatal.
func (e *Engine) Start(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("engine: already started")
	}
	if err := e.st.CheckPartitions(ctx); err != nil {
		return err
	}
	if err := e.st.EnsureGroups(ctx); err != nil {
		return err
	}
	if err := e.Reload(ctx); err != nil {
		return err
	}
	ctx, e.cancel = context.WithCancel(ctx)
	e.workers = newWorkers(e)
	e.reclaimed = make(chan struct{})
	e.run(ctx, "reloader", e.reloadLoop)
	e.run(ctx, "router", e.routeLoop)
	e.run(ctx, "scheduler", e.promoteLoop)
	e.run(ctx, "reclaimer", func(ctx context.Context) { defer close(e.reclaimed); e.reclaimLoop(ctx) })
	e.run(ctx, "workers", e.workers.run)
	e.run(ctx, "schedules", e.sched.run) // schedules: cron ticks and housekeeping, once per tick across processes
	return nil
}

func (e *Engine) run(ctx context.Context, name string, f func(context.Context)) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f(ctx)
		e.cfg.Logger.Debug("engine: stopped", "part", name)
	}()
}

// Stop ends every loop and waits for in-flight deliveries to finish and be
// recorded (or to stay pending for another process). It is idempotent.
func (e *Engine) Stop() {
	e.stopOnce.Do(func() {
		if e.cancel != nil {
			e.cancel()
		}
		e.wg.Wait()
		close(e.closed)
	})
}

func (e *Engine) reloadLoop(ctx context.Context) {
	every(ctx, e.cfg.RevisionEvery, func() {
		rev, aborts, err := e.st.Revision(ctx)
		if err != nil {
			return
		}
		e.aborts.refresh(ctx, e.st, aborts)
		if rev != e.state.Load().rev {
			if err := e.Reload(ctx); err != nil {
				e.cfg.Logger.Warn("engine: reload webhooks", "err", err)
			}
		}
	})
}

// Reload reads every webhook and marker binding and swaps in a freshly
// compiled state; unchanged webhooks keep their compiled hook (and so their
// cached OAuth2 token).
func (e *Engine) Reload(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rev, _, err := e.st.Revision(ctx)
	if err != nil {
		return fmt.Errorf("engine: read revision: %w", err)
	}
	all, err := e.st.Webhooks(ctx)
	if err != nil {
		return fmt.Errorf("engine: read webhooks: %w", err)
	}
	old := e.state.Load()
	next := &state{rev: rev, hooks: make(map[int64]*hook, len(all)), markers: map[string][]int64{}}
	var rs []*rules.Rule
	for id, doc := range all {
		raw := string(doc)
		idStr := itoa64(id)
		if h, ok := old.hooks[id]; ok && h.raw == raw {
			next.hooks[id] = h
			rs = append(rs, h.rule)
			continue
		}
		var w Webhook
		if err := json.Unmarshal([]byte(raw), &w); err != nil {
			e.cfg.Logger.Error("engine: stored webhook does not decode", "webhook", idStr, "err", err)
			continue
		}
		if err := w.Open(e.cfg.Box); err != nil {
			e.cfg.Logger.Error("engine: stored webhook secrets do not open (wrong ASSETHOOKS_SECRET_KEY?)", "webhook", idStr)
			continue
		}
		h, err := e.compile(&w)
		if err != nil {
			e.cfg.Logger.Error("engine: stored webhook does not compile", "webhook", idStr, "err", err)
			continue
		}
		h.raw = raw
		next.hooks[id] = h
		rs = append(rs, h.rule)
	}
	next.index = rules.NewIndex(rs)
	next.roster = buildRoster(next.hooks)
	markers, err := e.st.Markers(ctx)
	if err == nil {
		for name, raw := range markers {
			var m struct {
				WebhookIDs []int64 `json:"webhook_ids"`
			}
			if json.Unmarshal(raw, &m) == nil && len(m.WebhookIDs) > 0 {
				next.markers[name] = m.WebhookIDs
			}
		}
	}
	e.state.Store(next)
	return nil
}

// compile checks and builds a webhook: its condition, template, retry
// schedule and action. Errors are client errors naming the field.
func (e *Engine) compile(w *Webhook) (*hook, error) {
	h := &hook{w: w, schedule: e.cfg.RetrySchedule, host: hostOf(w.URL)}
	if w.RateLimit != nil {
		if *w.RateLimit < 1 || *w.RateLimit > MaxRateLimit {
			return nil, problem.Invalid("rate_limit", *w.RateLimit, "Must be an Integer from 1 to 10000, or null")
		}
		h.rate = *w.RateLimit
	}
	rule := &rules.Rule{ID: w.ID, Triggers: w.Triggers, ProjectID: w.ProjectID, Folder: w.Folder,
		Users: w.Users, Disabled: w.Disabled}
	if w.Condition != "" {
		c, err := rules.Compile(w.Condition)
		if err != nil {
			return nil, compileProblem("condition", err)
		}
		rule.Condition = c
	}
	h.rule = rule
	if w.Body.Template != "" {
		t, err := rules.CompileTemplate(w.Body.Template)
		if err != nil {
			return nil, compileProblem("body.template", err)
		}
		h.tmpl = t
	}
	if len(w.RetrySchedule) > 0 {
		s, err := ParseSchedule(w.RetrySchedule)
		if err != nil {
			return nil, err
		}
		h.schedule = s
	}
	cfg, err := json.Marshal(w.WebhookConfig)
	if err != nil {
		return nil, err
	}
	a, err := e.cfg.Registry.New(w.actionType(), cfg, e.cfg.Actions)
	if err != nil {
		return nil, err
	}
	h.action = a
	if db, ok := a.(actions.DefaultBody); ok && db.SendsDefaultJSON() && h.tmpl == nil {
		h.plain = true
	}
	return h, nil
}

func (e *Engine) now() time.Time { return e.cfg.Now() }
