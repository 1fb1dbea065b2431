package store

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Record returns one delivery record of a webhook and the partition it is
// in (that of its event), or ErrNotFound. It asks every partition, in one
// pipeline.
func (s *Store) Record(ctx context.Context, webhookID int64, id string) (rec []byte, part int, err error) {
	found := -1
	err = eachPart(ctx, s, func(p redis.Pipeliner, k keys) *redis.StringCmd { return p.HGet(ctx, k.records(webhookID), id) },
		func(i int, c *redis.StringCmd) error {
			if b, err := c.Bytes(); err == nil && found < 0 {
				rec, found = b, i
			}
			return nil
		})
	if err != nil {
		return nil, 0, err
	}
	if found < 0 {
		return nil, 0, ErrNotFound
	}
	return rec, found, nil
}

// RecordPos is a delivery's place in its webhook's listing: its creation
// time (unix ms, its score in the delivery index) and its id. Listings go
// by creation, and deliveries created in the same millisecond by id, as
// one sorted set orders them (byte-wise), however many partitions hold
// them.
type RecordPos struct {
	Created int64
	ID      string
}

// Listed is one delivery of a listing: its place, the partition it is in
// (that of its event) and its record.
type Listed struct {
	RecordPos
	Part   int
	Record []byte
}

// RecordPosOf returns a delivery's place in its webhook's listing;
// ErrNotFound when no partition's index holds it.
func (s *Store) RecordPosOf(ctx context.Context, webhookID int64, id string) (RecordPos, error) {
	pos, found := RecordPos{ID: id}, false
	err := eachPart(ctx, s, func(p redis.Pipeliner, k keys) *redis.FloatCmd { return p.ZScore(ctx, k.index(webhookID), id) },
		func(_ int, c *redis.FloatCmd) error {
			if v, err := c.Result(); err == nil && !found {
				pos.Created, found = int64(v), true
			}
			return nil
		})
	if err != nil {
		return RecordPos{}, err
	}
	if !found {
		return RecordPos{}, ErrNotFound
	}
	return pos, nil
}

// indexScript reads one partition's share of a listing of a webhook's
// delivery index: up to n entries, ascending (ARGV[1] 'a') or descending
// ('d'), strictly past the position (score ARGV[2], member ARGV[3]) in that
// order, or, when the member is ”, from that score on with every entry of
// that score included; from the start when the score is ” too. ARGV[4],
// when not ”, is the last score to list (asc: the highest, desc: the
// lowest); ARGV[5] is n. KEYS[1] is the index. Returns member, score, …
//
// Its place among the entries of the position's score is found by halving
// (each step one rank look-up), so a page costs O(log size) whatever its
// depth; members are compared byte by byte, as the sorted set orders them
// (Lua's own comparison follows the server's locale).
var indexScript = blockScript(`
local key, asc, s, id, e, n = KEYS[1], ARGV[1] == 'a', ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local function less(a, b)
  local m = math.min(#a, #b)
  for i = 1, m do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local rng = 'ZREVRANGE'
if asc then rng = 'ZRANGE' end
local start = 0
if s ~= '' then
  local lo
  if asc then lo = redis.call('ZCOUNT', key, '-inf', '(' .. s) else lo = redis.call('ZCOUNT', key, '(' .. s, '+inf') end
  if id ~= '' then
    local hi = lo + redis.call('ZCOUNT', key, s, s)
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      local m = redis.call(rng, key, mid, mid)[1]
      local past
      if asc then past = less(id, m) else past = less(m, id) end
      if past then hi = mid else lo = mid + 1 end
    end
  end
  start = lo
end
local stop = start + n - 1
if e ~= '' then
  local last
  if asc then last = redis.call('ZCOUNT', key, '-inf', e) else last = redis.call('ZCOUNT', key, e, '+inf') end
  stop = math.min(stop, last - 1)
end
if stop < start then return {} end
return redis.call(rng, key, start, stop, 'WITHSCORES')
`)

// listing is a merged read of a webhook's delivery indexes.
type listing struct {
	asc bool
	// from, id: where the listing starts (see indexScript); end the last
	// score it lists; "" for none.
	from, id, end string
}

