package engine

import (
	"context"
	"time"

	"github.com/assethooks/assethooks/engine/store"
)

// Rate limits: a webhook's rate_limit caps its attempts per second across
// every process on one Redis (a GCRA in Redis, store.Allow). A batch read
// from the stream asks once per webhook for as many tokens as it holds
// deliveries of that webhook; those granted go on to their lanes (lanes.go).
//
// A granted delivery starts at once when its lane and host have room, else
// it goes back to the front of its gate (never to the lane's backlog, from
// which a slow receiver could release many at once). The others wait
// without counting as attempts and without holding a worker: a few (half a second's worth, gateCap) in the webhook's gate, a
// queue in memory with one timer that fires when the next tokens are due
// and asks for them, again in one call; the rest are snoozed back to the
// retry set, each due at the turn it can expect, so that they come back
// about when tokens are free for them instead of all at once. Neither is
// recorded as an attempt, and a webhook's waits slow no other webhook: a
// gate holds at most a quarter of the workers' worth of jobs, all gates
// together at most half.
//
// While a gate has jobs waiting, new deliveries of its webhook join its
// queue rather than ask for tokens of their own, so they keep their order.

// MaxRateLimit is the highest rate_limit a webhook may have (SPEC §3.9).
const MaxRateLimit = 10000

// gate is one rate-limited webhook's waiting room in this process.
type gate struct {
	queue []*job
	// armed is set while a timer is pending or its wake is running.
	armed bool
	// next is the turn after the last delivery snoozed for this limit,
	// so that later ones are not given the same turns.
	next time.Time
}

// gateCap is how many jobs of one webhook wait in its gate: half a
// second's worth of its rate, at least 4, at most a quarter of the workers.
func (w *workers) gateCap(rate int) int {
	return min(max(rate/2, 4), max(w.e.cfg.Workers/4, 1))
}

// admitAll hands jobs to their lanes; those of rate-limited webhooks first
// take their tokens, one call per webhook for the whole batch.
func (w *workers) admitAll(ctx context.Context, jobs []*job) {
	var limited map[int64][]*job
	var order []int64
	for _, j := range jobs {
		if j.hook.rate == 0 {
			w.admit(j)
			continue
		}
		if limited == nil {
			limited = map[int64][]*job{}
		}
		if _, ok := limited[j.msg.W]; !ok {
			order = append(order, j.msg.W)
		}
		limited[j.msg.W] = append(limited[j.msg.W], j)
	}
	for _, id := range order {
		w.throttle(ctx, id, limited[id])
	}
}

// throttle admits as many of one webhook's jobs as its limit grants now and
// holds the others back.
func (w *workers) throttle(ctx context.Context, id int64, jobs []*job) {
	rate := jobs[0].hook.rate
	w.mu.Lock()
	g := w.gates[id]
	busy := g != nil && len(g.queue) > 0
	w.mu.Unlock()
	allowed, after := 0, time.Duration(0)
	if !busy {
		allowed, after = w.tokens(ctx, id, rate, len(jobs))
	}
	w.startOrReturn(id, rate, jobs[:allowed])
	if rest := jobs[allowed:]; len(rest) > 0 {
		w.hold(id, rate, rest, after)
	}
}

// startOrReturn starts granted jobs whose lane and host have room; the
// others go back to the front of their gate rather than wait in the lane's
// backlog, so that a receiver that frees many slots at once never sees
// more than the limit start together (their tokens are spent: the receiver
// was the bottleneck then, not the limit).
func (w *workers) startOrReturn(id int64, rate int, jobs []*job) {
	var back []*job
	for _, j := range jobs {
		if !w.startNow(j) {
			back = append(back, j)
		}
	}
	if len(back) == 0 {
		return
	}
	w.mu.Lock()
	if w.stopping.Load() { // shutting down: back to the retry set, due now
		w.mu.Unlock()
		for _, j := range back {
			w.finish(outcome{kind: store.Snooze, job: j, due: w.e.now()}, false)
		}
		return
	}
	g := w.gates[id]
	if g == nil {
		g = &gate{}
		w.gates[id] = g
	}
	for _, j := range back {
		j.waited = true
	}
	g.queue = append(back, g.queue...)
	w.gated += len(back)
	if !g.armed {
		g.armed = true
		w.arm(id, rate, len(g.queue), store.Interval(rate))
	}
	w.mu.Unlock()
}

// startNow starts a job when its lane and its host's budget have room;
// false leaves it to the caller. Called without w.mu.
func (w *workers) startNow(j *job) bool {
	w.mu.Lock()
	l := w.lanes[j.msg.W]
	h := w.hostFor(j)
	laneRoom := l == nil || l.running < w.limitOf(j.msg.W)
	if !laneRoom || !w.hostRoom(h) {
		if laneRoom {
			w.e.cfg.Metrics.HostWaits.WithLabelValues(h.key).Inc()
		}
		w.mu.Unlock()
		return false
	}
	if l == nil {
		l = &lane{}
		w.lanes[j.msg.W] = l
	}
	l.running++
	if h != nil {
		h.running++
	}
	w.mu.Unlock()
	w.start(j)
	return true
}

