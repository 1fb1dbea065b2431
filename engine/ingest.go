package engine

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"

	"errors"
	"fmt"
	gojson "github.com/goccy/go-json"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// ErrUnavailable is returned when Redis cannot be reached in time; the API
// answers 503.
var ErrUnavailable = errors.New("engine: redis unavailable")

var b32 = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewEventID returns a new time-ordered event id, "evt_" + 26 characters.
func NewEventID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return "evt_" + b32.EncodeToString(b[:])
}

// Ingest queues events in one round trip and returns their ids. An event with
// an id seen in the last 24 hours is accepted again but not queued twice. It
// returns only once every event is in Redis; ErrUnavailable when Redis does
// not answer.
func (e *Engine) Ingest(ctx context.Context, evs []*event.Event) ([]string, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	now := e.now()
	keys := make([]string, 0, 3*len(evs))
	args := make([]any, 0, 7*len(evs))
	ids := make([]string, len(evs))
	for i, ev := range evs {
		idem := "0"
		if ev.ID == "" {
			ev.ID = NewEventID(now)
		} else {
			idem = "1"
		}
		ids[i] = ev.ID
		if ev.OccurredAt.IsZero() {
			ev.OccurredAt = now.UTC()
		}
		op, assetJSON, flags, akey, fkey := "", "", "", e.k.events(), e.k.events()
		// schedules: an ASSET_SCHEDULED event reports a stored snapshot; it never writes it
		// back (a newer one may have arrived since the scan read it).
		if uuid := ev.AssetID(); uuid != "" && ev.Type != event.AssetScheduled {
			akey, fkey = e.k.asset(uuid), e.k.flags(uuid)
			if ev.Type == event.AssetRemoved {
				op = "d"
			} else {
				b, err := gojson.Marshal(ev.Asset)
				if err != nil {
					return nil, problem.Invalid("asset", nil, "Must be an Object")
				}
				assetJSON = string(b)
				op = "k"
				if m, ok := ev.Asset["markers"]; ok {
					op = "s"
					if fb, err := gojson.Marshal(m); err == nil && m != nil {
						flags = string(fb)
					}
				}
			}
		}
		body, err := gojson.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("engine: encode event: %w", err)
		}
		ik := e.k.events()
		if idem == "1" {
			ik = e.k.idem(ev.ID)
		}
		keys = append(keys, ik, akey, fkey)
		typ := ev.Type
		if len(ev.Targets) > 0 {
			typ = "" // schedules: a digest is routed to its targets whoever subscribes to its type
		}
		args = append(args, ev.ID, idem, op, assetJSON, body, flags, typ)
	}
	if _, err := e.commit(ctx, &ingestReq{n: len(evs), keys: keys, args: args}); err != nil {
		return nil, err
	}
	return ids, nil
}

func unavailable(err error) error {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Snapshot returns the last known representation of an asset, or nil when the
// engine has not seen it (or it was removed).
func (e *Engine) Snapshot(ctx context.Context, uuid string) (map[string]any, error) {
	raw, err := e.rdb.Get(ctx, e.k.asset(uuid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	var m map[string]any
	if err := event.UnmarshalJSONNumber(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// TestRule evaluates a condition against an event as the router would: with
// the changes derived from the stored snapshot (or the event's previous).
func (e *Engine) TestRule(ctx context.Context, cond *rules.Condition, ev *event.Event) (bool, []event.Change, error) {
	old := ev.Previous
	if old == nil && ev.AssetID() != "" {
		var err error
		if old, err = e.Snapshot(ctx, ev.AssetID()); err != nil {
			return false, nil, err
		}
	}
	ev.Changes = rules.Changes(ev, old)
	env := rules.NewEnv(ev, old, e.now())
	ok, err := rules.NewEvaluator().Eval(cond, env)
	if err != nil {
		return false, ev.Changes, problem.New(422, "condition failed at run time: %v", err)
	}
	return ok, ev.Changes, nil
}

// deliveryID derives a delivery's id from its event and webhook, so that a
// re-routed event yields the same webhook-id.
func deliveryID(eventID string, webhookID int64) string {
	return "msg_" + hashID(eventID+"/"+strconv.FormatInt(webhookID, 10))
}
