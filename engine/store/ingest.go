package store

import (
	"context"
	"strings"
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
	// Order is the event's history key (see ingestScript), "" in entries
	// written before it was kept (the stream id gives it then).
	Order string
}

// ingestScript appends a batch of events to the events stream, swapping
// each asset's snapshot in the same step, so that snapshots change in the
// order the events were accepted.
//
// It runs per partition (blockScript): KEYS[1] the partition's events
// stream; for event i: KEYS[2i] its idempotency key, KEYS[2i+1] its asset's
// snapshot (the stream key stands in for unused ones); then the
// partition's order mark and the stream's wait flag. ARGV[1] n, ARGV[2]
// idempotency TTL (s), [3] and [4] the doorbell's channel ("" for none) and
// message, rung when a reader left the wait flag, [5] the time of the call
// (unix ms); for event i, from b = 5+9(i-1):
// b+1 id, b+2 "1" to check idempotency, b+3 asset op ("", s, k, d), b+4 asset
// JSON, b+5 envelope JSON, b+6 flags JSON, b+7 type, b+8 asset uuid, b+9
// its index in the whole call (all partitions).
// A snapshot is "<kept flags>\n<asset JSON>" (no flags: nothing before the
// newline). With op k and kept flags, the asset is stored again with them as
// its "markers". The entry holds t (type), e (envelope), a (asset),
// o (previous asset), m (flags merged), i (event id), u (asset uuid) and
// k (its order, "<ms>-<x>"), so that the router keeps the history of an
// event it does not route without decoding it.
//
// The order is what the history sorts events by (historyKey): the
// call's time in ms (the same for every partition of the call, never below
// the partition's last) and x, the
// event's index in the call, raised above the partition's last x of the
// same millisecond (the order mark "<ms>:<x>"). So events of one partition
// are in stream order, and the events of one call, whatever their
// partitions, in the call's order. Returns per event 1 (queued) or 0 (a duplicate id).
var ingestScript = blockScript(`
local n = tonumber(ARGV[1])
local out = {}
local ms = tonumber(ARGV[5])
local lastms, lastx = 0, -1
local hs = redis.call('GET', KEYS[#KEYS - 1])
if hs then
  local c = string.find(hs, ':', 1, true)
  lastms, lastx = tonumber(string.sub(hs, 1, c - 1)), tonumber(string.sub(hs, c + 1))
end
if ms < lastms then ms = lastms end
if ms > lastms then lastx = -1 end
for i = 1, n do
  local b = 5 + (i - 1) * 9
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
    local x = tonumber(ARGV[b + 9])
    if x <= lastx then x = lastx + 1 end
    lastx = x
    redis.call('XADD', KEYS[1], '*', 't', ARGV[b + 7], 'e', ARGV[b + 5], 'a', asset, 'o', old, 'm', kept,
      'i', ARGV[b + 1], 'u', ARGV[b + 8], 'k', ms .. '-' .. x)
    out[i] = 1
  else
    out[i] = 0
  end
end
redis.call('SET', KEYS[#KEYS - 1], ms .. ':' .. lastx)
if ARGV[3] ~= '' and redis.call('DEL', KEYS[#KEYS]) == 1 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return out
`)

// Enqueue appends events to the events streams of their partitions (one
// script call on a single Redis, one per partition on a cluster) and
// reports, per event, whether it was queued (false: a duplicate id). The
// idempotency key and the snapshot of an event live in its partition. On a
// single Redis the call is all or nothing; on a cluster each partition's
// share is, and a failure of some is a *PartialError saying which events
// were not queued.
func (s *Store) Enqueue(ctx context.Context, evs []NewEvent, idemTTL time.Duration) ([]bool, error) {
	g := newByPartition(0)
	now := time.Now().UnixMilli()
	for i, ev := range evs {
		p := s.Partition(ev.AssetID, ev.ID)
		k := s.parts[p]
		b := g.add(p, i, func() block {
			ch, msg := s.ringArgs(streamEvents, p)
			return block{part: p, keys: []string{k.events()}, args: []any{0, int(idemTTL / time.Second), ch, msg, now}}
		})
		ik, ak := k.events(), k.events()
		idem := "0"
		if ev.Idempotent {
			ik, idem = k.idem(ev.ID), "1"
		}
		if ev.AssetID != "" && ev.Op != AssetNone {
			ak = k.asset(ev.AssetID)
		}
		op := assetOps[ev.Op]
		if ak == k.events() {
			op = ""
		}
		b.keys = append(b.keys, ik, ak)
		b.args = append(b.args, ev.ID, idem, op, ev.Asset, ev.Envelope, ev.Flags, ev.Type, ev.AssetID, i)
	}
	blocks := g.list()
	for j, p := range g.order {
		k := s.parts[p]
		blocks[j].keys = append(blocks[j].keys, k.order(), streamEvents.wait(k))
	}
	res, errs := s.runBlocksEach(ctx, ingestScript, blocks)
	out := make([]bool, len(evs))
	var partial *PartialError
	for j, p := range g.order {
		if errs[j] != nil {
			if partial == nil {
				partial = &PartialError{Err: errs[j], Failed: make([]bool, len(evs))}
			}
			for _, i := range g.index[p] {
				partial.Failed[i] = true
			}
			res[j] = nil
		}
	}
	if err := g.each("ingest", res, func(i int, r int64) { out[i] = r == 1 }); err != nil {
		return nil, err
	}
	if partial != nil {
		return out, partial
	}
	return out, nil
}

