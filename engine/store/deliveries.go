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

func deliveryEntries(pm []partMsgs) []DeliveryEntry {
	n := 0
	for _, x := range pm {
		n += len(x.msgs)
	}
	out := make([]DeliveryEntry, 0, n)
	for _, x := range pm {
		for _, m := range x.msgs {
			if m.Values == nil {
				continue
			}
			out = append(out, DeliveryEntry{Entry: entry(x.part, m.ID), Message: str(m.Values["j"]), Body: str(m.Values["b"])})
		}
	}
	return out
}

// ReadDeliveries reads new deliveries of every partition for a worker
// process.
func (s *Store) ReadDeliveries(ctx context.Context, consumer string, count int, block time.Duration) ([]DeliveryEntry, error) {
	pm, err := s.readers[streamDeliveries].read(ctx, consumer, count, block)
	return deliveryEntries(pm), err
}

// OwnPendingDeliveries reads the consumer's own pending deliveries after
// start, through every partition.
func (s *Store) OwnPendingDeliveries(ctx context.Context, consumer, start string, count int) ([]DeliveryEntry, string, error) {
	pm, next, err := s.ownPending(ctx, streamDeliveries, consumer, start, count)
	return deliveryEntries(pm), next, err
}

// ClaimDeliveries takes over deliveries unacknowledged for minIdle.
func (s *Store) ClaimDeliveries(ctx context.Context, consumer string, minIdle time.Duration, start string, count int) ([]DeliveryEntry, string, error) {
	pm, next, err := s.claim(ctx, streamDeliveries, consumer, minIdle, start, count)
	return deliveryEntries(pm), next, err
}

// byPart groups qualified stream entries by partition.
func byPart(entries []string) map[int][]string {
	out := map[int][]string{}
	for _, e := range entries {
		p, id := splitEntry(e)
		out[p] = append(out[p], id)
	}
	return out
}

