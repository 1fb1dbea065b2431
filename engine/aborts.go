package engine

import (
	"context"
	"sync"

	"github.com/assethooks/assethooks/engine/store"
)

// abortMarks are the abort marks of deliveries that were in the stream or
// being attempted when an admin aborted them. Every process keeps them in
// memory, refreshed when the shared abort counter moves (polled with the
// revision), so a worker checks a delivery against them without a Redis
// call; the process that aborted sees its own mark at once, the others
// within Config.RevisionEvery.
type abortMarks struct {
	mu   sync.RWMutex
	seen int64
	ids  map[string]bool
}

// refresh reloads the marks when the counter moved since the last look.
func (a *abortMarks) refresh(ctx context.Context, st *store.Store, counter int64) {
	a.mu.RLock()
	same := counter == a.seen
	a.mu.RUnlock()
	if same {
		return
	}
	ids, err := st.Aborted(ctx)
	if err != nil {
		return
	}
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	a.mu.Lock()
	a.seen, a.ids = counter, m
	a.mu.Unlock()
}

// add records a mark this process made.
func (a *abortMarks) add(id string) {
	a.mu.Lock()
	if a.ids == nil {
		a.ids = map[string]bool{}
	}
	a.ids[id] = true
	a.mu.Unlock()
}

// remove forgets a mark (the delivery was resent).
func (a *abortMarks) remove(id string) {
	a.mu.Lock()
	delete(a.ids, id)
	a.mu.Unlock()
}

// has reports whether a delivery was aborted.
func (a *abortMarks) has(id string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.ids[id]
}
