package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// AssetOp says what an event does to its asset's snapshot.
type AssetOp byte

// Asset operations of Enqueue.
const (
	// AssetNone leaves every snapshot alone (the event has no asset).
	AssetNone AssetOp = iota
	// AssetStore stores the asset, and its markers as the kept flags.
	AssetStore
	// AssetKeep stores an asset that carries no markers (the DAM does not
	// know them), keeping the stored flags in it.
	AssetKeep
	// AssetDelete deletes the snapshot and its flags.
	AssetDelete
)

var assetOps = [...]string{AssetNone: "", AssetStore: "s", AssetKeep: "k", AssetDelete: "d"}

// NewEvent is one event to append to the events stream.
type NewEvent struct {
	// ID is the event's id; Idempotent says it came from the client, so
	// that the same id within the idempotency window is not queued twice.
	ID         string
	Idempotent bool
	Type       string
	// Envelope is the event's JSON without its asset; Asset the asset's
	// canonical JSON (nil for none).
	Envelope []byte
	Asset    []byte
	AssetID  string
	Op       AssetOp
	// Flags are the asset's markers as JSON, stored as its kept flags
	// with AssetStore.
	Flags []byte
}

// EventEntry is an event as the router reads it from the stream.
type EventEntry struct {
	Entry    string // stream entry id
	ID       string // the event's id ("" in entries written before it was kept)
	AssetID  string // its asset's uuid, "" for none
	Type     string
	Envelope string // the event without its asset
	Asset    string // the asset's JSON, "" for none
	Old      string // the asset's previous snapshot, "" for none
	Flags    string // the kept flags merged into the asset, "" for none
}

// ingestScript appends a batch of events to the events stream, swapping
// each asset's snapshot in the same step, so that snapshots change in the
// order the events were accepted.
//
// KEYS[1] events stream; for event i: KEYS[2i] its idempotency key,
// KEYS[2i+1] its asset's snapshot (the stream key stands in for unused ones).
// ARGV[1] n, ARGV[2] idempotency TTL (s); for event i, from b = 2+8(i-1):
// b+1 id, b+2 "1" to check idempotency, b+3 asset op ("", s, k, d), b+4 asset
// JSON, b+5 envelope JSON, b+6 flags JSON, b+7 type, b+8 asset uuid.
// A snapshot is "<kept flags>\n<asset JSON>" (no flags: nothing before the
// newline). With op k and kept flags, the asset is stored again with them as
// its "markers". The entry holds t (type), e (envelope), a (asset),
// o (previous asset), m (flags merged), i (event id) and u (asset uuid), so
// that the router keeps the history of an event it does not route without
// decoding it. Returns per event 1 (queued) or 0 (a duplicate id).
var ingestScript = redis.NewScript(`
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local b = 2 + (i - 1) * 8
  local ok = true
  if ARGV[b + 2] == '1' then
    ok = redis.call('SET', KEYS[2 * i], ARGV[b + 1], 'NX', 'EX', ARGV[2])
  end
  if ok then
    local op, asset, akey = ARGV[b + 3], ARGV[b + 4], KEYS[2 * i + 1]
    local prev, kept = false, ''
    if op == 's' then
      local f = ARGV[b + 6]
      if f == '[]' then f = '' end
      prev = redis.call('SET', akey, f .. '\n' .. asset, 'GET')
    elseif op == 'k' then
      prev = redis.call('SET', akey, '\n' .. asset, 'GET')
      if prev then
        local nl = string.find(prev, '\n', 1, true)
        if nl and nl > 1 then
          kept = string.sub(prev, 1, nl - 1)
          local merged
          if asset == '{}' then
            merged = '{"markers":' .. kept .. '}'
          else
            merged = string.sub(asset, 1, -2) .. ',"markers":' .. kept .. '}'
          end
          redis.call('SET', akey, kept .. '\n' .. merged)
        end
      end
    elseif op == 'd' then
      prev = redis.call('GETDEL', akey)
    end
    local old = ''
    if prev then
      local nl = string.find(prev, '\n', 1, true)
      if nl then old = string.sub(prev, nl + 1) else old = prev end
    end
    redis.call('XADD', KEYS[1], '*', 't', ARGV[b + 7], 'e', ARGV[b + 5], 'a', asset, 'o', old, 'm', kept,
      'i', ARGV[b + 1], 'u', ARGV[b + 8])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`)

