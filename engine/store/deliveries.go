package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeliveryEntry is a delivery as a worker reads it from the stream.
type DeliveryEntry struct {
	Entry   string // stream entry id
	Message string
	Body    string // the exact body of its first attempt, "" when not given
}

func deliveryEntries(msgs []redis.XMessage) []DeliveryEntry {
	out := make([]DeliveryEntry, 0, len(msgs))
	for _, m := range msgs {
		if m.Values == nil {
			continue
		}
		out = append(out, DeliveryEntry{Entry: m.ID, Message: str(m.Values["j"]), Body: str(m.Values["b"])})
	}
	return out
}

// ReadDeliveries reads new deliveries for a worker process.
func (s *Store) ReadDeliveries(ctx context.Context, consumer string, count int, block time.Duration) ([]DeliveryEntry, error) {
	msgs, err := s.read(ctx, s.k.deliveries(), GroupWorkers, consumer, ">", count, block)
	return deliveryEntries(msgs), err
}

// OwnPendingDeliveries reads the consumer's own pending deliveries after start.
func (s *Store) OwnPendingDeliveries(ctx context.Context, consumer, start string, count int) ([]DeliveryEntry, string, error) {
	msgs, err := s.read(ctx, s.k.deliveries(), GroupWorkers, consumer, start, count, -1)
	next := ""
	if len(msgs) > 0 {
		next = msgs[len(msgs)-1].ID
	}
	return deliveryEntries(msgs), next, err
}

// ClaimDeliveries takes over deliveries unacknowledged for minIdle.
func (s *Store) ClaimDeliveries(ctx context.Context, consumer string, minIdle time.Duration, start string, count int) ([]DeliveryEntry, string, error) {
	msgs, next, err := s.claim(ctx, s.k.deliveries(), GroupWorkers, consumer, minIdle, start, count)
	return deliveryEntries(msgs), next, err
}

// Renew resets the idle time of deliveries the consumer still holds, so no
// other process takes them over.
func (s *Store) Renew(ctx context.Context, consumer string, entries []string) error {
	for len(entries) > 0 {
		n := min(len(entries), 500)
		err := s.rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: s.k.deliveries(), Group: GroupWorkers,
			Consumer: consumer, Messages: entries[:n]}).Err()
		if err != nil && err != redis.Nil {
			return unavailable(err)
		}
		entries = entries[n:]
	}
	return nil
}

// Kind is what became of one attempt (or of a delivery not attempted).
type Kind string

// Outcome kinds.
const (
	OK     Kind = "ok"     // succeeded
	Fail   Kind = "fail"   // failed for good (exhausted, aborted, gone)
	Retry  Kind = "retry"  // failed; tried again at Due
	Snooze Kind = "snooze" // not attempted; back in the retry set until Due, not counted as an attempt
	Drop   Kind = "drop"   // its webhook is gone: acknowledged, nothing recorded
)

// Outcome is one delivery's outcome to record.
type Outcome struct {
	Kind       Kind
	Entry      string // the stream entry, "" for none
	WebhookID  int64
	DeliveryID string
	// Retrying says the delivery was counted as waiting for a retry
	// (retry_queue_length) rather than for its first try (queue_length).
	Retrying bool
	Record   []byte // the delivery's record, nil to leave it
	Latest   []byte // the webhook's latest run, nil to leave it
	Message  []byte // for Retry and Snooze: the message to wait with
	Due      int64  // for Retry and Snooze: unix ms
}

