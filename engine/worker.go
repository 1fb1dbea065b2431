package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
)

// The workers: a reader takes deliveries from the stream in batches
// (worker.go), hands each to its webhook's lane (lanes.go), which runs the
// attempt and decides what follows (attempt.go); the recorder writes the
// outcomes in batches (recorder.go); leases keep what this process holds
// from being taken over (lease.go); events that deliveries need beyond their
// ready body are read once and shared (eventcache.go).

// job is one delivery read from the stream and held by this process.
type job struct {
	sid   string // stream entry id; "" for none
	msg   message
	body  string // the body of its first attempt, when the router gave it
	ev    *event.Event
	cache *actions.PayloadCache
	hook  *hook
	// stored is the stored event, when the job needs more than its body.
	stored  *cachedEvent
	encoded []byte
	// waited is set when the job waited in its lane's backlog; an abort
	// may have come meanwhile, so it is checked again before the attempt.
	waited bool
}

// workers runs deliveries.
type workers struct {
	e       *Engine
	sem     chan struct{}
	results chan outcome
	done    chan struct{} // closed when the recorder has recorded everything

	mu      sync.Mutex
	lanes   map[int64]*lane
	limits  map[int64]int // lane limits that grew or shrank from PerWebhook
	leases  leases
	room    *sync.Cond
	inUse   int // jobs held (running or waiting)
	waiting int // jobs in lane backlogs, all lanes

	hosts map[string]*host // target hosts' budgets (hosts.go)
	gates map[int64]*gate  // rate-limited webhooks' waiting rooms (ratelimit.go)
	gated int              // jobs waiting in gates, all webhooks

	cache    eventCache
	inflight sync.WaitGroup
	stopping atomic.Bool
}

func newWorkers(e *Engine) *workers {
	w := &workers{
		e:       e,
		sem:     make(chan struct{}, e.cfg.Workers),
		results: make(chan outcome, e.cfg.Workers*2),
		done:    make(chan struct{}),
		lanes:   map[int64]*lane{},
		limits:  map[int64]int{},
		leases:  newLeases(),
		hosts:   map[string]*host{},
		gates:   map[int64]*gate{},
	}
	w.room = sync.NewCond(&w.mu)
	w.cache = newEventCache(512)
	return w
}

// limit is how many jobs a process holds at most: every worker busy and as
// many again queued, so a batch read is always ready.
func (w *workers) limit() int { return w.e.cfg.Workers * 2 }

func (w *workers) run(ctx context.Context) {
	go w.flushLoop()
	go func() { // a reader waiting for room wakes up to stop
		<-ctx.Done()
		w.mu.Lock()
		w.room.Broadcast()
		w.mu.Unlock()
	}()
	renew := make(chan struct{})
	go func() { defer close(renew); w.renewLoop(ctx) }()
	var fails int
	for ctx.Err() == nil {
		w.mu.Lock()
		for w.inUse >= w.limit() && ctx.Err() == nil {
			w.room.Wait()
		}
		room := w.limit() - w.inUse
		w.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
		entries, err := w.e.st.ReadDeliveries(ctx, w.e.cfg.Consumer, min(room, w.e.cfg.BatchSize), w.e.cfg.Block)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fails++
			w.e.trouble(ctx, "workers: read deliveries", err, fails)
			continue
		}
		if fails > 0 {
			// A read whose reply was lost left entries in our own pending
			// list: take them up now rather than after ClaimIdle.
			w.ownPending(ctx)
		}
		fails = 0
		w.dispatch(ctx, entries)
	}
	// Shutdown: once the reclaimer no longer hands us jobs, waiting jobs go
	// back to the retry set due now (another process or a restart takes them
	// at once); running ones finish and are recorded.
	w.stopping.Store(true)
	if w.e.reclaimed != nil {
		<-w.e.reclaimed
	}
	w.mu.Lock()
	var waiting []*job
	for _, l := range w.lanes {
		waiting = append(waiting, l.backlog...)
		w.waiting -= len(l.backlog)
		l.backlog = nil
	}
	for _, h := range w.hosts {
		h.turns, h.queued = nil, nil
	}
	waiting = append(waiting, w.drainGates()...)
	w.mu.Unlock()
	for _, j := range waiting {
		w.finish(outcome{kind: store.Snooze, job: j, due: w.e.now()}, false)
	}
	w.inflight.Wait()
	close(w.results)
	<-w.done
	<-renew
}

