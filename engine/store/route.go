package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// RouteBatch is what the router writes for one batch of events: the events
// to store, the new deliveries, the samples, and the acknowledgement of
// every entry of the batch.
type RouteBatch struct {
	Consumer string
	// Entries are every stream entry of the batch, routed or skipped.
	Entries []string
	// Minute is the routing minute (unix minutes): stored events go to its
	// hash, which expires after Retention; SetExpiry sets that expiry (the
	// first batch of a minute in each process needs to).
	Minute    int64
	Retention time.Duration
	SetExpiry bool
	Events    []StoredEvent
	// Deliveries are the new deliveries, each with its record and its
	// first message.
	Deliveries []NewDelivery
	// IndexCap, when positive, trims each touched webhook's delivery index
	// (and the records it drops) to that many.
	IndexCap int
	// Samples are events kept per type for REST-hook samples, newest last;
	// SampleCap of each type are kept.
	Samples   []Sample
	SampleCap int
}

// StoredEvent is a routed event as it is kept for its deliveries' retries
// and resends.
type StoredEvent struct {
	Entry string // the stream entry it came from
	ID    string
	Value []byte
}

// NewDelivery is one delivery the router creates.
type NewDelivery struct {
	Entry      string // the event's stream entry
	WebhookID  int64
	DeliveryID string
	// Message is the delivery's message; Body, when set, the exact body to
	// send, so that its first attempt needs no read.
	Message []byte
	Body    []byte
	Record  []byte
	Created int64 // unix ms
}

// Sample is one event kept as a sample of its type.
type Sample struct {
	Entry string // the stream entry it came from
	Type  string
	Value []byte
}

// routeScript writes a batch of routed events, but only for the entries
// still pending in the router group (XCLAIM … JUSTID tells which, and makes
// them ours): a batch written twice (a lost reply, or an entry taken over
// while its first router was still at work) adds nothing the second time.
//
// KEYS[1] events stream, [2] deliveries stream, [3] qlen, [4] the minute's
// stored events; for webhook j: KEYS[3+2j] its records, KEYS[4+2j] its
// index; then one key per sample.
// ARGV[1] group, [2] consumer, [3] n entries, [4] stored events TTL (s, 0:
// leave the expiry),
// [5] index cap (0: no trim); then the n entry ids; then ns and ns triples
// (entry, event id, value); then nw and the nw webhook ids; then nd and nd
// septets (entry, webhook j, delivery id, message, body, record, created
// ms); then nsm, the sample cap, and nsm pairs (entry, value). Returns how many
// entries were still pending.
var routeScript = redis.NewScript(`
local group, consumer = ARGV[1], ARGV[2]
local n, ttl, cap = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local p = 5
local claim = {'XCLAIM', KEYS[1], group, consumer, '0'}
for i = 1, n do claim[#claim + 1] = ARGV[p + i] end
p = p + n
claim[#claim + 1] = 'JUSTID'
local live, ids = {}, {}
if n > 0 then
  for _, id in ipairs(redis.call(unpack(claim))) do live[id] = true; ids[#ids + 1] = id end
end
local ns = tonumber(ARGV[p + 1]); p = p + 1
local hs = {'HSET', KEYS[4]}
for i = 1, ns do
  if live[ARGV[p + 1]] then hs[#hs + 1] = ARGV[p + 2]; hs[#hs + 1] = ARGV[p + 3] end
  p = p + 3
end
if #hs > 2 then
  redis.call(unpack(hs))
  if ttl ~= '0' then redis.call('EXPIRE', KEYS[4], ttl) end
end
local nw = tonumber(ARGV[p + 1]); p = p + 1
local wids, cnt, recs, idx = {}, {}, {}, {}
for j = 1, nw do
  wids[j] = ARGV[p + j]; cnt[j] = 0
  recs[j] = {'HSET', KEYS[3 + 2 * j]}; idx[j] = {'ZADD', KEYS[4 + 2 * j]}
end
p = p + nw
local nd = tonumber(ARGV[p + 1]); p = p + 1
for i = 1, nd do
  local entry, j = ARGV[p + 1], tonumber(ARGV[p + 2])
  if live[entry] then
    local did, msg, body = ARGV[p + 3], ARGV[p + 4], ARGV[p + 5]
    if body == '' then
      redis.call('XADD', KEYS[2], '*', 'j', msg)
    else
      redis.call('XADD', KEYS[2], '*', 'j', msg, 'b', body)
    end
    cnt[j] = cnt[j] + 1
    local r, z = recs[j], idx[j]
    r[#r + 1] = did; r[#r + 1] = ARGV[p + 6]
    z[#z + 1] = ARGV[p + 7]; z[#z + 1] = did
  end
  p = p + 7
end
for j = 1, nw do
  if cnt[j] > 0 then
    redis.call('HINCRBY', KEYS[3], wids[j], cnt[j])
    redis.call(unpack(recs[j]))
    redis.call(unpack(idx[j]))
    if cap > 0 then
      local over = math.min(redis.call('ZCARD', KEYS[4 + 2 * j]) - cap, 2000)
      if over > 0 then
        local old = redis.call('ZRANGE', KEYS[4 + 2 * j], 0, over - 1)
        redis.call('ZREMRANGEBYRANK', KEYS[4 + 2 * j], 0, over - 1)
        redis.call('HDEL', KEYS[3 + 2 * j], unpack(old))
      end
    end
  end
end
local nsm, scap = tonumber(ARGV[p + 1]), ARGV[p + 2]; p = p + 2
for i = 1, nsm do
  if live[ARGV[p + 2 * i - 1]] then
    local key = KEYS[4 + 2 * nw + i]
    redis.call('LPUSH', key, ARGV[p + 2 * i])
    redis.call('LTRIM', key, 0, scap)
  end
end
if #ids > 0 then
  redis.call('XACK', KEYS[1], group, unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return #ids
`)

