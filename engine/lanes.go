package engine

import (
	"time"

	"github.com/assethooks/assethooks/engine/store"
)

// lane is one webhook's share of the workers: at most its limit running,
// a bounded backlog waiting.
type lane struct {
	running int
	backlog []*job
}

// Lane limits adapt (additive increase, multiplicative decrease): a webhook
// starts with PerWebhook slots; each answer within fastAttempt adds one, up
// to half the workers; a slow or failed one halves them, down to PerWebhook.
// A hanging receiver so keeps the small share it started with, while a
// healthy one under a burst grows to use the idle workers.
const fastAttempt = 250 * time.Millisecond

// limitOf is a webhook's current lane limit; called with w.mu held.
func (w *workers) limitOf(id int64) int {
	if n, ok := w.limits[id]; ok {
		return n
	}
	return w.e.cfg.PerWebhook
}

// adapt moves a webhook's lane limit after an attempt; called with w.mu held.
func (w *workers) adapt(o outcome) {
	if o.record == nil || o.record.LastAttempt == nil || o.kind == store.Snooze {
		return
	}
	id, lim := o.job.msg.W, w.limitOf(o.job.msg.W)
	top := max(w.e.cfg.PerWebhook, w.e.cfg.Workers/2)
	if o.kind == store.OK && o.res.Duration < fastAttempt {
		lim = min(lim+1, top)
	} else {
		lim = max(lim/2, w.e.cfg.PerWebhook)
	}
	if lim == w.e.cfg.PerWebhook {
		delete(w.limits, id)
	} else {
		w.limits[id] = lim
	}
}

// admit starts a job when its lane and its target host's budget (hosts.go)
// have room, queues it in its lane's backlog, or snoozes it when the
// backlog is full.
func (w *workers) admit(j *job) {
	w.mu.Lock()
	l := w.lanes[j.msg.W]
	if l == nil {
		l = &lane{}
		w.lanes[j.msg.W] = l
	}
	h := w.hostFor(j)
	laneRoom, hostRoom := l.running < w.limitOf(j.msg.W), w.hostRoom(h)
	if laneRoom && !hostRoom {
		w.e.cfg.Metrics.HostWaits.WithLabelValues(h.key).Inc()
	}
	switch {
	case laneRoom && hostRoom:
		l.running++
		if h != nil {
			h.running++
		}
		w.mu.Unlock()
		w.start(j)
	case len(l.backlog) < max(w.e.cfg.Backlog, 4*w.limitOf(j.msg.W)) && w.waiting < w.e.cfg.Workers && !w.stopping.Load():
		// All backlogs together stay under half the reader's limit, so
		// lanes of slow receivers never leave it without room.
		j.waited = true
		l.backlog = append(l.backlog, j)
		w.waiting++
		if laneRoom {
			h.wait(j.msg.W) // held back by its host: it waits for its turn there
		}
		w.mu.Unlock()
	default:
		w.mu.Unlock()
		w.finish(outcome{kind: store.Snooze, job: j, due: w.e.now().Add(time.Second)}, false)
	}
}

func (w *workers) start(j *job) {
	w.inflight.Add(1)
	go func() {
		defer w.inflight.Done()
		w.sem <- struct{}{}
		var o outcome
		switch {
		case w.stopping.Load():
			// Not begun before shutdown: back to the retry set, due now.
			o = outcome{kind: store.Snooze, job: j, due: w.e.now()}
		case j.waited && w.e.aborts.has(j.msg.D):
			o = w.final(j, "aborted by an admin", w.e.now())
		default:
			o = w.attempt(j)
		}
		<-w.sem
		w.finish(o, true)
	}()
}

// finish hands an outcome to the recorder; for a job that ran, it frees the
// lane slot and starts the next waiting jobs of that webhook.
func (w *workers) finish(o outcome, ran bool) {
	w.results <- o
	w.mu.Lock()
	w.inUse--
	var next []*job
	if ran {
		w.adapt(o)
		w.adaptHost(o)
		l := w.lanes[o.job.msg.W]
		l.running--
		h := w.hostFor(o.job)
		if h != nil {
			h.running--
		}
		// Refill the lane, and the other lanes waiting for its host, up to
		// their (perhaps grown) limits from their backlogs.
		if !w.stopping.Load() {
			next = w.refill(o.job.msg.W, h)
		}
		if l.running == 0 && len(l.backlog) == 0 {
			delete(w.lanes, o.job.msg.W)
		}
		w.forgetHost(h)
	}
	w.room.Broadcast()
	w.mu.Unlock()
	for _, j := range next {
		w.start(j)
	}
}
