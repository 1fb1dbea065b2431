package engine

import (
	"context"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
)

// flushLoop records outcomes in batches: it takes what is ready, up to a
// batch, and writes it in one script call, so the cost per delivery falls as
// the load rises while a lone delivery is recorded at once.
func (w *workers) flushLoop() {
	defer close(w.done)
	batch := make([]outcome, 0, w.e.cfg.BatchSize)
	for o := range w.results {
		batch = append(batch[:0], o)
	more:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-w.results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		w.record(batch)
	}
}

// record writes a batch of outcomes, retrying while Redis is away, then acts
// on what the script reported (recovered, failing for too long, gone).
func (w *workers) record(batch []outcome) {
	e := w.e
	now := e.now()
	outs := make([]store.Outcome, len(batch))
	for i, o := range batch {
		m := o.job.msg
		so := store.Outcome{Kind: o.kind, Entry: o.job.sid, WebhookID: m.W, DeliveryID: m.D, Retrying: m.A > 0}
		if o.record != nil {
			so.Record, _ = gojson.Marshal(o.record)
		}
		if o.latest != nil {
			so.Latest, _ = gojson.Marshal(o.latest)
		}
		switch o.kind {
		case store.Retry:
			m.A++
			fallthrough
		case store.Snooze:
			so.Message, _ = gojson.Marshal(&m)
			so.Due = o.due.UnixMilli()
		}
		outs[i] = so
	}
	var res []int64
	for fails := 1; ; fails++ {
		var err error
		res, err = e.st.Complete(context.Background(), e.cfg.Consumer, outs, e.cfg.LogCap, now)
		if err == nil {
			break
		}
		if w.stopping.Load() && fails >= 20 {
			// Shutting down with Redis away: the entries stay unacknowledged
			// and another process, or this one restarted, takes them over.
			e.cfg.Logger.Warn("engine: outcomes not recorded at shutdown; their deliveries will be taken over", "count", len(batch), "err", err)
			res = nil
			break
		}
		e.trouble(context.Background(), "workers: record outcomes", err, fails)
	}
	w.mu.Lock()
	for _, o := range batch {
		w.leases.done(o.job.sid, time.Now())
	}
	w.mu.Unlock()
	for i, o := range batch {
		if i >= len(res) || res[i] < 0 {
			continue
		}
		w.after(o, res[i], now)
	}
}

// after emits the engine's events and disables webhooks as the outcome asks.
func (w *workers) after(o outcome, r int64, now time.Time) {
	e := w.e
	if o.kind == store.OK && r == 1 {
		e.emit(event.WebhookRecovered, o.job.hook, "", o.record)
	}
	if o.kind == store.Fail && !o.aborted && o.job.hook != nil {
		e.cfg.Logger.Warn("engine: delivery failed for good", "webhook", o.job.msg.W, "delivery", o.job.msg.D,
			"attempts", o.record.Attempts, "error", o.record.LastAttempt.Error)
		if !o.job.msg.M && !o.gone { // a 410 says WEBHOOK_DISABLED instead
			e.emit(event.DeliveryFailed, o.job.hook, "", o.record)
		}
	}
	if o.gone {
		go e.gone(o.job.hook)
		return
	}
	if (o.kind == store.Fail || o.kind == store.Retry) && !o.aborted && r > 0 && o.job.hook != nil &&
		now.Sub(time.UnixMilli(r)) >= e.cfg.DisableAfter {
		go e.disable(o.job.hook.w.ID, "deliveries have failed for "+e.cfg.DisableAfter.String()+" without a success")
	}
}