// Renew resets the idle time of deliveries the consumer still holds, so no
// other process takes them over.
func (s *Store) Renew(ctx context.Context, consumer string, entries []string) error {
	pipe := s.rdb.Pipeline()
	for p, ids := range byPart(entries) {
		if p >= len(s.parts) {
			continue
		}
		for len(ids) > 0 {
			n := min(len(ids), 500)
			pipe.XClaimJustID(ctx, &redis.XClaimArgs{Stream: s.parts[p].deliveries(), Group: GroupWorkers,
				Consumer: consumer, Messages: ids[:n]})
			ids = ids[n:]
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return unavailable(err)
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
// It runs per partition (blockScript): KEYS[1] the partition's deliveries
// stream, [2] retry set, [3] retry messages, [4] qlen, [5] rlen, [6] latest
// runs; for item i: KEYS[5+2i] its webhook's records, KEYS[6+2i] its failed
// log.
// ARGV[1] group, [2] consumer, [3] n, [4] failed log cap index, [5] now (ms);
// for item i, from b = 5+9(i-1): b+1 kind, b+2 entry, b+3 webhook id, b+4
// counter ("q" or "r"), b+5 delivery id, b+6 record, b+7 latest run, b+8
// message, b+9 due (ms).
// A waiting message is stored as "q" or "r" (the counter it is in) and its
// JSON. Counters move by webhook, records are written by webhook, the latest
// runs in one HSET. Returns per item -1 (not recorded here) or 0.
var completeScript = blockScript(`
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
local out, dq, dr, recs, failed, latest = {}, {}, {}, {}, {}, {}
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
      local rk = KEYS[5 + 2 * i]
      local t = recs[rk]
      if not t then t = {'HSET', rk}; recs[rk] = t end
      t[#t + 1] = did; t[#t + 1] = rec
      if kind == 'fail' then
        local fk = KEYS[6 + 2 * i]
        local f = failed[fk]
        if not f then f = {'LPUSH', fk}; failed[fk] = f end
        f[#f + 1] = rec
      end
    end
    if ARGV[b + 7] ~= '' then latest[w] = ARGV[b + 7] end
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
if #ids > 0 then
  redis.call('XACK', KEYS[1], group, unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return out
`)

// healthScript keeps each webhook's first failure since its last success
// (global, however many partitions its deliveries are in).
// KEYS[1] health; ARGV[1] now (ms), then pairs (webhook id, kind).
// Returns per pair: for ok, 1 when the webhook recovered from failures
// (else 0); for fail and retry, the time (ms) of the first failure since
// the last success.
var healthScript = redis.NewScript(`
local out = {}
for i = 2, #ARGV, 2 do
  local w = ARGV[i]
  if ARGV[i + 1] == 'ok' then
    out[#out + 1] = redis.call('HDEL', KEYS[1], w)
  else
    redis.call('HSETNX', KEYS[1], w, ARGV[1])
    out[#out + 1] = tonumber(redis.call('HGET', KEYS[1], w))
  end
end
return out
`)

// healthyFor is how long Complete trusts that a webhook it saw succeed has
// no failure recorded, and so writes nothing for its next successes.
const healthyFor = time.Second

// Complete records a batch of outcomes: one script call per partition on a
// cluster (one in all on a single Redis), then, for each webhook's last
// outcome in the batch, its health (skipped for a success of a webhook
// this process saw healthy within healthyFor). Returns per item: -1 not
// recorded here; for a webhook's last outcome in the batch, 1 (ok) when it
// recovered from failures, or (fail, retry) the time (ms) of the first
// failure since the last success; else 0.
func (s *Store) Complete(ctx context.Context, consumer string, batch []Outcome, failedCap int, now time.Time) ([]int64, error) {
	g := newByPartition(2)
	for i, o := range batch {
		p, sid := 0, ""
		if o.Entry != "" {
			p, sid = splitEntry(o.Entry)
		}
		p = s.partNo(p)
		k := s.parts[p]
		b := g.add(p, i, func() block {
			return block{part: p, keys: []string{k.deliveries(), k.retry(), k.retryMsg(), k.qlen(), k.rlen(), k.latest()},
				args: []any{GroupWorkers, consumer, 0, failedCap - 1, now.UnixMilli()}}
		})
		ctr := "q"
		if o.Retrying {
			ctr = "r"
		}
		b.keys = append(b.keys, k.records(o.WebhookID), k.failedLog(o.WebhookID))
		b.args = append(b.args, string(o.Kind), sid, o.WebhookID, ctr, o.DeliveryID, o.Record, o.Latest, o.Message, o.Due)
	}
	res, err := s.runBlocks(ctx, completeScript, g.list())
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(batch))
	if err := g.each("complete", res, func(i int, r int64) { out[i] = r }); err != nil {
		return nil, err
	}
	// Health: each webhook's last recorded outcome that counts.
	last := map[int64]int{}
	var hooks []int64
	for i, o := range batch {
		if out[i] < 0 || (o.Kind != OK && o.Kind != Fail && o.Kind != Retry) {
			continue
		}
		if _, ok := last[o.WebhookID]; !ok {
			hooks = append(hooks, o.WebhookID)
		}
		last[o.WebhookID] = i
	}
	args := []any{now.UnixMilli()}
	var asked []int
	s.healthMu.Lock()
	for _, w := range hooks {
		i := last[w]
		if batch[i].Kind == OK {
			if at, ok := s.healthy[w]; ok && time.Since(at) < healthyFor {
				continue
			}
		} else {
			delete(s.healthy, w)
		}
		args = append(args, w, string(batch[i].Kind))
		asked = append(asked, i)
	}
	s.healthMu.Unlock()
	if len(asked) == 0 {
		return out, nil
	}
	hs, err := healthScript.Run(ctx, s.rdb, []string{s.k.health()}, args...).Int64Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	for x, i := range asked {
		if x < len(hs) {
			out[i] = hs[x]
			if batch[i].Kind == OK {
				s.healthy[batch[i].WebhookID] = time.Now()
			}
		}
	}
	return out, nil
}

// promoteScript moves due waiting deliveries back to the deliveries stream.
// It runs per partition (blockScript): KEYS[1] retry set, [2] retry
// messages, [3] deliveries stream, [4] its wait flag; ARGV[1] now (ms),
// [2] limit, [3] and [4] the doorbell's channel and message. Returns how
// many moved.
var promoteScript = blockScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids == 0 then return 0 end
local ms = redis.call('HMGET', KEYS[2], unpack(ids))
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
for i = 1, #ids do
  if ms[i] then redis.call('XADD', KEYS[3], '*', 'j', string.sub(ms[i], 2)) end
end
if ARGV[3] ~= '' and redis.call('DEL', KEYS[4]) == 1 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return #ids
`)

// Promote moves up to limit due deliveries of each partition back to its
// stream; more reports that some partition had more due.
func (s *Store) Promote(ctx context.Context, now time.Time, limit int) (moved int, more bool, err error) {
	blocks := make([]block, len(s.parts))
	for p, k := range s.parts {
		ch, msg := s.ringArgs(streamDeliveries, p)
		blocks[p] = block{part: p, keys: []string{k.retry(), k.retryMsg(), k.deliveries(), streamDeliveries.wait(k)},
			args: []any{now.UnixMilli(), limit, ch, msg}}
	}
	res, err := s.runBlocks(ctx, promoteScript, blocks)
	if err != nil {
		return 0, false, err
	}
	for _, r := range res {
		n, _ := r.(int64)
		moved += int(n)
		more = more || int(n) >= limit
	}
	return moved, more, nil
}

// Gauges returns the deliveries streams' length and the retry sets' size,
// summed over the partitions.
func (s *Store) Gauges(ctx context.Context) (queued, waiting int64, err error) {
	pipe := s.rdb.Pipeline()
	var ql, rl []*redis.IntCmd
	for _, k := range s.parts {
		ql = append(ql, pipe.XLen(ctx, k.deliveries()))
		rl = append(rl, pipe.ZCard(ctx, k.retry()))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, 0, unavailable(err)
	}
	for i := range ql {
		queued += ql[i].Val()
		waiting += rl[i].Val()
	}
	return queued, waiting, nil
}

// ReapConsumers drops the consumers, other than keep, that have been idle
// for longer than idle with nothing pending.
func (s *Store) ReapConsumers(ctx context.Context, keep string, idle time.Duration) {
	for _, k := range s.parts {
		for _, g := range []struct{ stream, group string }{{k.events(), GroupRouter}, {k.deliveries(), GroupWorkers}} {
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
}