// Route writes one batch of the router in one script call and returns how
// many of its entries were still pending (the others were routed already).
func (s *Store) Route(ctx context.Context, b *RouteBatch) (int, error) {
	if len(b.Entries) == 0 {
		return 0, nil
	}
	webhooks := map[int64]int{}
	var order []int64
	for _, d := range b.Deliveries {
		if _, ok := webhooks[d.WebhookID]; !ok {
			order = append(order, d.WebhookID)
			webhooks[d.WebhookID] = len(order)
		}
	}
	keys := make([]string, 0, 4+2*len(order)+len(b.Samples))
	keys = append(keys, s.k.events(), s.k.deliveries(), s.k.qlen(), s.k.stored(b.Minute))
	for _, w := range order {
		keys = append(keys, s.k.records(w), s.k.index(w))
	}
	for _, sm := range b.Samples {
		keys = append(keys, s.k.sample(sm.Type))
	}
	ttl := max(int64(b.Retention/time.Second), 60)
	if !b.SetExpiry {
		ttl = 0
	}
	args := make([]any, 0, 10+len(b.Entries)+3*len(b.Events)+len(order)+7*len(b.Deliveries)+2*len(b.Samples))
	args = append(args, GroupRouter, b.Consumer, len(b.Entries), ttl, b.IndexCap)
	for _, e := range b.Entries {
		args = append(args, e)
	}
	args = append(args, len(b.Events))
	for _, e := range b.Events {
		args = append(args, e.Entry, e.ID, e.Value)
	}
	args = append(args, len(order))
	for _, w := range order {
		args = append(args, w)
	}
	args = append(args, len(b.Deliveries))
	for _, d := range b.Deliveries {
		args = append(args, d.Entry, webhooks[d.WebhookID], d.DeliveryID, d.Message, d.Body, d.Record, d.Created)
	}
	args = append(args, len(b.Samples), max(b.SampleCap-1, 0))
	for _, sm := range b.Samples {
		args = append(args, sm.Entry, sm.Value)
	}
	n, err := routeScript.Run(ctx, s.rdb, keys, args...).Int()
	return n, unavailable(err)
}

// StoredEventAt returns a stored event, looked up in the minute it was
// routed (its deliveries' creation time); ErrNotFound when it expired.
func (s *Store) StoredEventAt(ctx context.Context, id string, routed time.Time) ([]byte, error) {
	b, err := s.rdb.HGet(ctx, s.k.stored(Minute(routed)), id).Bytes()
	if err == redis.Nil {
		return nil, ErrNotFound
	}
	return b, unavailable(err)
}

// StoredEvents returns several stored events in one round trip; a missing
// one is nil.
func (s *Store) StoredEvents(ctx context.Context, ids []string, routed []time.Time) ([][]byte, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, s.k.stored(Minute(routed[i])), id)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, unavailable(err)
	}
	out := make([][]byte, len(ids))
	for i, c := range cmds {
		if b, err := c.Bytes(); err == nil {
			out[i] = b
		}
	}
	return out, nil
}

// Minute is the unix minute of t, which names the hash of the events
// routed in it.
func Minute(t time.Time) int64 { return t.Unix() / 60 }

// Samples returns the kept samples of an event type, newest first.
func (s *Store) Samples(ctx context.Context, typ string, n int) ([]string, error) {
	v, err := s.rdb.LRange(ctx, s.k.sample(typ), 0, int64(n-1)).Result()
	return v, unavailable(err)
}
