package store

import (
	"context"
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

// RecordRank is a delivery's rank in its webhook's index, newest first;
// ErrNotFound when it is not there.
func (s *Store) RecordRank(ctx context.Context, webhookID int64, id string) (int64, error) {
	r, err := s.rdb.ZRevRank(ctx, s.k.index(webhookID), id).Result()
	if err == redis.Nil {
		return 0, ErrNotFound
	}
	return r, unavailable(err)
}

// Records returns up to n records of a webhook, newest first, from the
// offset'th; records whose index entry outlived them are skipped. done
// reports that the index has no more.
func (s *Store) Records(ctx context.Context, webhookID int64, offset int64, n int) (recs [][]byte, done bool, err error) {
	ids, err := s.rdb.ZRevRange(ctx, s.k.index(webhookID), offset, offset+int64(n)-1).Result()
	if err != nil {
		return nil, false, unavailable(err)
	}
	if len(ids) == 0 {
		return nil, true, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.k.records(webhookID), ids...).Result()
	if err != nil {
		return nil, false, unavailable(err)
	}
	out := make([][]byte, 0, len(vals))
	for _, v := range vals {
		if s, ok := v.(string); ok {
			out = append(out, []byte(s))
		}
	}
	return out, len(ids) < n, nil
}

// FailedLog returns a webhook's failed log, newest first.
func (s *Store) FailedLog(ctx context.Context, webhookID int64, n int) ([]string, error) {
	v, err := s.rdb.LRange(ctx, s.k.failedLog(webhookID), 0, int64(n-1)).Result()
	return v, unavailable(err)
}

// BringForward makes a waiting delivery due now; false when it is not
// waiting (it is being attempted).
func (s *Store) BringForward(ctx context.Context, id string, now time.Time) (bool, error) {
	n, err := s.rdb.ZAddXX(ctx, s.k.retry(), redis.Z{Score: float64(now.UnixMilli()), Member: id}).Result()
	return n > 0, unavailable(err)
}

// Resend queues one more attempt of a finished delivery: its message goes
// to the stream, counted as a retry, with its record, and any abort mark is
// dropped (the abort counter moves, so every process forgets it).
func (s *Store) Resend(ctx context.Context, webhookID int64, id string, msg, rec []byte) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.k.aborted(), id)
		p.Incr(ctx, s.k.aborts())
		p.XAdd(ctx, &redis.XAddArgs{Stream: s.k.deliveries(), Values: []any{"j", msg}})
		p.HIncrBy(ctx, s.k.rlen(), itoa(webhookID), 1)
		p.HSet(ctx, s.k.records(webhookID), id, rec)
		return nil
	})
	return unavailable(err)
}

// abortScript aborts a delivery that has not finished.
// KEYS[1] retry set, [2] retry messages, [3] qlen, [4] rlen, [5] the
// webhook's records, [6] its failed log, [7] aborted set, [8] abort counter.
// ARGV[1] delivery id, [2] webhook id, [3] the failed record, [4] failed log
// cap index, [5] now (ms), [6] oldest abort mark kept (ms).
// A delivery waiting in the retry set is taken out (its counter, told by
// the message's first character, moves) and failed at once. Otherwise it
// is in the stream or being attempted: it gets an abort mark, which the
// workers see through the abort counter. Returns {1 when it was waiting,
// the abort counter}.
var abortScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
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
  return {1, tonumber(redis.call('GET', KEYS[8]) or '0')}
end
redis.call('ZADD', KEYS[7], ARGV[5], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. ARGV[6])
return {0, redis.call('INCR', KEYS[8])}
`)

// Abort aborts a delivery that has not finished; see abortScript. rec is
// its failed record; marks older than keep are dropped.
func (s *Store) Abort(ctx context.Context, webhookID int64, id string, rec []byte, failedCap int, now time.Time, keep time.Duration) (waiting bool, aborts int64, err error) {
	res, err := abortScript.Run(ctx, s.rdb, []string{s.k.retry(), s.k.retryMsg(), s.k.qlen(), s.k.rlen(),
		s.k.records(webhookID), s.k.failedLog(webhookID), s.k.aborted(), s.k.aborts()},
		id, webhookID, rec, failedCap-1, now.UnixMilli(), now.Add(-keep).UnixMilli()).Int64Slice()
	if err != nil {
		return false, 0, unavailable(err)
	}
	return res[0] == 1, res[1], nil
}

// Aborted returns the delivery ids with an abort mark.
func (s *Store) Aborted(ctx context.Context) ([]string, error) {
	v, err := s.rdb.ZRange(ctx, s.k.aborted(), 0, -1).Result()
	return v, unavailable(err)
}