// PartialError is Enqueue's error when some partitions' events were queued
// and others' were not (on a cluster, a master failing): Failed tells which
// events were not.
type PartialError struct {
	Err    error
	Failed []bool
}

// Error is the failure's message.
func (e *PartialError) Error() string { return e.Err.Error() }

// Unwrap returns the failure (ErrUnavailable for Redis's own).
func (e *PartialError) Unwrap() error { return e.Err }

func eventEntries(pm []partMsgs) []EventEntry {
	n := 0
	for _, x := range pm {
		n += len(x.msgs)
	}
	out := make([]EventEntry, 0, n)
	for _, x := range pm {
		for _, m := range x.msgs {
			if m.Values == nil { // deleted while pending
				continue
			}
			out = append(out, eventEntry(entry(x.part, m.ID), m.Values))
		}
	}
	return out
}

func eventEntry(id string, v map[string]any) EventEntry {
	e := EventEntry{Entry: id, ID: str(v["i"]), AssetID: str(v["u"]), Type: str(v["t"]), Envelope: str(v["e"]),
		Asset: str(v["a"]), Old: str(v["o"]), Flags: str(v["m"])}
	if k := str(v["k"]); k != "" {
		e.Order = entryKey(k)
	}
	return e
}

// ReadEvents reads new events of every partition for the router, waiting
// at most block; none when the wait ends empty.
func (s *Store) ReadEvents(ctx context.Context, consumer string, count int, block time.Duration) ([]EventEntry, error) {
	pm, err := s.readers[streamEvents].read(ctx, consumer, count, block)
	return eventEntries(pm), err
}

// OwnPendingEvents reads the consumer's own pending events after start
// ("0" first), for a read whose reply was lost; next is where to go on.
// It goes through the partitions in turn; no entries means it is done.
func (s *Store) OwnPendingEvents(ctx context.Context, consumer, start string, count int) (entries []EventEntry, next string, err error) {
	pm, next, err := s.ownPending(ctx, streamEvents, consumer, start, count)
	return eventEntries(pm), next, err
}

// ClaimEvents takes over events that stayed unacknowledged for minIdle
// (XAUTOCLAIM from start, "0-0" first, through every partition); next is
// "" when the scan is done.
func (s *Store) ClaimEvents(ctx context.Context, consumer string, minIdle time.Duration, start string, count int) ([]EventEntry, string, error) {
	pm, next, err := s.claim(ctx, streamEvents, consumer, minIdle, start, count)
	return eventEntries(pm), next, err
}

// ownPending reads a consumer's pending entries from a qualified start,
// moving on to the next partition when one has no more.
func (s *Store) ownPending(ctx context.Context, kind streamKind, consumer, start string, count int) ([]partMsgs, string, error) {
	p, id := splitEntry(start)
	if !strings.Contains(start, "/") {
		p, id = 0, "0"
	}
	for ; p < len(s.parts); p, id = p+1, "0" {
		msgs, err := s.read(ctx, kind.stream(s.parts[p]), kind.group(), consumer, id, count, -1)
		if err != nil {
			return nil, "", err
		}
		if len(msgs) > 0 {
			return []partMsgs{{part: p, msgs: msgs}}, entry(p, msgs[len(msgs)-1].ID), nil
		}
	}
	return nil, "", nil
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

// claim runs XAUTOCLAIM through the partitions from a qualified cursor
// ("0-0" first); next is "" when every partition is done.
func (s *Store) claim(ctx context.Context, kind streamKind, consumer string, minIdle time.Duration, start string, count int) ([]partMsgs, string, error) {
	p, id := splitEntry(start)
	if !strings.Contains(start, "/") {
		p, id = 0, "0-0"
	}
	if p >= len(s.parts) {
		return nil, "", nil
	}
	msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: kind.stream(s.parts[p]), Group: kind.group(),
		Consumer: consumer, MinIdle: minIdle, Start: id, Count: int64(count)}).Result()
	if err != nil {
		return nil, "", unavailable(err)
	}
	switch {
	case next != "0-0":
		next = entry(p, next)
	case p+1 < len(s.parts):
		next = entry(p+1, "0-0")
	default:
		next = ""
	}
	return []partMsgs{{part: p, msgs: msgs}}, next, nil
}
