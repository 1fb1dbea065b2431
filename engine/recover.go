package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/assethooks/assethooks/engine/store"
)

// Recover queues one more attempt of each of a webhook's failed deliveries
// created in [since, until] (Svix's recover), exactly as a manual retry of
// each would (Retry): the same webhook-id, one attempt, counted as waiting
// for a retry. It returns how many it queued. A delivery whose event is no
// longer stored cannot be sent again and is left as it is; one whose record
// changed meanwhile (another recover, a retry) is not queued twice.
func (x Deliveries) Recover(ctx context.Context, webhookID int64, since, until time.Time) (int, error) {
	e := x.e
	if _, err := e.st.Webhook(ctx, webhookID); err != nil {
		return 0, err
	}
	const page = 500
	queued := 0
	var after *store.RecordPos
	for {
		recs, next, err := e.st.DeliveriesBetween(ctx, webhookID, since, until, after, page)
		if err != nil {
			return queued, err
		}
		var failed []*Delivery
		var olds [][]byte
		for _, r := range recs {
			var d Delivery
			if json.Unmarshal(r.Record, &d) != nil || d.Status != StatusFailed || d.WebhookID != webhookID || d.ID != r.ID {
				continue
			}
			d.part = r.Part
			failed = append(failed, &d)
			olds = append(olds, r.Record)
		}
		n, err := x.requeue(ctx, webhookID, failed, olds)
		queued += n
		if err != nil || next == nil {
			return queued, err
		}
		after = next
	}
}

// requeue resends finished deliveries whose events are still stored, each
// while its record is still old; it returns how many it queued.
func (x Deliveries) requeue(ctx context.Context, webhookID int64, ds []*Delivery, olds [][]byte) (int, error) {
	e := x.e
	if len(ds) == 0 {
		return 0, nil
	}
	evIDs := make([]string, len(ds))
	routed := make([]time.Time, len(ds))
	parts := make([]int, len(ds))
	for i, d := range ds {
		evIDs[i], routed[i], parts[i] = d.EventID, d.CreatedAt.Time, d.part
	}
	stored, err := e.st.StoredEvents(ctx, parts, evIDs, routed)
	if err != nil {
		return 0, err
	}
	now := e.now()
	var items []store.Requeued
	for i, d := range ds {
		if stored[i] == nil {
			continue // its event expired: nothing to send
		}
		msg, rec := resendOf(d, now)
		items = append(items, store.Requeued{Part: d.part, DeliveryID: d.ID, Old: olds[i], Message: msg, Record: rec})
	}
	// On an error the store may still report some queued.
	ok, err := e.st.Requeue(ctx, webhookID, items)
	n := 0
	for i, q := range ok {
		if q {
			n++
			e.aborts.remove(items[i].DeliveryID)
		}
	}
	return n, err
}
