package engine

import "github.com/redis/go-redis/v9"

// ingestScript appends a batch of events to the events stream.
//
// KEYS[1] events stream; for event i: KEYS[3i-1] its idempotency key,
// KEYS[3i] its asset snapshot key, KEYS[3i+1] the asset's marker flags key
// (the stream key stands in for unused ones).
// ARGV[1] n, ARGV[2] idempotency TTL (s); for event i, from b = 2+7(i-1):
// b+1 event id, b+2 "1" to check idempotency, b+3 asset op, b+4 asset JSON,
// b+5 event JSON, b+6 the asset's markers as JSON, b+7 the event type (its
// own field "t", so the router skips events nobody subscribes to unread).
// Asset ops: "s" stores the asset and its markers as the flags; "k" stores an
// asset that carries no markers, keeping the stored flags in it (a DAM does
// not know them); "d" deletes both; "" leaves them.
// The previous snapshot is stored beside the event as field "o" and kept
// flags as "m", so changes are derived in acceptance order. Returns per event
// 1 (queued) or 0 (duplicate).
var ingestScript = redis.NewScript(`
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local b = 2 + (i - 1) * 7
  local ok = true
  if ARGV[b + 2] == '1' then
    ok = redis.call('SET', KEYS[3 * i - 1], ARGV[b + 1], 'NX', 'EX', ARGV[2])
  end
  if ok then
    local old, kept = '', ''
    local op = ARGV[b + 3]
    if op ~= '' then
      local akey, fkey = KEYS[3 * i], KEYS[3 * i + 1]
      old = redis.call('GET', akey)
      if not old then old = '' end
      if op == 's' then
        redis.call('SET', akey, ARGV[b + 4])
        if ARGV[b + 6] == '' or ARGV[b + 6] == '[]' then
          redis.call('DEL', fkey)
        else
          redis.call('SET', fkey, ARGV[b + 6])
        end
      elseif op == 'k' then
        local asset = ARGV[b + 4]
        local f = redis.call('GET', fkey)
        if f then
          kept = f
          if asset == '{}' then
            asset = '{"markers":' .. f .. '}'
          else
            asset = string.sub(asset, 1, -2) .. ',"markers":' .. f .. '}'
          end
        end
        redis.call('SET', akey, asset)
      else
        redis.call('DEL', akey, fkey)
      end
    end
    redis.call('XADD', KEYS[1], '*', 't', ARGV[b + 7], 'e', ARGV[b + 5], 'o', old, 'm', kept)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`)

// completeScript records a batch of attempt outcomes.
//
// KEYS[1] deliveries stream, [2] retry set, [3] retry messages hash, [4] qlen,
// [5] rlen, [6] latest runs, [7] health; for item i, from k = 7+3(i-1):
// k+1 delivery record, k+2 success log, k+3 failed log.
// ARGV[1] group, [2] n, [3] record TTL (s), [4] log cap index, [5] now (ms);
// for item i, from b = 5+9(i-1): b+1 kind (ok, fail, retry, snooze, drop),
// b+2 stream entry id, b+3 webhook id, b+4 counter ("q" first attempt, "r"
// retry), b+5 record JSON, b+6 latest-run JSON, b+7 delivery id, b+8 message
// JSON, b+9 due (ms).
//
// Counters move only when XACK acknowledged the entry, so a duplicate never
// moves them twice. Logs are trimmed, latest runs written and health moved
// once per webhook per batch, after the items. Returns per item: -1 not
// acked here; for a webhook's last outcome in the batch, 1 (ok) when it
// recovered from failures, or (fail/retry) the time (ms) of the first
// failure since the last success; else 0.
var completeScript = redis.NewScript(`
local group = ARGV[1]
local n = tonumber(ARGV[2])
local out = {}
local trims, latest, health = {}, {}, {}
for i = 1, n do
  local b = 5 + (i - 1) * 9
  local k = 7 + (i - 1) * 3
  local kind, sid, w, ctr = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local acked = 1
  if sid ~= '' then
    acked = redis.call('XACK', KEYS[1], group, sid)
    redis.call('XDEL', KEYS[1], sid)
  end
  local res = -1
  if acked == 1 then
    res = 0
    local ckey = KEYS[4]
    if ctr == 'r' then ckey = KEYS[5] end
    if kind == 'snooze' or kind == 'retry' then
      redis.call('ZADD', KEYS[2], ARGV[b + 9], ARGV[b + 7])
      redis.call('HSET', KEYS[3], ARGV[b + 7], ARGV[b + 8])
      if kind == 'retry' and ctr == 'q' then
        redis.call('HINCRBY', KEYS[4], w, -1)
        redis.call('HINCRBY', KEYS[5], w, 1)
      end
    else
      redis.call('HINCRBY', ckey, w, -1)
    end
    local rec = ARGV[b + 5]
    if rec ~= '' then
      redis.call('SET', KEYS[k + 1], rec, 'EX', ARGV[3])
      if kind == 'ok' then
        redis.call('LPUSH', KEYS[k + 2], rec)
        trims[KEYS[k + 2]] = true
      elseif kind == 'fail' then
        redis.call('LPUSH', KEYS[k + 3], rec)
        trims[KEYS[k + 3]] = true
      end
    end
    if ARGV[b + 6] ~= '' then
      latest[w] = ARGV[b + 6]
    end
    if kind == 'ok' or kind == 'fail' or kind == 'retry' then
      health[w] = {i, kind}
    end
  end
  out[i] = res
end
-- Once per log, per webhook: the trims, the latest run, and the health of
-- the webhook's last outcome in the batch (which reports recovery, or the
-- first failure since the last success).
for key in pairs(trims) do
  redis.call('LTRIM', key, 0, ARGV[4])
end
for w, run in pairs(latest) do
  redis.call('HSET', KEYS[6], w, run)
end
for w, h in pairs(health) do
  if h[2] == 'ok' then
    out[h[1]] = redis.call('HDEL', KEYS[7], w)
  else
    redis.call('HSETNX', KEYS[7], w, ARGV[5])
    out[h[1]] = tonumber(redis.call('HGET', KEYS[7], w))
  end
end
return out
`)

// promoteScript moves due retries back to the deliveries stream.
// KEYS[1] retry set, [2] retry messages hash, [3] deliveries stream;
// ARGV[1] now (ms), [2] limit. Returns how many moved.
var promoteScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  local m = redis.call('HGET', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  if m then
    redis.call('XADD', KEYS[3], '*', 'j', m)
  end
end
return #ids
`)

// abortScript takes a delivery out of the retry set.
// KEYS[1] retry set, [2] retry messages hash, [3] rlen, [4] qlen;
// ARGV[1] delivery id, [2] webhook id. Returns the message, or false when the
// delivery was not waiting there.
var abortScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local m = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if m and string.find(m, '"a":0,', 1, true) then
  redis.call('HINCRBY', KEYS[4], ARGV[2], -1)
else
  redis.call('HINCRBY', KEYS[3], ARGV[2], -1)
end
return m or ''
`)

// unlockScript deletes a lock if this process still holds it.
// KEYS[1] the lock; ARGV[1] the holder's name.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
