package engine

import (
	"context"
	"encoding/json"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// ReplayResult is what a replay found: the stored events of its window
// that the webhook's current rule matches, how many of them it queued a
// delivery for, and how many the webhook already had a delivery for.
type ReplayResult struct {
	Matched          int  `json:"matched"`
	Queued           int  `json:"queued"`
	AlreadyDelivered int  `json:"already_delivered"`
	DryRun           bool `json:"dry_run"`
	// WouldQueue is, for a dry run, how many a replay would queue now.
	WouldQueue int `json:"would_queue"`
}

// Replay routes the stored events of [since, until] through a webhook's
// current triggers, scopes, marker bindings and condition, and queues a
// delivery for each match the webhook never had one for (the events it
// missed while it was disabled, or while its rule was wrong), each in its
// event's partition; a dry run only counts. Replaying twice queues nothing new: a delivery's id comes
// from the event and the webhook, and the store queues it only when the
// webhook has no record of it.
//
// What it sees is the event history (History): every event routed within
// Config.EventRetention (and the history's count bound), matched or not
// when it was routed, with the changes derived then; the window is applied
// to when each event was accepted. A condition that reads old sees the
// event's own previous only (the snapshot before it is not kept); a
// delivery is known while the webhook keeps its record (the newest
// Config.IndexCap).
func (x Deliveries) Replay(ctx context.Context, webhookID int64, since, until time.Time, dryRun bool) (ReplayResult, error) {
	e := x.e
	res := ReplayResult{DryRun: dryRun}
	w, err := e.Webhooks().Get(ctx, webhookID)
	if err != nil {
		return res, err
	}
	h, err := e.compile(w)
	if err != nil {
		return res, err
	}
	bound := map[string]bool{} // markers that fire this webhook directly
	for name, ids := range e.state.Load().markers {
		for _, id := range ids {
			if id == webhookID {
				bound[name] = true
			}
		}
	}
	evaluator := rules.NewEvaluator()
	now := e.now()
	// Nothing older than the retention is stored, nothing newer than now.
	since = later(since, now.Add(-e.cfg.EventRetention))
	if until.After(now) {
		until = now
	}
	var batch []store.Replayed
	// Each event counts once, however the pages overlap.
	seen := map[string]bool{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		defer func() { batch = batch[:0] }()
		if dryRun {
			ids := make([]string, len(batch))
			parts := make([]int, len(batch))
			for i, b := range batch {
				ids[i], parts[i] = b.DeliveryID, b.Part
			}
			have, err := e.st.HaveRecords(ctx, webhookID, parts, ids)
			if err != nil {
				return err
			}
			for _, ok := range have {
				if ok {
					res.AlreadyDelivered++
				} else {
					res.WouldQueue++
				}
			}
			return nil
		}
		made, err := e.st.Replay(ctx, webhookID, now, e.cfg.EventRetention, batch)
		if err != nil {
			return err
		}
		for _, ok := range made {
			if ok {
				res.Queued++
			} else {
				res.AlreadyDelivered++
			}
		}
		return nil
	}
	consider := func(value []byte) error {
		c := newCachedEvent(string(value))
		ev := c.event()
		if ev == nil {
			return nil
		}
		if seen[ev.ID] {
			return nil
		}
		data, ok := matchOne(h, ev, bound, evaluator, now)
		if !ok {
			return nil
		}
		seen[ev.ID] = true
		res.Matched++
		msg := message{D: deliveryID(ev.ID, webhookID), W: webhookID, E: ev.ID, T: ev.Type, C: now.UnixMilli(), X: data}
		mb, _ := gojson.Marshal(&msg)
		rec, _ := gojson.Marshal(&Delivery{ID: msg.D, EventID: ev.ID, EventType: ev.Type, WebhookID: webhookID,
			Status: StatusPending, CreatedAt: At(now)})
		d := store.Replayed{NewDelivery: store.NewDelivery{WebhookID: webhookID, DeliveryID: msg.D, Message: mb,
			Record: rec, Created: msg.C}, Part: e.st.Partition(partitionAsset(ev), ev.ID), EventID: ev.ID, Event: value}
		if h.sendsDefault() && len(data) == 0 {
			d.Body = c.encoded
		}
		batch = append(batch, d)
		if len(batch) >= 200 {
			return flush()
		}
		return nil
	}
	// The history, newest first, page by page from the window's end.
	before := ""
	for err == nil {
		var recs []store.HistoryRecord
		if recs, err = e.st.History(ctx, store.HistoryQuery{Since: since, Before: before, Limit: 500}); err != nil {
			break
		}
		for _, r := range recs {
			before = r.ID
			if r.Received.After(until) {
				continue
			}
			if err = consider(r.Event); err != nil {
				break
			}
		}
		if len(recs) < 500 {
			break
		}
	}
	if err == nil {
		err = flush()
	}
	return res, err
}

// matchOne reports whether one webhook's rule takes an event, as the
// router decides it (router.go, match): its triggers cover the type or a
// marker binds it, it is not an event about itself, and its scopes and
// condition match; with the template's result when it has one. A rule
// error is no match.
func matchOne(h *hook, ev *event.Event, bound map[string]bool, evaluator *rules.Evaluator, now time.Time) (json.RawMessage, bool) {
	if ev.Webhook != nil && asInt64(ev.Webhook["id"]) == h.w.ID {
		return nil, false
	}
	marked := ev.Marker != "" && (ev.Type == event.MarkerSelected || ev.Type == event.MarkerCleared) && bound[ev.Marker]
	if !h.rule.Covers(ev.Type) && !marked {
		return nil, false
	}
	env := rules.NewEnv(ev, ev.Previous, now)
	if ok, err := h.rule.Match(evaluator, env); err != nil || !ok {
		return nil, false
	}
	if h.tmpl == nil {
		return nil, true
	}
	data, err := evaluator.Render(h.tmpl, env)
	if err != nil {
		return nil, true // as routed: the action renders it again when it runs
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, true
	}
	return b, true
}

// partitionAsset is the asset whose partition an event went to, as ingest
// gives it to the store (store.NewEvent.AssetID, see Ingest): its asset's,
// but none for an ASSET_SCHEDULED event (which reports a stored snapshot
// and goes to the partition of its id). A replayed delivery goes to that
// partition, with its event's other deliveries.
func partitionAsset(ev *event.Event) string {
	if ev.Type == event.AssetScheduled {
		return ""
	}
	return ev.AssetID()
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
