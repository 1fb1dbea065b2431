package engine

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// ErrUnavailable is returned when Redis cannot be reached in time; the API
// answers 503.
var ErrUnavailable = store.ErrUnavailable

var b32 = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewEventID returns a new time-ordered event id, "evt_" + 26 characters:
// 48 bits of milliseconds and 80 random bits. Within one process the ids
// are monotonic (an id of the same millisecond as the last is the last plus
// one, as ULID's monotonic mode does), so ids generated in one request sort
// in the request's order, which is how the history orders events of
// different partitions accepted in the same millisecond.
func NewEventID(now time.Time) string {
	lastID.Lock()
	defer lastID.Unlock()
	ms := uint64(max(now.UnixMilli(), 0))
	b := &lastID.b
	if ms > lastID.ms || !lastID.set {
		lastID.ms, lastID.set = ms, true
		binary.BigEndian.PutUint64(b[:8], ms<<16)
		_, _ = rand.Read(b[6:])
		b[6] &= 0x7f // room to count up within the millisecond
	} else {
		for i := 15; i >= 6; i-- { // the last id plus one
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	}
	return "evt_" + b32.EncodeToString(b[:])
}

// lastID is the last id NewEventID made.
var lastID struct {
	sync.Mutex
	b   [16]byte
	ms  uint64
	set bool
}

// Ingest queues events in one round trip and returns their ids. An event with
// an id seen in the last 24 hours is accepted again but not queued twice. It
// returns only once every event is in Redis; ErrUnavailable when Redis does
// not answer.
//
// Each event is encoded here once: its asset in the canonical form the
// default json body carries (sorted keys, numbers verbatim, no HTML
// escaping), so that the router can assemble that body from the bytes
// without decoding the asset, and the rest of the envelope beside it.
func (e *Engine) Ingest(ctx context.Context, evs []*event.Event) ([]string, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	now := e.now()
	out := make([]store.NewEvent, len(evs))
	ids := make([]string, len(evs))
	for i, ev := range evs {
		n := &out[i]
		if ev.ID == "" {
			ev.ID = NewEventID(now)
		} else {
			n.Idempotent = true
		}
		ids[i] = ev.ID
		if ev.OccurredAt.IsZero() {
			ev.OccurredAt = now.UTC()
		}
		n.ID, n.Type = ev.ID, ev.Type
		if ev.Asset != nil {
			b, err := event.EncodeJSON(ev.Asset)
			if err != nil {
				return nil, problem.Invalid("asset", nil, "Must be an Object")
			}
			n.Asset = b
		}
		// schedules: an ASSET_SCHEDULED event reports a stored snapshot; it
		// never writes it back (a newer one may have arrived since the scan
		// read it).
		if uuid := ev.AssetID(); uuid != "" && ev.Type != event.AssetScheduled {
			n.AssetID = uuid
			switch {
			case ev.Type == event.AssetRemoved:
				n.Op = store.AssetDelete
			case ev.Asset["markers"] != nil:
				n.Op = store.AssetStore
				n.Flags, _ = gojson.Marshal(ev.Asset["markers"])
			default:
				if _, has := ev.Asset["markers"]; has { // "markers": null clears them
					n.Op, n.Flags = store.AssetStore, []byte("[]")
				} else {
					n.Op = store.AssetKeep
				}
			}
		}
		env := *ev
		env.Asset = nil
		b, err := gojson.Marshal(&env)
		if err != nil {
			return nil, fmt.Errorf("engine: encode event: %w", err)
		}
		n.Envelope = b
		if len(ev.Targets) > 0 {
			n.Type = "" // schedules: a digest is routed to its targets whoever subscribes to its type
		}
	}
	if err := e.commit(ctx, &ingestReq{evs: out}); err != nil {
		return nil, err
	}
	return ids, nil
}

func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var pe *problem.Error
	if errors.As(err, &pe) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// TestRule evaluates a condition against an event as the router would: with
// the changes derived from the stored snapshot (or the event's previous).
func (e *Engine) TestRule(ctx context.Context, cond *rules.Condition, ev *event.Event) (bool, []event.Change, error) {
	old := ev.Previous
	if old == nil && ev.AssetID() != "" {
		var err error
		if old, err = e.Assets().Get(ctx, ev.AssetID()); err != nil {
			return false, nil, err
		}
	}
	ev.Changes = rules.Changes(ev, old)
	env := rules.NewEnv(ev, old, e.now())
	ok, err := rules.NewEvaluator().Eval(cond, env)
	if err != nil {
		return false, ev.Changes, problem.New(problem.KindInvalid, "condition failed at run time: %v", err)
	}
	return ok, ev.Changes, nil
}

// deliveryID derives a delivery's id from its event and webhook, so that a
// re-routed event yields the same webhook-id.
func deliveryID(eventID string, webhookID int64) string {
	return "msg_" + hashID(eventID+"/"+strconv.FormatInt(webhookID, 10))
}
