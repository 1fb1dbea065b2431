package store

import (
	"context"
	"sort"
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
	// hash, which expires after Retention. The store sets that expiry with
	// the first batch of the minute it writes to each partition;
	// SetExpiry sets it in every partition the batch touches.
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
	// History are the batch's events as the admin's history keeps them:
	// every event routed, matched or not, with its routing trace. Each is
	// written once per event id (the last of the batch wins) and the
	// history is then trimmed to HistoryCap events and to those received
	// within HistoryRetention of Now.
	History          []HistoryEvent
	HistoryCap       int
	HistoryRetention time.Duration
	Now              time.Time
	// Roster, when set, is stored (again) for HistoryRetention: the
	// webhooks the batch's traces refer to.
	Roster *Roster
	// RuleErrors are the run-time rule errors met while routing the batch,
	// counted per webhook with the last one kept.
	RuleErrors []RuleError
}

// HistoryEvent is one event as the history keeps it.
type HistoryEvent struct {
	Entry string // the stream entry it came from
	// Order is the event's EventEntry.Order, its received time and place
	// in the history; "" takes them from Entry.
	Order   string
	ID      string
	Type    string
	AssetID string // "" for none
	// Trace is the routing trace, one line (no newline); Event the event's
	// JSON as routed, with its changes.
	Trace []byte
	Event []byte
}

// Roster is the list of webhooks a trace refers to, stored once under an
// id (a hash of Value) rather than in every trace.
type Roster struct {
	ID    string
	Value []byte
}

