package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rate limits are GCRA (the generic cell rate algorithm) in Redis, one key
// per webhook (P:rl:<id>) holding the theoretical arrival time of its next
// token in microseconds of Redis's own clock (TIME), so every process on one
// Redis shares one limit whatever its own clock says. A limit of r a second
// spaces tokens by an interval of 1/r s and lets Burst(r) be taken at once.
//
// Why not go-redis/redis_rate: its AllowAtMost, the call that grants up to n
// tokens at once, computes in floating-point seconds since 2017, so with a
// burst of one the free token often comes out as 0.99999: a limit of 5/s
// was refused every call, on both backends, with "retry after 11ns"; and a
// partial grant charges the fraction it does not grant (2 granted of 2.7
// free cost 2.7). This script counts whole microseconds, which a double
// holds exactly.

// BurstWindow sets how much of a second's worth of tokens a webhook may
// spend at once: a limit of perSecond grants at most Burst(perSecond)
// attempts together (a 1/BurstWindow of a second's worth), so no window of
// one second holds more than perSecond + Burst(perSecond) - 1 grants,
// however it is placed: exactly perSecond for limits under BurstWindow*2.
const BurstWindow = 20 // a twentieth of a second

// Burst is the burst a rate limit of perSecond allows: a twentieth of a
// second's worth of attempts, at least one.
func Burst(perSecond int) int { return max(1, perSecond/BurstWindow) }

// Interval is the time between two tokens of a limit of perSecond.
func Interval(perSecond int) time.Duration { return time.Second / time.Duration(max(perSecond, 1)) }

// allowScript takes up to n tokens of a GCRA limit.
// KEYS[1] the limit's key. ARGV[1] the interval between tokens (µs), [2]
// the burst, [3] n.
// The j-th token (from 1) may be granted while tat + (j-1)*interval - now
// <= (burst-1)*interval, tat being the stored time of the next token (or
// now, when it is past or unset). Granting k moves tat by k intervals.
// Returns {k, µs until the next token could be granted (0 when all n were)}.
var allowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local iv, burst, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local slack = (burst - 1) * iv - (tat - now)
local k = 0
if slack >= 0 then k = math.min(n, math.floor(slack / iv) + 1) end
if k > 0 then
  tat = tat + k * iv
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
end
local wait = 0
if k < n then wait = tat - (burst - 1) * iv - now end
return {k, wait}
`)

// Allow takes up to n tokens of a webhook's rate limit of perSecond
// attempts a second, shared by every process on this Redis, and returns how
// many it got. When it got fewer than n, retryAfter is how long until the
// next token is free; else it is 0. One call asks for a whole batch.
func (s *Store) Allow(ctx context.Context, webhookID int64, perSecond, n int) (allowed int, retryAfter time.Duration, err error) {
	if n <= 0 || perSecond <= 0 {
		return max(n, 0), 0, nil
	}
	iv := Interval(perSecond).Microseconds()
	res, err := allowScript.Run(ctx, s.rdb, []string{s.k.rate(webhookID)}, iv, Burst(perSecond), n).Int64Slice()
	if err != nil {
		return 0, 0, unavailable(err)
	}
	allowed = int(res[0])
	if allowed < n {
		retryAfter = max(time.Duration(res[1])*time.Microsecond, time.Microsecond)
	}
	return allowed, retryAfter, nil
}
