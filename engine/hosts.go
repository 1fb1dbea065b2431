package engine

import (
	"net"
	"net/url"
	"strings"

	"github.com/assethooks/assethooks/engine/store"
)

// Host budgets: beside its webhook's lane, every delivery needs a slot in
// the budget of its target host (the primary URL's host:port), which all
// webhooks calling that host share. A hundred webhooks pointing at one
// hanging middleware host so hold one budget's worth of workers, not a
// hundred lanes' worth.
//
// A budget adapts like a lane (additive increase, multiplicative decrease):
// it starts at PerWebhook slots, grows by one for each answer within
// fastAttempt, up to half the workers, and halves, down to PerWebhook, for
// each attempt that got no answer (timeout, refused) or a slow one. A host
// that answers quickly, even with errors, is not congested: its failures
// shrink the failing webhook's lane, not the budget of the others.
//
// A lane whose next job has room in its lane but not in its host waits in
// the host's turn list; each slot the host frees goes to the next lane in
// turn, so webhooks sharing a host share its budget fairly.

// host is one target host's budget in this process.
type host struct {
	key     string
	running int
	limit   int     // 0 until it moves from PerWebhook
	turns   []int64 // lanes held back by this budget, in turn order
	queued  map[int64]bool
}

// hostOf is the budget key of a target URL: its host (lower case) and
// port, the scheme's default when none is given; "" when it has no host.
func hostOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		default:
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// hostFor returns the budget of a job's target host, nil when it has none;
// called with w.mu held.
func (w *workers) hostFor(j *job) *host {
	if j.hook == nil || j.hook.host == "" {
		return nil
	}
	h := w.hosts[j.hook.host]
	if h == nil {
		h = &host{key: j.hook.host}
		w.hosts[h.key] = h
	}
	return h
}

// hostLimit is a budget's current limit; called with w.mu held.
func (w *workers) hostLimit(h *host) int {
	if h.limit > 0 {
		return h.limit
	}
	return w.e.cfg.PerWebhook
}

// hostRoom reports whether a budget (nil: none) has a free slot; called
// with w.mu held.
func (w *workers) hostRoom(h *host) bool { return h == nil || h.running < w.hostLimit(h) }

// wait puts a lane at the back of the host's turn list, once.
func (h *host) wait(id int64) {
	if h.queued == nil {
		h.queued = map[int64]bool{}
	}
	if !h.queued[id] {
		h.queued[id] = true
		h.turns = append(h.turns, id)
	}
}

// next takes the lane whose turn it is; false when none waits.
func (h *host) next() (int64, bool) {
	if len(h.turns) == 0 {
		return 0, false
	}
	id := h.turns[0]
	h.turns = h.turns[1:]
	delete(h.queued, id)
	return id, true
}

// adaptHost moves the budget of a job's host after an attempt; called with
// w.mu held.
func (w *workers) adaptHost(o outcome) {
	if o.record == nil || o.record.LastAttempt == nil || o.kind == store.Snooze {
		return
	}
	h := w.hostFor(o.job)
	if h == nil {
		return
	}
	base := w.e.cfg.PerWebhook
	lim, top := w.hostLimit(h), max(base, w.e.cfg.Workers/2)
	if o.res.StatusCode != 0 && o.res.Duration < fastAttempt {
		lim = min(lim+1, top)
	} else {
		lim = max(lim/2, base)
	}
	if lim != w.hostLimit(h) {
		w.e.cfg.Metrics.HostBudget.WithLabelValues(h.key).Set(float64(lim))
	}
	h.limit = lim
	if lim == base {
		h.limit = 0
	}
}

// startNext takes the head of a lane's backlog when both its lane and its
// host have room, counting it as running in both; a lane that has room but
// whose host has none waits for its turn there. Called with w.mu held.
func (w *workers) startNext(id int64) *job {
	l := w.lanes[id]
	if l == nil || len(l.backlog) == 0 || l.running >= w.limitOf(id) {
		return nil
	}
	head := l.backlog[0]
	h := w.hostFor(head)
	if !w.hostRoom(h) {
		h.wait(id)
		return nil
	}
	l.backlog = l.backlog[1:]
	l.running++
	if h != nil {
		h.running++
	}
	w.waiting--
	return head
}

// refill starts the waiting jobs that a finished job of lane id on host h
// made room for: the lanes waiting for h in turn (this one at the back),
// while h has room; for a job without a host, this lane's backlog up to its
// (perhaps grown) limit. Called with w.mu held.
func (w *workers) refill(id int64, h *host) []*job {
	var next []*job
	if h == nil {
		for j := w.startNext(id); j != nil; j = w.startNext(id) {
			next = append(next, j)
		}
		return next
	}
	if l := w.lanes[id]; l != nil && len(l.backlog) > 0 {
		h.wait(id)
	}
	for w.hostRoom(h) {
		lid, ok := h.next()
		if !ok {
			break
		}
		j := w.startNext(lid)
		if j == nil {
			continue // its lane is full (it refills itself) or it waits elsewhere
		}
		next = append(next, j)
		if l := w.lanes[lid]; l != nil && len(l.backlog) > 0 && l.running < w.limitOf(lid) {
			h.wait(lid)
		}
	}
	return next
}

// forgetHost drops an idle budget that is back at its starting limit;
// called with w.mu held.
func (w *workers) forgetHost(h *host) {
	if h != nil && h.running <= 0 && len(h.turns) == 0 && h.limit == 0 {
		delete(w.hosts, h.key)
	}
}