// RuleError is one run-time rule error of a webhook met while routing.
type RuleError struct {
	Entry     string // the event's stream entry
	WebhookID int64
	Last      []byte // the error as the webhook's view shows it
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
	Order string // its EventEntry.Order, by which samples of several partitions merge ("": from Entry)
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
// index; then one key per sample; then the history's data, index, asset
// index and type index, the rule errors, the roster's key (any of the
// prefix's keys when there is none) and the deliveries stream's wait flag.
// It runs per partition (blockScript), with that partition's keys.
// ARGV[1] group, [2] consumer, [3] n entries, [4] stored events TTL (s, 0:
// leave the expiry),
// [5] index cap (0: no trim); then the n entry ids; then ns and ns triples
// (entry, event id, value); then nw and the nw webhook ids; then nd and nd
// septets (entry, webhook j, delivery id, message, body, record, created
// ms); then nsm, the sample cap, and nsm pairs (entry, value); then the
// history: nh, the oldest key kept (a history key of the retention's
// start), the cap, the trim budget, and nh sextets (entry, event id, index
// member, asset member or "", type member, record); then the roster's TTL
// (s, 0 for none) and value; then nre and nre triples (entry, webhook id,
// last error); then the doorbell's channel ("" for none) and message, rung
// when deliveries were queued and a reader left the wait flag. Returns how
// many entries were still pending.
//
// The history (see history.go) is written with one HSET and three ZADDs
// for the whole batch; a record it replaces (an event id used again) has
// its index entries removed first. Then the oldest events beyond the cap or
// the retention are trimmed, at most the budget of them per batch, with
// their records and index entries: the bound holds after every batch.
var routeScript = blockScript(`
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
p = p + 2 * nsm
local hk = 4 + 2 * nw + nsm
local kdata, kidx, kasset, ktype, kerr, kroster = KEYS[hk + 1], KEYS[hk + 2], KEYS[hk + 3], KEYS[hk + 4], KEYS[hk + 5], KEYS[hk + 6]
-- unindex drops the index entries of stored records (vals[i] is ids[i]'s
-- record, or false): "<key> <type> <asset length>:<asset>\n…".
local function unindex(ids, vals)
  local zi, za, zt = {'ZREM', kidx}, {'ZREM', kasset}, {'ZREM', ktype}
  for i = 1, #ids do
    local v = vals[i]
    if v then
      local key, id = string.sub(v, 1, 14), ids[i]
      local sp = string.find(v, ' ', 16, true)
      local colon = string.find(v, ':', sp + 1, true)
      local alen = tonumber(string.sub(v, sp + 1, colon - 1))
      local tail = '\0' .. key .. '\0' .. id
      zi[#zi + 1] = key .. '\0' .. id
      zt[#zt + 1] = string.sub(v, 16, sp - 1) .. tail
      if alen > 0 then za[#za + 1] = string.sub(v, colon + 1, colon + alen) .. tail end
    end
  end
  if #zi > 2 then redis.call(unpack(zi)) end
  if #za > 2 then redis.call(unpack(za)) end
  if #zt > 2 then redis.call(unpack(zt)) end
end
local nh, oldest, hcap, budget = tonumber(ARGV[p + 1]), ARGV[p + 2], tonumber(ARGV[p + 3]), tonumber(ARGV[p + 4])
p = p + 4
local hids, hdata, hidx, ha, ht = {}, {'HSET', kdata}, {'ZADD', kidx}, {'ZADD', kasset}, {'ZADD', ktype}
for i = 1, nh do
  if live[ARGV[p + 1]] then
    local id = ARGV[p + 2]
    hids[#hids + 1] = id
    hdata[#hdata + 1] = id; hdata[#hdata + 1] = ARGV[p + 6]
    hidx[#hidx + 1] = 0; hidx[#hidx + 1] = ARGV[p + 3]
    if ARGV[p + 4] ~= '' then ha[#ha + 1] = 0; ha[#ha + 1] = ARGV[p + 4] end
    ht[#ht + 1] = 0; ht[#ht + 1] = ARGV[p + 5]
  end
  p = p + 6
end
if #hids > 0 then
  unindex(hids, redis.call('HMGET', kdata, unpack(hids)))
  redis.call(unpack(hdata))
  redis.call(unpack(hidx))
  if #ha > 2 then redis.call(unpack(ha)) end
  redis.call(unpack(ht))
end
if hcap > 0 then
  local k = math.max(redis.call('ZCARD', kidx) - hcap, redis.call('ZLEXCOUNT', kidx, '-', '(' .. oldest))
  k = math.min(k, budget)
  if k > 0 then
    local gone, ids = redis.call('ZRANGE', kidx, 0, k - 1), {}
    for i = 1, #gone do ids[i] = string.sub(gone[i], 16) end
    unindex(ids, redis.call('HMGET', kdata, unpack(ids)))
    redis.call('HDEL', kdata, unpack(ids))
  end
end
local rttl = tonumber(ARGV[p + 1])
if rttl > 0 then redis.call('SET', kroster, ARGV[p + 2], 'EX', rttl) end
local queued = false
for j = 1, nw do if cnt[j] > 0 then queued = true end end
p = p + 2
local nre = tonumber(ARGV[p + 1]); p = p + 1
local errs, lasts, ls = {}, {}, {'HSET', kerr}
for i = 1, nre do
  if live[ARGV[p + 1]] then
    local w = ARGV[p + 2]
    if not errs[w] then errs[w] = 0 end
    errs[w] = errs[w] + 1
    lasts[w] = ARGV[p + 3]
  end
  p = p + 3
end
for w, c in pairs(errs) do
  redis.call('HINCRBY', kerr, w, c)
  ls[#ls + 1] = w .. ':last'; ls[#ls + 1] = lasts[w]
end
if #ls > 2 then redis.call(unpack(ls)) end
p = p + 3 * nre
if queued and ARGV[p + 1] ~= '' and redis.call('DEL', KEYS[hk + 7]) == 1 then redis.call('PUBLISH', ARGV[p + 1], ARGV[p + 2]) end
if #ids > 0 then
  redis.call('XACK', KEYS[1], group, unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return #ids
`)

// Route writes one batch of the router and returns how many of its entries
// were still pending (the others were routed already). The batch is split
// by the partitions of its entries: one script call on a single Redis, one
// per partition on a cluster (each partition's writes stay atomic). A
// roster goes to partition 0, where RosterOf reads it.
func (s *Store) Route(ctx context.Context, b *RouteBatch) (int, error) {
	if len(b.Entries) == 0 {
		return 0, nil
	}
	subs := map[int]*RouteBatch{}
	var order []int
	sub := func(e string) (*RouteBatch, string) {
		p, id := splitEntry(e)
		if p >= len(s.parts) {
			p = 0
		}
		x := subs[p]
		if x == nil {
			x = &RouteBatch{Consumer: b.Consumer, Minute: b.Minute, Retention: b.Retention, IndexCap: s.share(b.IndexCap),
				SampleCap: b.SampleCap, HistoryCap: s.share(b.HistoryCap), HistoryRetention: b.HistoryRetention, Now: b.Now}
			subs[p] = x
			order = append(order, p)
		}
		return x, id
	}
	for _, e := range b.Entries {
		x, id := sub(e)
		x.Entries = append(x.Entries, id)
	}
	for _, v := range b.Events {
		x, id := sub(v.Entry)
		v.Entry = id
		x.Events = append(x.Events, v)
	}
	for _, v := range b.Deliveries {
		x, id := sub(v.Entry)
		v.Entry = id
		x.Deliveries = append(x.Deliveries, v)
	}
	for _, v := range b.Samples {
		x, id := sub(v.Entry)
		v.Entry = id
		x.Samples = append(x.Samples, v)
	}
	for _, v := range b.History {
		x, id := sub(v.Entry)
		v.Entry = id
		x.History = append(x.History, v)
	}
	for _, v := range b.RuleErrors {
		x, id := sub(v.Entry)
		v.Entry = id
		x.RuleErrors = append(x.RuleErrors, v)
	}
	if b.Roster != nil {
		x, _ := sub(entry(0, ""))
		x.Roster = b.Roster
	}
	s.minuteMu.Lock()
	blocks := make([]block, len(order))
	for j, p := range order {
		x := subs[p]
		x.SetExpiry = b.SetExpiry || s.expiry[p] != b.Minute
		s.expiry[p] = b.Minute
		blocks[j] = s.routeBlock(p, x)
	}
	s.minuteMu.Unlock()
	res, err := s.runBlocks(ctx, routeScript, blocks)
	if err != nil {
		// The expiry may not have been set: set it again next time.
		s.minuteMu.Lock()
		for _, p := range order {
			s.expiry[p] = 0
		}
		s.minuteMu.Unlock()
		return 0, err
	}
	n := 0
	for _, r := range res {
		v, _ := r.(int64)
		n += int(v)
	}
	return n, nil
}

// share is a partition's share of a cap over every partition (rounded up;
// 0 stays 0, no cap).
func (s *Store) share(limit int) int {
	if limit <= 0 {
		return limit
	}
	return (limit + len(s.parts) - 1) / len(s.parts)
}

// routeBlock packs one partition's share of a batch for routeScript.
func (s *Store) routeBlock(p int, b *RouteBatch) block {
	k := s.parts[p]
	webhooks := map[int64]int{}
	var order []int64
	for _, d := range b.Deliveries {
		if _, ok := webhooks[d.WebhookID]; !ok {
			order = append(order, d.WebhookID)
			webhooks[d.WebhookID] = len(order)
		}
	}
	hist := lastOfEachID(b.History)
	keys := make([]string, 0, 11+2*len(order)+len(b.Samples))
	keys = append(keys, k.events(), k.deliveries(), k.qlen(), k.stored(b.Minute))
	for _, w := range order {
		keys = append(keys, k.records(w), k.index(w))
	}
	for _, sm := range b.Samples {
		keys = append(keys, k.sample(sm.Type))
	}
	roster := k.history("data")
	if b.Roster != nil {
		roster = k.roster(b.Roster.ID)
	}
	keys = append(keys, k.history("data"), k.history("idx"), k.history("asset"), k.history("type"),
		k.ruleErrors(), roster, streamDeliveries.wait(k))
	ttl := max(int64(b.Retention/time.Second), 60)
	if !b.SetExpiry {
		ttl = 0
	}
	args := make([]any, 0, 22+len(b.Entries)+3*len(b.Events)+len(order)+7*len(b.Deliveries)+2*len(b.Samples)+
		6*len(hist)+3*len(b.RuleErrors))
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
		v := make([]byte, 0, 15+len(sm.Value))
		key := sm.Order
		if key == "" {
			key = entryKey(sm.Entry)
		}
		v = append(append(append(v, key...), ' '), sm.Value...)
		args = append(args, sm.Entry, v)
	}
	oldest := historyKey(b.Now.Add(-b.HistoryRetention).UnixMilli(), 0)
	args = append(args, len(hist), oldest, b.HistoryCap, len(hist)+historyTrimBudget)
	for _, h := range hist {
		key := h.Order
		if key == "" {
			key = entryKey(h.Entry)
		}
		am := ""
		if h.AssetID != "" {
			am = member(h.AssetID, key, h.ID)
		}
		args = append(args, h.Entry, h.ID, key+"\x00"+h.ID, am, member(h.Type, key, h.ID), record(key, &h))
	}
	if b.Roster != nil {
		args = append(args, max(int64((b.HistoryRetention+rosterSlack)/time.Second), 60), b.Roster.Value)
	} else {
		args = append(args, 0, "")
	}
	args = append(args, len(b.RuleErrors))
	for _, re := range b.RuleErrors {
		args = append(args, re.Entry, re.WebhookID, re.Last)
	}
	ch, msg := s.ringArgs(streamDeliveries, p)
	args = append(args, ch, msg)
	return block{part: p, keys: keys, args: args}
}