// completeScript records a batch of outcomes, but only those whose stream
// entry is still pending in the workers group (XCLAIM … JUSTID), so that an
// outcome recorded twice (a lost reply, a delivery taken over) moves no
// counter twice.
//
// KEYS[1] deliveries stream, [2] retry set, [3] retry messages, [4] qlen,
// [5] rlen, [6] latest runs, [7] health; for item i: KEYS[6+2i] its
// webhook's records, KEYS[7+2i] its failed log.
// ARGV[1] group, [2] consumer, [3] n, [4] failed log cap index, [5] now (ms);
// for item i, from b = 5+9(i-1): b+1 kind, b+2 entry, b+3 webhook id, b+4
// counter ("q" or "r"), b+5 delivery id, b+6 record, b+7 latest run, b+8
// message, b+9 due (ms).
// A waiting message is stored as "q" or "r" (the counter it is in) and its
// JSON. Counters move by webhook, records are written by webhook, the latest
// runs in one HSET, and health once per webhook, for its last outcome.
// Returns per item: -1 not recorded here; for a webhook's last outcome in
// the batch, 1 (ok) when it recovered from failures, or (fail, retry) the
// time (ms) of the first failure since the last success; else 0.
var completeScript = redis.NewScript(`
local group, consumer, n, cap, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local claim = {'XCLAIM', KEYS[1], group, consumer, '0'}
for i = 1, n do
  local sid = ARGV[5 + (i - 1) * 9 + 2]
  if sid ~= '' then claim[#claim + 1] = sid end
end
local live, ids = {}, {}
if #claim > 5 then
  claim[#claim + 1] = 'JUSTID'
  for _, id in ipairs(redis.call(unpack(claim))) do live[id] = true; ids[#ids + 1] = id end
end
local out, dq, dr, recs, failed, latest, health = {}, {}, {}, {}, {}, {}, {}
local zadd, hset = {'ZADD', KEYS[2]}, {'HSET', KEYS[3]}
for i = 1, n do
  local b = 5 + (i - 1) * 9
  local kind, sid, w, ctr, did = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local res = -1
  if sid == '' or live[sid] then
    res = 0
    if kind == 'snooze' or kind == 'retry' then
      local c = ctr
      if kind == 'retry' then c = 'r' end
      zadd[#zadd + 1] = ARGV[b + 9]; zadd[#zadd + 1] = did
      hset[#hset + 1] = did; hset[#hset + 1] = c .. ARGV[b + 8]
      if kind == 'retry' and ctr == 'q' then
        dq[w] = (dq[w] or 0) - 1; dr[w] = (dr[w] or 0) + 1
      end
    elseif ctr == 'r' then
      dr[w] = (dr[w] or 0) - 1
    else
      dq[w] = (dq[w] or 0) - 1
    end
    local rec = ARGV[b + 6]
    if rec ~= '' then
      local rk = KEYS[6 + 2 * i]
      local t = recs[rk]
      if not t then t = {'HSET', rk}; recs[rk] = t end
      t[#t + 1] = did; t[#t + 1] = rec
      if kind == 'fail' then
        local fk = KEYS[7 + 2 * i]
        local f = failed[fk]
        if not f then f = {'LPUSH', fk}; failed[fk] = f end
        f[#f + 1] = rec
      end
    end
    if ARGV[b + 7] ~= '' then latest[w] = ARGV[b + 7] end
    if kind == 'ok' or kind == 'fail' or kind == 'retry' then health[w] = {i, kind} end
  end
  out[i] = res
end
if #zadd > 2 then
  redis.call(unpack(zadd))
  redis.call(unpack(hset))
end
for w, d in pairs(dq) do redis.call('HINCRBY', KEYS[4], w, d) end
for w, d in pairs(dr) do redis.call('HINCRBY', KEYS[5], w, d) end
for _, t in pairs(recs) do redis.call(unpack(t)) end
for k, f in pairs(failed) do
  redis.call(unpack(f))
  redis.call('LTRIM', k, 0, cap)
end
local ls = {'HSET', KEYS[6]}
for w, l in pairs(latest) do ls[#ls + 1] = w; ls[#ls + 1] = l end
if #ls > 2 then redis.call(unpack(ls)) end
for w, h in pairs(health) do
  if h[2] == 'ok' then
    out[h[1]] = redis.call('HDEL', KEYS[7], w)
  else
    redis.call('HSETNX', KEYS[7], w, now)
    out[h[1]] = tonumber(redis.call('HGET', KEYS[7], w))
  end
end
if #ids > 0 then
  redis.call('XACK', KEYS[1], group, unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return out
`)

// Complete records a batch of outcomes in one script call; see
// completeScript for what each result means.
func (s *Store) Complete(ctx context.Context, consumer string, batch []Outcome, failedCap int, now time.Time) ([]int64, error) {
	ks := make([]string, 7, 7+2*len(batch))
	copy(ks, []string{s.k.deliveries(), s.k.retry(), s.k.retryMsg(), s.k.qlen(), s.k.rlen(), s.k.latest(), s.k.health()})
	args := make([]any, 5, 5+9*len(batch))
	args[0], args[1], args[2], args[3], args[4] = GroupWorkers, consumer, len(batch), failedCap-1, now.UnixMilli()
	for _, o := range batch {
		ctr := "q"
		if o.Retrying {
			ctr = "r"
		}
		ks = append(ks, s.k.records(o.WebhookID), s.k.failedLog(o.WebhookID))
		args = append(args, string(o.Kind), o.Entry, o.WebhookID, ctr, o.DeliveryID, o.Record, o.Latest, o.Message, o.Due)
	}
	res, err := completeScript.Run(ctx, s.rdb, ks, args...).Int64Slice()
	return res, unavailable(err)
}

// promoteScript moves due waiting deliveries back to the deliveries stream.
// KEYS[1] retry set, [2] retry messages, [3] deliveries stream;
// ARGV[1] now (ms), [2] limit. Returns how many moved.
var promoteScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids == 0 then return 0 end
local ms = redis.call('HMGET', KEYS[2], unpack(ids))
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
for i = 1, #ids do
  if ms[i] then redis.call('XADD', KEYS[3], '*', 'j', string.sub(ms[i], 2)) end
end
return #ids
`)

// Promote moves up to limit due deliveries back to the stream.
func (s *Store) Promote(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := promoteScript.Run(ctx, s.rdb, []string{s.k.retry(), s.k.retryMsg(), s.k.deliveries()},
		now.UnixMilli(), limit).Int()
	return n, unavailable(err)
}

// Gauges returns the deliveries stream's length and the retry set's size.
func (s *Store) Gauges(ctx context.Context) (queued, waiting int64, err error) {
	pipe := s.rdb.Pipeline()
	ql := pipe.XLen(ctx, s.k.deliveries())
	rl := pipe.ZCard(ctx, s.k.retry())
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, 0, unavailable(err)
	}
	return ql.Val(), rl.Val(), nil
}

// ReapConsumers drops the consumers, other than keep, that have been idle
// for longer than idle with nothing pending.
func (s *Store) ReapConsumers(ctx context.Context, keep string, idle time.Duration) {
	for _, g := range []struct{ stream, group string }{{s.k.events(), GroupRouter}, {s.k.deliveries(), GroupWorkers}} {
		cs, err := s.rdb.XInfoConsumers(ctx, g.stream, g.group).Result()
		if err != nil {
			continue
		}
		for _, c := range cs {
			if c.Name != keep && c.Pending == 0 && c.Idle > idle {
				s.rdb.XGroupDelConsumer(ctx, g.stream, g.group, c.Name)
			}
		}
	}
}
