package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// reclaimLoop takes over events and deliveries that a consumer read and did
// not acknowledge within ClaimIdle (its process died), and drops consumers
// that have been idle for a day with nothing pending. After this process
// last failed to reach Redis (an outage, a cluster failover: any call, the
// store notes it) it waits two lease renewals: while Redis was away no
// process could renew what it holds, and a take-over then would send again
// what is being sent.
func (e *Engine) reclaimLoop(ctx context.Context) {
	evaluator := rules.NewEvaluator()
	n := 0
	every(ctx, e.cfg.ClaimEvery, func() {
		if time.Since(e.st.LastFailure()) < 2*e.cfg.ClaimIdle/3 {
			return
		}
		// One process a round: the take-over walks every partition, and
		// XAUTOCLAIM would give each entry to one of them anyway.
		ok, err := e.st.Lock(ctx, "reclaim", e.cfg.Consumer, max(e.cfg.ClaimEvery*3/4, time.Second))
		if err != nil || !ok {
			return
		}
		defer e.st.Unlock(context.WithoutCancel(ctx), "reclaim", e.cfg.Consumer)
		e.reclaimEvents(ctx, evaluator)
		e.reclaimDeliveries(ctx)
		if n++; n%100 == 0 {
			e.st.ReapConsumers(ctx, e.cfg.Consumer, 24*time.Hour)
		}
	})
}

func (e *Engine) reclaimEvents(ctx context.Context, evaluator *rules.Evaluator) {
	start := "0-0"
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		es, next, err := e.st.ClaimEvents(ctx, e.cfg.Consumer, e.cfg.ClaimIdle, start, e.cfg.BatchSize)
		if err != nil {
			if store.IsNoGroup(err) {
				_ = e.st.EnsureGroups(ctx)
			}
			return
		}
		if len(es) > 0 {
			e.cfg.Logger.Info("engine: took over unacknowledged events", "count", len(es))
			e.route(ctx, evaluator, es)
		}
		if next == "" {
			return
		}
		start = next
	}
}

func (e *Engine) reclaimDeliveries(ctx context.Context) {
	start := "0-0"
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		ds, next, err := e.st.ClaimDeliveries(ctx, e.cfg.Consumer, e.cfg.ClaimIdle, start, e.cfg.BatchSize)
		if err != nil {
			if store.IsNoGroup(err) {
				_ = e.st.EnsureGroups(ctx)
			}
			return
		}
		if len(ds) > 0 {
			e.cfg.Logger.Info("engine: took over unacknowledged deliveries", "count", len(ds))
			e.workers.dispatch(ctx, ds)
		}
		if next == "" {
			return
		}
		start = next
	}
}

// promoteLoop moves due retries back to the deliveries stream. A short lock
// lets one process do it per tick; the script itself moves each retry once.
func (e *Engine) promoteLoop(ctx context.Context) {
	every(ctx, e.cfg.PromoteEvery, func() { e.promote(ctx) })
}

func (e *Engine) promote(ctx context.Context) {
	if now := time.Now(); now.Sub(time.UnixMilli(e.gaugesAt.Load())) >= time.Second {
		e.gaugesAt.Store(now.UnixMilli())
		defer e.gauges(ctx)
	}
	ok, err := e.st.Lock(ctx, "promote", e.cfg.Consumer, max(e.cfg.PromoteEvery*3/4, time.Second))
	if err != nil || !ok {
		return
	}
	// The lock only saves the others a useless round trip: the script moves
	// each due retry once whoever runs it. It is released at once, so a
	// server whose TTLs do not run (miniredis) does not keep it forever.
	defer e.st.Unlock(context.WithoutCancel(ctx), "promote", e.cfg.Consumer)
	for ctx.Err() == nil {
		_, more, err := e.st.Promote(ctx, e.now(), 500)
		if err != nil || !more {
			break
		}
	}
}

// gauges sets the queue-length gauges from Redis (summed over the
// partitions; at most once a second).
func (e *Engine) gauges(ctx context.Context) {
	q, r, err := e.st.Gauges(ctx)
	if err != nil {
		return
	}
	e.cfg.Metrics.QueueLength.Set(float64(q))
	e.cfg.Metrics.RetryQueueLength.Set(float64(r))
}

// emit queues one of the engine's own events about a webhook.
func (e *Engine) emit(typ string, h *hook, reason string, d *Delivery) {
	if h == nil {
		return
	}
	ev := &event.Event{Type: typ, OccurredAt: e.now().UTC(), ProjectID: h.w.ProjectID,
		Actor:   event.Actor{Username: "assethooks", Interface: "robot"},
		Webhook: map[string]any{"id": h.w.ID, "name": h.w.Name, "url": h.w.URL, "reason": reason}}
	if d != nil {
		b, _ := json.Marshal(d)
		_ = json.Unmarshal(b, &ev.Delivery)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := e.Ingest(ctx, []*event.Event{ev}); err != nil {
			e.cfg.Logger.Warn("engine: could not queue engine event", "type", typ, "webhook", h.w.ID, "err", err)
		}
	}()
}

// disable turns a webhook off with a reason and tells subscribers. A short
// guard key makes one process do it once, however many failures ask for it;
// the failure clock restarts, so a webhook enabled again gets 5 new days.
func (e *Engine) disable(id int64, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ok, err := e.st.Guard(ctx, id, e.cfg.Consumer, time.Minute); err != nil || !ok {
		return
	}
	w, err := e.Webhooks().Get(ctx, id)
	if err != nil || w.Disabled {
		return
	}
	w.Disabled, w.DisabledReason = true, reason
	w.UpdatedAt = At(e.now())
	if err := e.save(ctx, w); err != nil {
		e.cfg.Logger.Warn("engine: could not disable webhook", "webhook", id, "err", err)
		_ = e.st.Unguard(ctx, id)
		return
	}
	_ = e.st.ClearHealth(ctx, id)
	e.cfg.Logger.Warn("engine: webhook disabled", "webhook", id, "reason", reason)
	e.emit(event.WebhookDisabled, &hook{w: w}, reason, nil)
}

// gone handles a 410 answer: a REST-hook subscription is removed, a webhook
// is disabled.
func (e *Engine) gone(h *hook) {
	if h == nil {
		return
	}
	if h.w.Kind == KindHook {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Webhooks().Delete(ctx, h.w.ID); err != nil && !errors.Is(err, ErrNotFound) {
			e.cfg.Logger.Warn("engine: could not remove gone subscription", "hook", h.w.ID, "err", err)
		}
		return
	}
	e.disable(h.w.ID, "the receiver answered 410 Gone")
}
