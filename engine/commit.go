package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/assethooks/assethooks/engine/store"
)

// Group commit for ingest: requests that arrive while a script call is in
// flight wait for the next one and share it, so under load one round trip
// carries many requests while a lone request still goes at once. Each
// request's events stay together in one script call, so on a single Redis a
// batch remains all or nothing, and a request still gets its 202 only once
// its events are in Redis (a later request of the same client therefore
// comes after it). On a cluster each partition's share of a call is all or
// nothing: a request whose events span partitions may be partly queued
// when a master fails, and is answered 503 (a retry with the same event ids
// queues only what is missing); the other requests of the call are not
// failed with it.

// commitBatch is the most events one script call carries.
const commitBatch = 512

// commitWorkers is how many script calls may be in flight at once.
const commitWorkers = 4

// ingestReq is one request's share of a script call.
type ingestReq struct {
	evs  []store.NewEvent
	done chan error
}

// commit queues a request for the committers and waits for its result or
// for ctx (bounded by 2 s, so the API answers 503 in time when Redis is away).
func (e *Engine) commit(ctx context.Context, r *ingestReq) error {
	e.commitOnce.Do(func() {
		for range commitWorkers {
			go e.committer()
		}
	})
	r.done = make(chan error, 1)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	select {
	case e.commits <- r:
	case <-ctx.Done():
		return unavailable(ctx.Err())
	case <-e.closed:
		return unavailable(fmt.Errorf("engine stopped"))
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return unavailable(ctx.Err())
	}
}

func (e *Engine) committer() {
	var batch []*ingestReq
	for {
		var r *ingestReq
		select {
		case r = <-e.commits:
		case <-e.closed:
			return
		}
		batch = append(batch[:0], r)
		n := len(r.evs)
	more:
		for n < commitBatch {
			select {
			case r := <-e.commits:
				batch = append(batch, r)
				n += len(r.evs)
			default:
				break more
			}
		}
		e.runCommit(batch, n)
	}
}

// runCommit runs one script call for a batch of requests and hands each its
// share of the result.
func (e *Engine) runCommit(batch []*ingestReq, n int) {
	evs := batch[0].evs
	if len(batch) > 1 {
		evs = make([]store.NewEvent, 0, n)
		for _, r := range batch {
			evs = append(evs, r.evs...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	queued, err := e.st.Enqueue(ctx, evs, e.cfg.IdempotencyTTL)
	cancel()
	var partial *store.PartialError
	if !errors.As(err, &partial) {
		for _, r := range batch {
			r.done <- err
		}
	} else {
		// On a cluster some partitions' events went in: only the requests
		// that had an event in a failed partition fail.
		i := 0
		for _, r := range batch {
			var rerr error
			for range r.evs {
				if partial.Failed[i] {
					rerr = partial.Err
				}
				i++
			}
			r.done <- rerr
		}
	}
	var q int
	for _, ok := range queued {
		if ok {
			q++
		}
	}
	e.cfg.Metrics.EventsIngested.Add(float64(q))
}
