package engine

import (
	"context"
	"fmt"
	"time"
)

// Group commit for ingest: requests that arrive while a script call is in
// flight wait for the next one and share it, so under load one round trip
// carries many requests while a lone request still goes at once. Each
// request's events stay together in one script call, so a batch remains all
// or nothing, and a request still gets its 202 only once its events are in
// Redis (a later request of the same client therefore comes after it).

// commitBatch is the most events one script call carries.
const commitBatch = 512

// commitWorkers is how many script calls may be in flight at once.
const commitWorkers = 4

// ingestReq is one request's share of a script call: per event two keys
// (idempotency, snapshot) and five arguments.
type ingestReq struct {
	n    int
	keys []string
	args []any
	done chan ingestRes
}

type ingestRes struct {
	queued []int64
	err    error
}

// commit queues a request for the committers and waits for its result or
// for ctx (bounded by 2 s, so the API answers 503 in time when Redis is away).
func (e *Engine) commit(ctx context.Context, r *ingestReq) ([]int64, error) {
	e.commitOnce.Do(func() {
		for range commitWorkers {
			go e.committer()
		}
	})
	r.done = make(chan ingestRes, 1)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	select {
	case e.commits <- r:
	case <-ctx.Done():
		return nil, unavailable(ctx.Err())
	case <-e.closed:
		return nil, unavailable(fmt.Errorf("engine stopped"))
	}
	select {
	case res := <-r.done:
		return res.queued, res.err
	case <-ctx.Done():
		return nil, unavailable(ctx.Err())
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
		n := r.n
	more:
		for n < commitBatch {
			select {
			case r := <-e.commits:
				batch = append(batch, r)
				n += r.n
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
	keys := make([]string, 1, 1+2*n)
	keys[0] = e.k.events()
	args := make([]any, 2, 2+5*n)
	args[0], args[1] = n, int(e.cfg.IdempotencyTTL/time.Second)
	for _, r := range batch {
		keys = append(keys, r.keys...)
		args = append(args, r.args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	res, err := ingestScript.Run(ctx, e.rdb, keys, args...).Int64Slice()
	cancel()
	if err == nil && len(res) != n {
		err = fmt.Errorf("ingest script answered %d results for %d events", len(res), n)
	}
	if err != nil {
		err = unavailable(err)
	}
	var queued int64
	off := 0
	for _, r := range batch {
		out := ingestRes{err: err}
		if err == nil {
			out.queued = res[off : off+r.n]
			for _, q := range out.queued {
				queued += q
			}
		}
		off += r.n
		r.done <- out
	}
	e.cfg.Metrics.EventsIngested.Add(float64(queued))
}
