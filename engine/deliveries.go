package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/problem"
)

// Deliveries is the store of delivery records: the logs, the list by
// status, manual retry and abort.
type Deliveries struct{ e *Engine }

// Deliveries returns the engine's deliveries store.
func (e *Engine) Deliveries() Deliveries { return Deliveries{e} }

// Log returns a webhook's success or failed log, newest first. The failed
// log is a list of its own in each partition (capped at LogCap in each),
// merged here by the deliveries' last attempt; the success log is read from
// the delivery records, which the delivery index caps at IndexCap.
func (x Deliveries) Log(ctx context.Context, id int64, failed bool, limit int) ([]Delivery, error) {
	e := x.e
	if !failed {
		return e.Deliveries().List(ctx, id, StatusSucceeded, limit, "")
	}
	lists, err := e.st.FailedLog(ctx, id, limit)
	if err != nil {
		return nil, err
	}
	return mergeFailed(lists, limit), nil
}

// mergeFailed merges the partitions' failed logs (each newest first) into
// one, newest first, up to limit: by the last attempt (the creation when
// there was none), each partition's own order kept, ties to the lower
// partition. Entries that do not decode are left out.
func mergeFailed(lists [][]string, limit int) []Delivery {
	parts := make([][]Delivery, len(lists))
	for p, raws := range lists {
		for _, raw := range raws {
			var d Delivery
			if json.Unmarshal([]byte(raw), &d) == nil {
				d.part = p
				parts[p] = append(parts[p], d)
			}
		}
	}
	at := func(d *Delivery) time.Time {
		if d.LastAttempt != nil && !d.LastAttempt.At.IsZero() {
			return d.LastAttempt.At.Time
		}
		return d.CreatedAt.Time
	}
	out := make([]Delivery, 0, limit)
	heads := make([]int, len(parts))
	for len(out) < limit {
		best := -1
		for p := range parts {
			if heads[p] < len(parts[p]) && (best < 0 || at(&parts[p][heads[p]]).After(at(&parts[best][heads[best]]))) {
				best = p
			}
		}
		if best < 0 {
			break
		}
		out = append(out, parts[best][heads[best]])
		heads[best]++
	}
	return out
}

// List lists a webhook's deliveries newest first, optionally only
// those in one status, up to limit, starting below the delivery before.
// The listing merges every partition's index by creation, ties by id (see
// store.RecordPos); it scans at most 20,000 deliveries.
func (x Deliveries) List(ctx context.Context, id int64, status string, limit int, before string) ([]Delivery, error) {
	e := x.e
	// Paging goes by position (creation and id), not by score alone: many
	// deliveries share a creation millisecond, and an exclusive score
	// bound would skip them.
	var pos *store.RecordPos
	if before != "" {
		p, err := e.st.RecordPosOf(ctx, id, before)
		if errors.Is(err, ErrNotFound) {
			return nil, problem.Invalid("before", before, "Unknown delivery id")
		}
		if err != nil {
			return nil, err
		}
		pos = &p
	}
	out := make([]Delivery, 0, limit)
	for scanned := 0; len(out) < limit && scanned < 20000; {
		// Unfiltered, a page needs no more than it lacks; filtered, read on.
		n := 500
		if status == "" {
			n = min(n, limit-len(out))
		}
		recs, next, err := e.st.Records(ctx, id, pos, n)
		if err != nil {
			return nil, err
		}
		scanned += n
		for _, r := range recs {
			var d Delivery
			if json.Unmarshal(r.Record, &d) != nil {
				continue
			}
			if status == "" || d.Status == status {
				d.part = r.Part
				out = append(out, d)
				if len(out) == limit {
					break
				}
			}
		}
		if next == nil {
			break
		}
		pos = next
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
		if _, err := e.st.BringForward(ctx, d.part, id, now); err != nil {
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
	if err := e.st.Resend(ctx, d.part, webhookID, id, mb, rec); err != nil {
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
	waiting, _, err := e.st.Abort(ctx, d.part, webhookID, id, rec, e.cfg.LogCap, now, e.cfg.RecordTTL)
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