// tokens asks the shared limit for up to n tokens; when Redis is away none
// are granted and the jobs wait a second.
func (w *workers) tokens(ctx context.Context, id int64, rate, n int) (int, time.Duration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	allowed, after, err := w.e.st.Allow(ctx, id, rate, n)
	if err != nil {
		w.e.cfg.Logger.Warn("engine: rate limit unavailable; deliveries wait", "webhook", id, "err", err)
		return 0, time.Second
	}
	return min(allowed, n), after
}

// hold queues jobs that found no token in their webhook's gate, up to its
// cap, and snoozes the others to the turns they can expect; next tokens are
// due after `after`.
func (w *workers) hold(id int64, rate int, jobs []*job, after time.Duration) {
	now := w.e.now()
	iv := store.Interval(rate)
	w.mu.Lock()
	g := w.gates[id]
	if g == nil {
		g = &gate{}
		w.gates[id] = g
	}
	room := min(w.gateCap(rate)-len(g.queue), w.e.cfg.Workers/2-w.gated)
	if w.stopping.Load() {
		room = 0
	}
	keep := jobs[:min(max(room, 0), len(jobs))]
	over := jobs[len(keep):]
	for _, j := range keep {
		j.waited = true // an abort may come while it waits
		g.queue = append(g.queue, j)
	}
	w.gated += len(keep)
	if len(g.queue) > 0 && !g.armed {
		g.armed = true
		w.arm(id, rate, len(g.queue), after)
	}
	// The overflow takes the turns after everything waiting before it.
	start := now.Add(after + time.Duration(len(g.queue))*iv)
	if g.next.After(start) {
		start = g.next
	}
	g.next = start.Add(time.Duration(len(over)) * iv)
	gated := w.gated
	w.mu.Unlock()
	m, wh := w.e.cfg.Metrics, itoa64(id)
	m.RateLimitWaiting.Set(float64(gated))
	if len(keep) > 0 {
		m.RateLimited.WithLabelValues(wh, "memory").Add(float64(len(keep)))
	}
	if len(over) > 0 {
		m.RateLimited.WithLabelValues(wh, "snooze").Add(float64(len(over)))
	}
	for i, j := range over {
		w.finish(outcome{kind: store.Snooze, job: j, due: start.Add(time.Duration(i) * iv)}, false)
	}
}

// arm sets a gate's timer for when the tokens its first waiting jobs need
// are due: the next token after `after`, and one interval more for each
// further job the limit's burst would grant together. Called with w.mu held.
func (w *workers) arm(id int64, rate, waiting int, after time.Duration) {
	k := min(waiting, store.Burst(rate))
	time.AfterFunc(max(after, 0)+time.Duration(k-1)*store.Interval(rate), func() { w.wake(id) })
}

// wake asks for tokens for a gate's waiting jobs and admits those granted,
// in order; the others wait for the next wake. A webhook deleted meanwhile
// drops its jobs; one whose limit was removed admits them all.
func (w *workers) wake(id int64) {
	w.mu.Lock()
	g := w.gates[id]
	if g == nil {
		w.mu.Unlock()
		return
	}
	if w.stopping.Load() || len(g.queue) == 0 {
		// At shutdown the waiting jobs go back to the retry set (run).
		g.armed = false
		w.forgetGate(id, g)
		w.mu.Unlock()
		return
	}
	w.inflight.Add(1) // shutdown waits for what this wake admits
	defer w.inflight.Done()
	n := len(g.queue)
	w.mu.Unlock()

	h := w.e.state.Load().hooks[id]
	allowed, after, rate := n, time.Duration(0), 0
	if h != nil && h.rate > 0 {
		rate = h.rate
		allowed, after = w.tokens(context.Background(), id, rate, n)
	}
	w.mu.Lock()
	allowed = min(allowed, len(g.queue)) // shutdown may have taken them
	taken := g.queue[:allowed:allowed]
	g.queue = g.queue[allowed:]
	w.gated -= allowed
	if len(g.queue) > 0 && !w.stopping.Load() {
		w.arm(id, max(rate, 1), len(g.queue), after)
	} else {
		g.armed = false
		w.forgetGate(id, g)
	}
	gated := w.gated
	w.mu.Unlock()
	w.e.cfg.Metrics.RateLimitWaiting.Set(float64(gated))
	if h == nil {
		for _, j := range taken {
			w.finish(outcome{kind: store.Drop, job: j}, false)
		}
		return
	}
	if rate == 0 { // no limit any more: the lanes take them as any others
		for _, j := range taken {
			w.admit(j)
		}
		return
	}
	w.startOrReturn(id, rate, taken)
}

// forgetGate drops a gate with nothing waiting, once the turns it gave
// snoozed jobs are past; called with w.mu held.
func (w *workers) forgetGate(id int64, g *gate) {
	if len(g.queue) == 0 && !g.armed && w.e.now().After(g.next) {
		delete(w.gates, id)
	}
}

// drainGates returns and empties every gate's queue (at shutdown); called with
// w.mu held.
func (w *workers) drainGates() []*job {
	var out []*job
	for _, g := range w.gates {
		out = append(out, g.queue...)
		g.queue = nil
	}
	w.gated = 0
	return out
}
