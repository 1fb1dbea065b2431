package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Delivery control: recover (one more attempt for the failed deliveries of
// a window) and replay (deliveries for the stored events of a window that a
// webhook never had).

// DeliveriesBetween returns up to n of a webhook's deliveries created in
// [from, until], oldest first (by creation, then by id, across every
// partition), after the place after (from the window's start when nil);
// those whose record is gone are skipped. next is where the following page
// starts (pass it as after), nil when the window has no more.
func (s *Store) DeliveriesBetween(ctx context.Context, webhookID int64, from, until time.Time, after *RecordPos, n int) (recs []Listed, next *RecordPos, err error) {
	l := listing{asc: true, from: itoa(from.UnixMilli()), end: itoa(until.UnixMilli())}
	if after != nil {
		l.from, l.id = itoa(after.Created), after.ID
	}
	return s.page(ctx, webhookID, l, n)
}

// Requeued is one finished delivery to attempt once more.
type Requeued struct {
	// Part is the partition it is in (that of its event).
	Part       int
	DeliveryID string
	// Old is its record as read: it is queued only while the stored record
	// is still exactly that, so two recovers never queue it twice.
	Old     []byte
	Message []byte // its message (to the deliveries stream)
	Record  []byte // its new record
}

// requeueScript queues finished deliveries of one webhook in one partition
// once more, each only while its record is unchanged (compare and set), as
// Resend does one. It runs per partition (blockScript): KEYS[1] deliveries
// stream, [2] rlen, [3] the webhook's records, [4] the stream's wait flag.
// ARGV[1] webhook id, [2] n, [3] and [4] the doorbell's channel and
// message, then n quadruples (delivery id, old record, message, new
// record). Returns per item 1 when queued, 0 when its record had changed.
var requeueScript = blockScript(`
local n, moved, out = tonumber(ARGV[2]), 0, {}
for i = 1, n do
  local b = 4 + (i - 1) * 4
  local did = ARGV[b + 1]
  out[i] = 0
  if redis.call('HGET', KEYS[3], did) == ARGV[b + 2] then
    redis.call('XADD', KEYS[1], '*', 'j', ARGV[b + 3])
    redis.call('HSET', KEYS[3], did, ARGV[b + 4])
    moved = moved + 1
    out[i] = 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], moved)
  if ARGV[3] ~= '' and redis.call('DEL', KEYS[4]) == 1 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
end
return out
`)

// Requeue queues one more attempt of finished deliveries of a webhook,
// each in its partition (one script call on a single Redis, one per
// partition on a cluster): each message goes to the stream counted as a
// retry, with its new record, and then the abort marks of those queued are
// dropped (the abort counter moves so that every process forgets them).
// It reports which were queued.
//
// The marks are global, so they go in a second call, and only once the
// compare and set has told which deliveries were queued: dropping the mark
// of one not queued could drop an admin's abort of a delivery resent and
// aborted meanwhile. Until the second call a requeued delivery may still
// have its mark, as it may in the memory of every process until they poll
// the abort counter; an error there is returned with what was queued.
func (s *Store) Requeue(ctx context.Context, webhookID int64, items []Requeued) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	g := newByPartition(1)
	for i, it := range items {
		p := s.partNo(it.Part)
		b := g.add(p, i, func() block {
			k := s.parts[p]
			ch, msg := s.ringArgs(streamDeliveries, p)
			return block{part: p, keys: []string{k.deliveries(), k.rlen(), k.records(webhookID), streamDeliveries.wait(k)},
				args: []any{webhookID, 0, ch, msg}}
		})
		b.args = append(b.args, it.DeliveryID, it.Old, it.Message, it.Record)
	}
	res, err := s.runBlocks(ctx, requeueScript, g.list())
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(items))
	var queued []string
	err = g.each("requeue", res, func(i int, r int64) {
		if r == 1 {
			out[i] = true
			queued = append(queued, items[i].DeliveryID)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(queued) > 0 {
		if err := s.dropMarks(ctx, queued...); err != nil {
			return out, err
		}
	}
	return out, nil
}

// HaveRecords reports which of the delivery ids a webhook has a record of,
// id i looked up in partition parts[i] (that of its event).
func (s *Store) HaveRecords(ctx context.Context, webhookID int64, parts []int, ids []string) ([]bool, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(ids))
	for i, id := range ids {
		p := 0
		if i < len(parts) {
			p = parts[i]
		}
		cmds[i] = pipe.HExists(ctx, s.part(p).records(webhookID), id)
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, unavailable(err)
		}
	}
	out := make([]bool, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// Replayed is one delivery a replay creates, with the stored event it
// carries (kept again in the current routing minute, so its retries find it
// for as long as a routed event's).
type Replayed struct {
	NewDelivery
	// Part is the partition of the event (Partition of its asset as
	// Enqueue had it, and its id): the delivery and the stored event go
	// there, as the router would have put them.
	Part    int
	EventID string
	Event   []byte
}

// replayScript creates deliveries of one webhook in one partition that it
// never had: each only when the webhook has no record of that delivery id
// there, so a replay done twice (or raced) queues nothing twice.
// It runs per partition (blockScript): KEYS[1] deliveries stream, [2]
// qlen, [3] the webhook's records, [4] its index, [5] the current minute's
// stored events, [6] the stream's wait flag. ARGV[1] webhook id, [2]
// stored events TTL (s), [3] n, [4] and [5] the doorbell's channel and
// message, then n septets (delivery id, message, body, record, created ms,
// event id, stored event).
// Returns per item 1 when queued, 0 when it existed.
var replayScript = blockScript(`
local n, made, out = tonumber(ARGV[3]), 0, {}
for i = 1, n do
  local b = 5 + (i - 1) * 7
  local did, msg, body = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  out[i] = 0
  if redis.call('HEXISTS', KEYS[3], did) == 0 then
    if body == '' then
      redis.call('XADD', KEYS[1], '*', 'j', msg)
    else
      redis.call('XADD', KEYS[1], '*', 'j', msg, 'b', body)
    end
    redis.call('HSET', KEYS[3], did, ARGV[b + 4])
    redis.call('ZADD', KEYS[4], ARGV[b + 5], did)
    redis.call('HSET', KEYS[5], ARGV[b + 6], ARGV[b + 7])
    made = made + 1
    out[i] = 1
  end
end
if made > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], made)
  redis.call('EXPIRE', KEYS[5], ARGV[2])
  if ARGV[4] ~= '' and redis.call('DEL', KEYS[6]) == 1 then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
end
return out
`)

// Replay queues the deliveries of a webhook that it has no record of, each
// in its event's partition (one script call on a single Redis, one per
// partition on a cluster, each partition's share atomic), and reports
// which were queued; their events are stored again in the minute of now
// of their partition, kept for retention.
func (s *Store) Replay(ctx context.Context, webhookID int64, now time.Time, retention time.Duration, items []Replayed) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	g := newByPartition(2)
	ttl := max(int64(retention/time.Second), 60)
	for i, it := range items {
		p := s.partNo(it.Part)
		b := g.add(p, i, func() block {
			k := s.parts[p]
			ch, msg := s.ringArgs(streamDeliveries, p)
			return block{part: p, keys: []string{k.deliveries(), k.qlen(), k.records(webhookID), k.index(webhookID),
				k.stored(Minute(now)), streamDeliveries.wait(k)}, args: []any{webhookID, ttl, 0, ch, msg}}
		})
		b.args = append(b.args, it.DeliveryID, it.Message, it.Body, it.Record, it.Created, it.EventID, it.Event)
	}
	res, err := s.runBlocks(ctx, replayScript, g.list())
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(items))
	if err := g.each("replay", res, func(i int, r int64) { out[i] = r == 1 }); err != nil {
		return nil, err
	}
	return out, nil
}