// Enqueue appends events to the events stream in one script call and
// reports, per event, whether it was queued (false: a duplicate id).
func (s *Store) Enqueue(ctx context.Context, evs []NewEvent, idemTTL time.Duration) ([]bool, error) {
	keys := make([]string, 1, 1+2*len(evs))
	keys[0] = s.k.events()
	args := make([]any, 2, 2+8*len(evs))
	args[0], args[1] = len(evs), int(idemTTL/time.Second)
	for _, ev := range evs {
		ik, ak := keys[0], keys[0]
		idem := "0"
		if ev.Idempotent {
			ik, idem = s.k.idem(ev.ID), "1"
		}
		if ev.AssetID != "" && ev.Op != AssetNone {
			ak = s.k.asset(ev.AssetID)
		}
		op := assetOps[ev.Op]
		if ak == keys[0] {
			op = ""
		}
		keys = append(keys, ik, ak)
		args = append(args, ev.ID, idem, op, ev.Asset, ev.Envelope, ev.Flags, ev.Type, ev.AssetID)
	}
	res, err := ingestScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(res) != len(evs) {
		return nil, fmt.Errorf("store: ingest answered %d results for %d events", len(res), len(evs))
	}
	out := make([]bool, len(res))
	for i, r := range res {
		out[i] = r == 1
	}
	return out, nil
}

func eventEntries(msgs []redis.XMessage) []EventEntry {
	out := make([]EventEntry, 0, len(msgs))
	for _, m := range msgs {
		if m.Values == nil { // deleted while pending
			continue
		}
		out = append(out, eventEntry(m.ID, m.Values))
	}
	return out
}

func eventEntry(id string, v map[string]any) EventEntry {
	return EventEntry{Entry: id, ID: str(v["i"]), AssetID: str(v["u"]), Type: str(v["t"]), Envelope: str(v["e"]),
		Asset: str(v["a"]), Old: str(v["o"]), Flags: str(v["m"])}
}

// ReadEvents reads new events for the router (XREADGROUP, blocking at most
// block); none when the wait ends empty.
func (s *Store) ReadEvents(ctx context.Context, consumer string, count int, block time.Duration) ([]EventEntry, error) {
	msgs, err := s.read(ctx, s.k.events(), GroupRouter, consumer, ">", count, block)
	return eventEntries(msgs), err
}

// OwnPendingEvents reads the consumer's own pending events after start
// ("0" first), for a read whose reply was lost; next is where to go on.
func (s *Store) OwnPendingEvents(ctx context.Context, consumer, start string, count int) (entries []EventEntry, next string, err error) {
	msgs, err := s.read(ctx, s.k.events(), GroupRouter, consumer, start, count, -1)
	if len(msgs) > 0 {
		next = msgs[len(msgs)-1].ID
	}
	return eventEntries(msgs), next, err
}

// ClaimEvents takes over events that stayed unacknowledged for minIdle
// (XAUTOCLAIM from start, "0-0" first); next is "" when the scan is done.
func (s *Store) ClaimEvents(ctx context.Context, consumer string, minIdle time.Duration, start string, count int) ([]EventEntry, string, error) {
	msgs, next, err := s.claim(ctx, s.k.events(), GroupRouter, consumer, minIdle, start, count)
	return eventEntries(msgs), next, err
}

func (s *Store) read(ctx context.Context, stream, group, consumer, start string, count int, block time.Duration) ([]redis.XMessage, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: consumer,
		Streams: []string{stream, start}, Count: int64(count), Block: block}).Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	return res[0].Messages, nil
}

func (s *Store) claim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, start string, count int) ([]redis.XMessage, string, error) {
	msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: group,
		Consumer: consumer, MinIdle: minIdle, Start: start, Count: int64(count)}).Result()
	if err != nil {
		return nil, "", unavailable(err)
	}
	if next == "0-0" {
		next = ""
	}
	return msgs, next, nil
}
