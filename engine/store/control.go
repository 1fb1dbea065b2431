package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Delivery control: recover (one more attempt for the failed deliveries of
// a window) and replay (deliveries for the stored events of a window that a
// webhook never had).

// DeliveriesBetween returns up to n of a webhook's delivery ids and records
// created in [from, until], oldest first, from the offset'th; ids whose
// record is gone are skipped. done reports that the window has no more.
func (s *Store) DeliveriesBetween(ctx context.Context, webhookID int64, from, until time.Time, offset, n int) (ids []string, recs [][]byte, done bool, err error) {
	all, err := s.rdb.ZRangeByScore(ctx, s.k.index(webhookID), &redis.ZRangeBy{
		Min: strconv.FormatInt(from.UnixMilli(), 10), Max: strconv.FormatInt(until.UnixMilli(), 10),
		Offset: int64(offset), Count: int64(n)}).Result()
	if err != nil {
		return nil, nil, false, unavailable(err)
	}
	if len(all) == 0 {
		return nil, nil, true, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.k.records(webhookID), all...).Result()
	if err != nil {
		return nil, nil, false, unavailable(err)
	}
	for i, v := range vals {
		if r, ok := v.(string); ok {
			ids = append(ids, all[i])
			recs = append(recs, []byte(r))
		}
	}
	return ids, recs, len(all) < n, nil
}

// Requeued is one finished delivery to attempt once more.
type Requeued struct {
	DeliveryID string
	// Old is its record as read: it is queued only while the stored record
	// is still exactly that, so two recovers never queue it twice.
	Old     []byte
	Message []byte // its message (to the deliveries stream)
	Record  []byte // its new record
}

// requeueScript queues finished deliveries of one webhook once more, each
// only while its record is unchanged (compare and set), as Resend does one.
// KEYS[1] deliveries stream, [2] rlen, [3] the webhook's records, [4]
// aborted set, [5] abort counter. ARGV[1] webhook id, [2] n, then n
// quadruples (delivery id, old record, message, new record).
// Returns per item 1 when queued, 0 when its record had changed.
var requeueScript = redis.NewScript(`
local n, moved, out = tonumber(ARGV[2]), 0, {}
for i = 1, n do
  local b = 2 + (i - 1) * 4
  local did = ARGV[b + 1]
  out[i] = 0
  if redis.call('HGET', KEYS[3], did) == ARGV[b + 2] then
    redis.call('XADD', KEYS[1], '*', 'j', ARGV[b + 3])
    redis.call('HSET', KEYS[3], did, ARGV[b + 4])
    redis.call('ZREM', KEYS[4], did)
    moved = moved + 1
    out[i] = 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], moved)
  redis.call('INCR', KEYS[5])
end
return out
`)

// Requeue queues one more attempt of finished deliveries of a webhook, in
// one script call: each message goes to the stream counted as a retry, with
// its new record, and any abort mark is dropped (the abort counter moves so
// that every process forgets it). It reports which were queued.
func (s *Store) Requeue(ctx context.Context, webhookID int64, items []Requeued) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	args := make([]any, 2, 2+4*len(items))
	args[0], args[1] = webhookID, len(items)
	for _, it := range items {
		args = append(args, it.DeliveryID, it.Old, it.Message, it.Record)
	}
	res, err := requeueScript.Run(ctx, s.rdb, []string{s.k.deliveries(), s.k.rlen(), s.k.records(webhookID),
		s.k.aborted(), s.k.aborts()}, args...).Int64Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]bool, len(res))
	for i, r := range res {
		out[i] = r == 1
	}
	return out, nil
}

// HaveRecords reports which of the delivery ids a webhook has a record of.
func (s *Store) HaveRecords(ctx context.Context, webhookID int64, ids []string) ([]bool, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HExists(ctx, s.k.records(webhookID), id)
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
	EventID string
	Event   []byte
}

// replayScript creates deliveries of one webhook that it never had: each
// only when the webhook has no record of that delivery id, so a replay done
// twice (or raced) queues nothing twice.
// KEYS[1] deliveries stream, [2] qlen, [3] the webhook's records, [4] its
// index, [5] the current minute's stored events. ARGV[1] webhook id, [2]
// stored events TTL (s), [3] n, then n septets (delivery id, message, body,
// record, created ms, event id, stored event).
// Returns per item 1 when queued, 0 when it existed.
var replayScript = redis.NewScript(`
local n, made, out = tonumber(ARGV[3]), 0, {}
for i = 1, n do
  local b = 3 + (i - 1) * 7
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
end
return out
`)

// Replay queues the deliveries of a webhook that it has no record of, in
// one script call, and reports which were queued; their events are stored
// again in the minute of now, kept for retention.
func (s *Store) Replay(ctx context.Context, webhookID int64, now time.Time, retention time.Duration, items []Replayed) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	args := make([]any, 3, 3+7*len(items))
	args[0], args[1], args[2] = webhookID, max(int64(retention/time.Second), 60), len(items)
	for _, it := range items {
		args = append(args, it.DeliveryID, it.Message, it.Body, it.Record, it.Created, it.EventID, it.Event)
	}
	res, err := replayScript.Run(ctx, s.rdb, []string{s.k.deliveries(), s.k.qlen(), s.k.records(webhookID),
		s.k.index(webhookID), s.k.stored(Minute(now))}, args...).Int64Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]bool, len(res))
	for i, r := range res {
		out[i] = r == 1
	}
	return out, nil
}