// ownPending takes up this consumer's pending deliveries that it does not
// hold (their read's reply was lost).
func (w *workers) ownPending(ctx context.Context) {
	start := "0"
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		es, next, err := w.e.st.OwnPendingDeliveries(ctx, w.e.cfg.Consumer, start, w.e.cfg.BatchSize)
		if err != nil || next == "" {
			return
		}
		start = next
		w.dispatch(ctx, es)
	}
}

// dispatch decodes a batch of deliveries, loads the stored events of those
// that need more than their ready body (one round trip for those not
// cached), and hands each job to its lane. An entry this process holds, or
// recorded a moment ago (a take-over racing its outcome), is not taken again.
func (w *workers) dispatch(ctx context.Context, entries []store.DeliveryEntry) {
	e := w.e
	now := e.now()
	w.mu.Lock()
	fresh := entries[:0:0]
	for _, m := range entries {
		if !w.leases.take(m.Entry) {
			continue
		}
		w.inUse++
		fresh = append(fresh, m)
	}
	w.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	st := e.state.Load()
	jobs := make([]*job, 0, len(fresh))
	var need []*job
	for _, m := range fresh {
		j := &job{sid: m.Entry, body: m.Body}
		if err := gojson.Unmarshal([]byte(m.Message), &j.msg); err != nil || j.msg.D == "" {
			e.cfg.Logger.Error("engine: undecodable delivery entry dropped", "entry", m.Entry)
			w.finish(outcome{kind: store.Drop, job: j}, false)
			continue
		}
		j.hook = st.hooks[j.msg.W]
		jobs = append(jobs, j)
		if j.hook == nil {
			continue
		}
		if j.body != "" && j.hook.plain && len(j.msg.X) == 0 {
			j.ev, j.encoded = &event.Event{ID: j.msg.E, Type: j.msg.T}, []byte(j.body)
			continue
		}
		if c := w.cache.get(j.msg.E); c != nil {
			j.stored = c
		} else {
			need = append(need, j)
		}
	}
	if len(need) > 0 && !w.load(ctx, need) {
		w.release(jobs)
		return
	}
	ready := jobs[:0:0]
	for _, j := range jobs {
		if j.stored != nil && j.ev == nil {
			j.ev, j.encoded, j.cache = j.stored.forJob(j)
		}
		switch {
		case j.hook == nil:
			w.finish(outcome{kind: store.Drop, job: j}, false)
		case e.aborts.has(j.msg.D):
			w.finish(w.final(j, "aborted by an admin", now), false)
		case j.ev == nil:
			w.finish(w.final(j, "the event is no longer stored", now), false)
		case j.hook.w.Disabled:
			w.finish(w.final(j, "the webhook is disabled", now), false)
		default:
			ready = append(ready, j)
		}
	}
	w.admitAll(ctx, ready)
}

// load reads the stored events of jobs, retrying while Redis is away; false
// when the engine stops first (the jobs stay pending and are taken over).
func (w *workers) load(ctx context.Context, jobs []*job) bool {
	var ids []string
	var at []time.Time
	var parts []int
	seen := map[string]bool{}
	for _, j := range jobs {
		if !seen[j.msg.E] {
			seen[j.msg.E] = true
			ids = append(ids, j.msg.E)
			at = append(at, time.UnixMilli(j.msg.C))
			parts = append(parts, store.PartOf(j.sid))
		}
	}
	var vals [][]byte
	for fails := 1; ; fails++ {
		var err error
		if vals, err = w.e.st.StoredEvents(context.WithoutCancel(ctx), parts, ids, at); err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		w.e.trouble(ctx, "workers: read events", err, fails)
	}
	for i, id := range ids {
		if vals[i] != nil {
			w.cache.put(id, newCachedEvent(string(vals[i])))
		}
	}
	for _, j := range jobs {
		j.stored = w.cache.get(j.msg.E)
	}
	return true
}

// release forgets jobs without recording anything (they stay pending).
func (w *workers) release(jobs []*job) {
	w.mu.Lock()
	for _, j := range jobs {
		w.leases.drop(j.sid)
		w.inUse--
	}
	w.room.Broadcast()
	w.mu.Unlock()
}