// page reads up to n deliveries of a webhook's listing: each partition's
// next n index entries in one block script call (one call on a single
// Redis, one per partition on a cluster), merged, the first n kept, and
// their records read in one pipeline. Entries whose record is gone are
// skipped. next is the place the next page starts from, nil when the
// indexes have no more.
func (s *Store) page(ctx context.Context, webhookID int64, l listing, n int) ([]Listed, *RecordPos, error) {
	if n <= 0 {
		return nil, nil, nil
	}
	blocks := make([]block, len(s.parts))
	dir := "d"
	if l.asc {
		dir = "a"
	}
	for p, k := range s.parts {
		blocks[p] = block{part: p, keys: []string{k.index(webhookID)}, args: []any{dir, l.from, l.id, l.end, n}}
	}
	res, err := s.runBlocks(ctx, indexScript, blocks)
	if err != nil {
		return nil, nil, err
	}
	var all []Listed
	exhausted := true
	for p, r := range res {
		flat, _ := r.([]any)
		if len(flat) >= 2*n {
			exhausted = false
		}
		for i := 0; i+1 < len(flat); i += 2 {
			id, _ := flat[i].(string)
			sc, _ := flat[i+1].(string)
			f, err := strconv.ParseFloat(sc, 64)
			if err != nil {
				continue
			}
			all = append(all, Listed{RecordPos: RecordPos{Created: int64(f), ID: id}, Part: p})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].RecordPos, all[j].RecordPos
		if l.asc {
			a, b = b, a
		}
		if a.Created != b.Created {
			return a.Created > b.Created
		}
		return a.ID > b.ID
	})
	var next *RecordPos
	if len(all) > n {
		all = all[:n]
		exhausted = false
	}
	if !exhausted && len(all) > 0 {
		last := all[len(all)-1].RecordPos
		next = &last
	}
	if len(all) == 0 {
		return nil, next, nil
	}
	byPart := map[int][]int{}
	for i, x := range all {
		byPart[x.Part] = append(byPart[x.Part], i)
	}
	pipe := s.rdb.Pipeline()
	cmds := map[int]*redis.SliceCmd{}
	for p, is := range byPart {
		ids := make([]string, len(is))
		for j, i := range is {
			ids[j] = all[i].ID
		}
		cmds[p] = pipe.HMGet(ctx, s.parts[p].records(webhookID), ids...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, unavailable(err)
	}
	for p, is := range byPart {
		for j, v := range cmds[p].Val() {
			if r, ok := v.(string); ok {
				all[is[j]].Record = []byte(r)
			}
		}
	}
	out := all[:0]
	for _, x := range all {
		if x.Record != nil {
			out = append(out, x)
		}
	}
	return out, next, nil
}

// Records returns up to n of a webhook's deliveries, newest first (by
// creation, then by id descending, across every partition), below the
// place below (from the newest when nil); records whose index entry
// outlived them are skipped. next is where the following page starts
// (pass it as below), nil when the index has no more. A page costs one
// block script call and one pipeline, however deep it is.
func (s *Store) Records(ctx context.Context, webhookID int64, below *RecordPos, n int) (recs []Listed, next *RecordPos, err error) {
	var l listing
	if below != nil {
		l.from, l.id = itoa(below.Created), below.ID
	}
	return s.page(ctx, webhookID, l, n)
}

