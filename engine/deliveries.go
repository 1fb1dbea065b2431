package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/assethooks/assethooks/internal/problem"
)

// Deliveries is the store of delivery records: the logs, the list by
// status, manual retry and abort.
type Deliveries struct{ e *Engine }

// Deliveries returns the engine's deliveries store.
func (e *Engine) Deliveries() Deliveries { return Deliveries{e} }

// Log returns a webhook's success or failed log, newest first. The failed
// log is a list of its own (capped at LogCap); the success log is read from
// the delivery records, which the delivery index caps at IndexCap.
func (x Deliveries) Log(ctx context.Context, id int64, failed bool, limit int) ([]Delivery, error) {
	e := x.e
	if !failed {
		return e.Deliveries().List(ctx, id, StatusSucceeded, limit, "")
	}
	raws, err := e.st.FailedLog(ctx, id, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(raws))
	for _, raw := range raws {
		var d Delivery
		if json.Unmarshal([]byte(raw), &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// List lists a webhook's deliveries newest first, optionally only
// those in one status, up to limit, starting below the delivery before.
func (x Deliveries) List(ctx context.Context, id int64, status string, limit int, before string) ([]Delivery, error) {
	e := x.e
	// Paging goes by rank, not by score: many deliveries share a creation
	// millisecond, and an exclusive score bound would skip them.
	var offset int64
	if before != "" {
		r, err := e.st.RecordRank(ctx, id, before)
		if errors.Is(err, ErrNotFound) {
			return nil, problem.Invalid("before", before, "Unknown delivery id")
		}
		if err != nil {
			return nil, err
		}
		offset = r + 1
	}
	out := make([]Delivery, 0, limit)
	for scanned := 0; len(out) < limit && scanned < 20000; scanned += 500 {
		recs, done, err := e.st.Records(ctx, id, offset, 500)
		if err != nil {
			return nil, err
		}
		offset += 500
		for _, raw := range recs {
			var d Delivery
			if json.Unmarshal(raw, &d) != nil {
				continue
			}
			if status == "" || d.Status == status {
				out = append(out, d)
				if len(out) == limit {
					break
				}
			}
		}
		if done {
			break
		}
	}
	return out, nil
}

// Get returns one delivery record of a webhook.
func (x Deliveries) Get(ctx context.Context, webhookID int64, id string) (*Delivery, error) {
	e := x.e
	raw, part, err := e.st.Record(ctx, webhookID, id)
	if err != nil {
		return nil, err
	}
	var d Delivery
	if err := json.Unmarshal(raw, &d); err != nil || d.WebhookID != webhookID {
		return nil, ErrNotFound
	}
	d.part = part
	return &d, nil
}

// Retry sends a delivery again now: a waiting retry is brought
// forward; a finished (succeeded or failed) delivery gets one more attempt.
func (x Deliveries) Retry(ctx context.Context, webhookID int64, id string) (*Delivery, error) {
	e := x.e
	d, err := e.Deliveries().Get(ctx, webhookID, id)
	if err != nil {
		return nil, err
	}
	now := e.now()
	switch d.Status {
	case StatusRetrying:
		// When it is not waiting it is being attempted right now.
		if _, err := e.st.BringForward(ctx, id, now); err != nil {
			return nil, err
		}
		d.NextAttemptAt = At(now)
		return d, nil
	case StatusPending:
		return d, nil // its first attempt is already on its way
	}
	if _, err := e.st.StoredEventAt(ctx, d.part, d.EventID, d.CreatedAt.Time); errors.Is(err, ErrNotFound) {
		return nil, problem.New(problem.KindConflict, "the event of delivery %s is no longer stored", id)
	} else if err != nil {
		return nil, err
	}
	mb, rec := resendOf(d, now)
	if err := e.st.Resend(ctx, webhookID, id, mb, rec); err != nil {
		return nil, err
	}
	e.aborts.remove(id)
	return d, nil
}

// resendOf turns a finished delivery into a manual resend due now (one
// more attempt, no schedule after it): its message and its new record; d
// becomes that record.
func resendOf(d *Delivery, now time.Time) (msg, rec []byte) {
	m := message{D: d.ID, W: d.WebhookID, E: d.EventID, T: d.EventType, A: max(d.Attempts, 1), C: d.CreatedAt.UnixMilli(), M: true}
	msg, _ = json.Marshal(m)
	d.Status, d.NextAttemptAt = StatusRetrying, At(now)
	rec, _ = json.Marshal(d)
	return msg, rec
}

// Abort stops a delivery that has not finished: it is marked failed
// (aborted) and not tried again. A delivery waiting for a retry fails at
// once; one in the stream or being attempted gets an abort mark, and the
// worker that takes it fails it without an attempt (the other processes
// see the mark within Config.RevisionEvery).
func (x Deliveries) Abort(ctx context.Context, webhookID int64, id string) (*Delivery, error) {
	e := x.e
	d, err := e.Deliveries().Get(ctx, webhookID, id)
	if err != nil {
		return nil, err
	}
	if d.Status == StatusSucceeded || d.Status == StatusFailed {
		return nil, problem.New(problem.KindConflict, "delivery %s has already %s", id, d.Status)
	}
	now := e.now()
	d.Status = StatusFailed
	d.NextAttemptAt = Time{}
	d.LastAttempt = &Attempt{At: At(now), Error: "aborted by an admin"}
	rec, _ := json.Marshal(d)
	waiting, _, err := e.st.Abort(ctx, webhookID, id, rec, e.cfg.LogCap, now, e.cfg.RecordTTL)
	if err != nil {
		return nil, err
	}
	if !waiting {
		e.aborts.add(id)
	}
	return d, nil
}

// ForEvent lists a webhook's delivery of one event: none, or the one (a
// delivery's id is derived from its event and webhook).
func (x Deliveries) ForEvent(ctx context.Context, webhookID int64, eventID string) ([]Delivery, error) {
	d, err := x.Get(ctx, webhookID, deliveryID(eventID, webhookID))
	if errors.Is(err, ErrNotFound) {
		return []Delivery{}, nil
	}
	if err != nil {
		return nil, err
	}
	return []Delivery{*d}, nil
}