// StoredEventAt returns a stored event of a partition, looked up in the
// minute it was routed (its deliveries' creation time); ErrNotFound when it
// expired.
func (s *Store) StoredEventAt(ctx context.Context, part int, id string, routed time.Time) ([]byte, error) {
	b, err := s.rdb.HGet(ctx, s.part(part).stored(Minute(routed)), id).Bytes()
	if err == redis.Nil {
		return nil, ErrNotFound
	}
	return b, unavailable(err)
}

// StoredEvents returns several stored events (event i in partition
// parts[i]) in one round trip; a missing one is nil.
func (s *Store) StoredEvents(ctx context.Context, parts []int, ids []string, routed []time.Time) ([][]byte, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, s.part(parts[i]).stored(Minute(routed[i])), id)
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

// Samples returns the kept samples of an event type, newest first, merged
// over the partitions. Each partition keeps the newest of its own, each
// stored as "<history key> <event JSON>" so that they merge in the order
// they were accepted (a sample kept before partitions, bare JSON, counts as
// the oldest).
func (s *Store) Samples(ctx context.Context, typ string, n int) ([]string, error) {
	type sample struct{ key, value string }
	var all []sample
	err := eachPart(ctx, s, func(p redis.Pipeliner, k keys) *redis.StringSliceCmd {
		return p.LRange(ctx, k.sample(typ), 0, int64(n-1))
	},
		func(_ int, c *redis.StringSliceCmd) error {
			for _, v := range c.Val() {
				if len(v) > 15 && v[14] == ' ' && v[0] != '{' {
					all = append(all, sample{v[:14], v[15:]})
				} else {
					all = append(all, sample{"", v})
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].key > all[j].key })
	out := make([]string, 0, min(n, len(all)))
	for _, sm := range all[:min(n, len(all))] {
		out = append(out, sm.value)
	}
	return out, nil
}
