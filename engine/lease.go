package engine

import (
	"context"
	"time"
)

// leases are the stream entries this process holds, from their read until
// their outcome is recorded, and those it recorded a moment ago. Its
// methods are called with workers.mu held.
//
// Every held entry is renewed (its idle time reset) every ClaimIdle/3, so
// that no reclaimer, here or elsewhere, takes over what this process is
// still working on. An entry recorded here stays known for two ClaimIdle: a
// take-over that read it just before its outcome was recorded finds it
// known and does not send it a second time.
type leases struct {
	held   map[string]time.Time // entry → when read
	recent map[string]time.Time // entry → when recorded
}

func newLeases() leases {
	return leases{held: map[string]time.Time{}, recent: map[string]time.Time{}}
}

// take holds an entry; false when it is held or was recorded a moment ago.
func (l *leases) take(id string) bool {
	if _, ok := l.held[id]; ok {
		return false
	}
	if _, ok := l.recent[id]; ok {
		return false
	}
	l.held[id] = time.Now()
	return true
}

// drop forgets an entry without recording it (it stays pending).
func (l *leases) drop(id string) { delete(l.held, id) }

// done marks a held entry recorded.
func (l *leases) done(id string, now time.Time) {
	if id == "" {
		return
	}
	delete(l.held, id)
	l.recent[id] = now
}

// renewable returns every held entry, and forgets recorded entries older
// than keep.
func (l *leases) renewable(now time.Time, keep time.Duration) []string {
	ids := make([]string, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	for id, at := range l.recent {
		if now.Sub(at) > keep {
			delete(l.recent, id)
		}
	}
	return ids
}

// renewLoop keeps the leases of held entries fresh (XCLAIM to ourselves), so
// a reclaimer elsewhere never takes what this process is still working on.
func (w *workers) renewLoop(ctx context.Context) {
	every(ctx, w.e.cfg.ClaimIdle/3, func() {
		// Leases are Redis idle times: wall clock, not Config.Now.
		w.mu.Lock()
		ids := w.leases.renewable(time.Now(), 2*w.e.cfg.ClaimIdle)
		w.mu.Unlock()
		if len(ids) > 0 {
			if err := w.e.st.Renew(context.Background(), w.e.cfg.Consumer, ids); err != nil {
				w.e.cfg.Logger.Warn("engine: could not renew held deliveries", "count", len(ids), "err", err)
			}
		}
	})
}