// FailedLog returns a webhook's failed log: each partition's list (capped
// at the failed log cap in each partition, so the webhook keeps up to
// that many per partition), up to n entries of each, newest first. The
// caller merges them (by the records' last attempt).
func (s *Store) FailedLog(ctx context.Context, webhookID int64, n int) ([][]string, error) {
	out := make([][]string, len(s.parts))
	err := eachPart(ctx, s, func(p redis.Pipeliner, k keys) *redis.StringSliceCmd {
		return p.LRange(ctx, k.failedLog(webhookID), 0, int64(n-1))
	}, func(i int, c *redis.StringSliceCmd) error {
		out[i] = c.Val()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BringForward makes a waiting delivery of partition part due now; false
// when it is not waiting (it is being attempted).
func (s *Store) BringForward(ctx context.Context, part int, id string, now time.Time) (bool, error) {
	// CH: XX adds nothing, so only the changed count tells it was there.
	n, err := s.rdb.ZAddArgs(ctx, s.part(part).retry(), redis.ZAddArgs{XX: true, Ch: true,
		Members: []redis.Z{{Score: float64(now.UnixMilli()), Member: id}}}).Result()
	return n > 0, unavailable(err)
}

// resendScript queues one more attempt of a finished delivery in its
// partition. KEYS[1] deliveries stream, [2] rlen, [3] the webhook's
// records, [4] the stream's wait flag; ARGV[1] message, [2] webhook id, [3]
// delivery id, [4] record, [5] and [6] the doorbell's channel and message.
var resendScript = redis.NewScript(`
redis.call('XADD', KEYS[1], '*', 'j', ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
if ARGV[5] ~= '' and redis.call('DEL', KEYS[4]) == 1 then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return 1
`)

// dropMarks drops abort marks and moves the abort counter, so that every
// process forgets them (global keys, one MULTI).
func (s *Store) dropMarks(ctx context.Context, ids ...string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		members := make([]any, len(ids))
		for i, id := range ids {
			members[i] = id
		}
		p.ZRem(ctx, s.k.aborted(), members...)
		p.Incr(ctx, s.k.aborts())
		return nil
	})
	return unavailable(err)
}

// Resend queues one more attempt of a finished delivery of partition part:
// its message goes to the stream, counted as a retry, with its record, and
// any abort mark is dropped (the abort counter moves, so every process
// forgets it).
//
// The abort mark is global and the delivery's keys are its partition's,
// so on a cluster they cannot change in one call: the mark goes first,
// then the delivery is queued. Dropping the mark of a finished delivery
// changes nothing (no worker holds it), so a failure in between leaves no
// harm, and the resent attempt never meets its own old mark in Redis
// (processes drop their copy when the counter moves, as before).
func (s *Store) Resend(ctx context.Context, part int, webhookID int64, id string, msg, rec []byte) error {
	if err := s.dropMarks(ctx, id); err != nil {
		return err
	}
	part = s.partNo(part)
	k := s.parts[part]
	ch, bell := s.ringArgs(streamDeliveries, part)
	return unavailable(resendScript.Run(ctx, s.rdb, []string{k.deliveries(), k.rlen(), k.records(webhookID),
		streamDeliveries.wait(k)}, msg, webhookID, id, rec, ch, bell).Err())
}

// partNo is the partition s.part(p) stands for: p, or 0 for one out of
// range.
func (s *Store) partNo(p int) int {
	if p < 0 || p >= len(s.parts) {
		return 0
	}
	return p
}

// abortWaitingScript fails a delivery waiting in its partition's retry set.
// KEYS[1] retry set, [2] retry messages, [3] qlen, [4] rlen, [5] the
// webhook's records, [6] its failed log. ARGV[1] delivery id, [2] webhook
// id, [3] the failed record, [4] failed log cap index.
// A delivery waiting in the retry set is taken out (its counter, told by
// the message's first character, moves) and failed at once. Returns 1 when
// it was waiting, else 0 (it is in the stream or being attempted).
var abortWaitingScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local m = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if m and string.sub(m, 1, 1) == 'q' then
  redis.call('HINCRBY', KEYS[3], ARGV[2], -1)
else
  redis.call('HINCRBY', KEYS[4], ARGV[2], -1)
end
redis.call('HSET', KEYS[5], ARGV[1], ARGV[3])
redis.call('LPUSH', KEYS[6], ARGV[3])
redis.call('LTRIM', KEYS[6], 0, ARGV[4])
return 1
`)

// abortMarkScript gives a delivery an abort mark, which the workers see
// through the abort counter. KEYS[1] aborted set, [2] abort counter;
// ARGV[1] delivery id, [2] now (ms), [3] oldest mark kept (ms). Returns
// the abort counter.
var abortMarkScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
return redis.call('INCR', KEYS[2])
`)

// Abort aborts a delivery of partition part that has not finished. One
// waiting in the retry set is failed at once (rec is its failed record,
// pushed to the failed log, capped at failedCap): waiting is true and
// aborts 0. Otherwise it is in the stream or being attempted: it gets an
// abort mark (marks older than keep are dropped) and aborts is the abort
// counter after it.
//
// The retry set is the partition's and the marks are global, so on a
// cluster the two steps are separate calls: the partition's first, the
// mark only when the delivery was not waiting. That is safe: a delivery
// not in the retry set when the first step ran can only come back to it
// from an attempt, and the worker that takes it from there sees the mark
// (set a round trip later, long before the other processes poll the abort
// counter anyway).
func (s *Store) Abort(ctx context.Context, part int, webhookID int64, id string, rec []byte, failedCap int, now time.Time, keep time.Duration) (waiting bool, aborts int64, err error) {
	k := s.part(part)
	w, err := abortWaitingScript.Run(ctx, s.rdb, []string{k.retry(), k.retryMsg(), k.qlen(), k.rlen(),
		k.records(webhookID), k.failedLog(webhookID)}, id, webhookID, rec, failedCap-1).Int64()
	if err != nil {
		return false, 0, unavailable(err)
	}
	if w == 1 {
		return true, 0, nil
	}
	aborts, err = abortMarkScript.Run(ctx, s.rdb, []string{s.k.aborted(), s.k.aborts()},
		id, now.UnixMilli(), now.Add(-keep).UnixMilli()).Int64()
	if err != nil {
		return false, 0, unavailable(err)
	}
	return false, aborts, nil
}

// Aborted returns the delivery ids with an abort mark (global: marks are
// kept for every partition in one set).
func (s *Store) Aborted(ctx context.Context) ([]string, error) {
	v, err := s.rdb.ZRange(ctx, s.k.aborted(), 0, -1).Result()
	return v, unavailable(err)
}
