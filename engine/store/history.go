package store

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The history keeps every routed event, matched or not, with its routing
// trace, for the admin's event list, traces, backtests and validation
// warnings (SPEC §3.8). The router writes it in its batch script (Route),
// per partition: an event's history is in its partition (that of its asset,
// or of its id), under that partition's prefix P, and each partition keeps
// its share of the cap (RouteBatch.HistoryCap over the partitions):
//
//	P:hist:data          hash: event id → record
//	P:hist:idx           zset (all scores 0): "<key>\x00<event id>", by key
//	P:hist:asset         zset (all scores 0): "<asset uuid>\x00<key>\x00<event id>"
//	P:hist:type          zset (all scores 0): "<type>\x00<key>\x00<event id>"
//	P:rule_errors        hash: "<webhook id>" → count, "<webhook id>:last" → the last error
//
// and under the global prefix G (partition 0's), for every partition:
//
//	G:hist:roster:<id>   the webhooks traces refer to (a string, expiring)
//
// The key is 14 base-36 characters, 9 of the stream entry's milliseconds
// and 5 of its sequence, so that lexicographic order is the order events
// were accepted in, within a partition and, ties aside (broken by event
// id), across partitions: every list is one ZREVRANGEBYLEX from a bound
// per partition read (the asset's only, with an asset filter; otherwise
// every partition's, merged newest first), the asset and type filters
// included, and the time bound of the retention is a lexicographic bound
// too. An event id used again for an asset of another partition leaves its
// old record behind until it is trimmed: reads take the newest record of
// an id as the event. A record is
//
//	"<key> <type> <asset uuid length>:<asset uuid>\n<trace>\n<event JSON>"
//
// whose head lets the script drop a record's index entries without the
// engine's help. Cost per router batch and partition: one HMGET (records
// an id used again replaces), one HSET, three ZADDs, then ZCARD and
// ZLEXCOUNT for the bounds; when something is over them, one ZRANGE,
// HMGET, HDEL and three ZREMs for all the trimmed events. Reads ask every
// partition they need in one pipeline a step (see History).

func (k keys) history(what string) string { return k.p + ":hist:" + what }
func (k keys) roster(id string) string    { return k.p + ":hist:roster:" + id }
func (k keys) ruleErrors() string         { return k.p + ":rule_errors" }

// historyTrimBudget is how many events beyond a batch's own a batch trims
// at most: the bound is restored within a few batches after it shrinks.
const historyTrimBudget = 1000

// rosterSlack is how much longer than the retention a roster is kept: every
// process stores its roster again at least hourly while it routes with it.
const rosterSlack = 2 * time.Hour

// RosterRefresh is how often a process that routes with a roster should
// store it again (RouteBatch.Roster), within rosterSlack.
const RosterRefresh = time.Hour

// entryKey is the history key of a stream entry id ("<ms>-<seq>").
func entryKey(entry string) string {
	ms, seq, _ := strings.Cut(entry, "-")
	m, _ := strconv.ParseInt(ms, 10, 64)
	q, _ := strconv.ParseInt(seq, 10, 64)
	return historyKey(m, q)
}

// historyKey is the 14-character key of a time (ms) and sequence.
func historyKey(ms, seq int64) string {
	var b [14]byte
	pad(b[:9], strconv.FormatInt(max(ms, 0), 36))
	pad(b[9:], strconv.FormatInt(min(max(seq, 0), 36*36*36*36*36-1), 36))
	return string(b[:])
}

func pad(dst []byte, s string) {
	n := len(dst) - len(s)
	for i := 0; i < n; i++ {
		dst[i] = '0'
	}
	copy(dst[max(n, 0):], s[max(-n, 0):])
}

// keyTime is the time (ms) of a history key.
func keyTime(key string) int64 {
	if len(key) < 9 {
		return 0
	}
	ms, _ := strconv.ParseInt(key[:9], 36, 64)
	return ms
}

// member is an entry of the asset or type index.
func member(prefix, key, id string) string { return prefix + "\x00" + key + "\x00" + id }

// record encodes a history record.
func record(key string, h *HistoryEvent) []byte {
	b := make([]byte, 0, 40+len(h.Type)+len(h.AssetID)+len(h.Trace)+len(h.Event))
	b = append(b, key...)
	b = append(b, ' ')
	b = append(b, h.Type...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(h.AssetID)), 10)
	b = append(b, ':')
	b = append(b, h.AssetID...)
	b = append(b, '\n')
	b = append(b, h.Trace...)
	b = append(b, '\n')
	return append(b, h.Event...)
}

// lastOfEachID keeps, of events with the same id in one batch, the last.
func lastOfEachID(hs []HistoryEvent) []HistoryEvent {
	if len(hs) < 2 {
		return hs
	}
	seen := make(map[string]bool, len(hs))
	out := make([]HistoryEvent, 0, len(hs))
	for i := len(hs) - 1; i >= 0; i-- {
		if !seen[hs[i].ID] {
			seen[hs[i].ID] = true
			out = append(out, hs[i])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// HistoryRecord is a stored event of the history.
type HistoryRecord struct {
	ID       string
	Type     string
	AssetID  string
	Received time.Time // when it was accepted (its stream entry's time)
	Trace    []byte
	Event    []byte
	key      string
}

// errBadRecord is a history record that does not parse.
var errBadRecord = errors.New("store: malformed history record")

func parseRecord(id string, v []byte) (HistoryRecord, error) {
	r := HistoryRecord{ID: id}
	if len(v) < 16 || v[14] != ' ' {
		return r, errBadRecord
	}
	r.key = string(v[:14])
	r.Received = time.UnixMilli(keyTime(r.key)).UTC()
	rest := v[15:]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return r, errBadRecord
	}
	r.Type = string(rest[:sp])
	rest = rest[sp+1:]
	colon := bytes.IndexByte(rest, ':')
	if colon < 0 {
		return r, errBadRecord
	}
	alen, err := strconv.Atoi(string(rest[:colon]))
	if err != nil || alen < 0 || colon+1+alen > len(rest) {
		return r, errBadRecord
	}
	r.AssetID = string(rest[colon+1 : colon+1+alen])
	rest = rest[colon+1+alen:]
	if len(rest) == 0 || rest[0] != '\n' {
		return r, errBadRecord
	}
	rest = rest[1:]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		return r, errBadRecord
	}
	r.Trace, r.Event = rest[:nl], rest[nl+1:]
	return r, nil
}

// newer reports whether a record of an event id stored under key in
// partition p supersedes one under key2 in partition p2: an event id used
// again may be routed to another partition than its first use (another
// asset), whose router cannot drop the old record; the newest is the event.
func newer(key string, p int, key2 string, p2 int) bool {
	return key > key2 || (key == key2 && p > p2)
}

// HistoryEvent returns a stored event of the history; ErrNotFound when it
// is not stored (never routed, trimmed, or received before since). Every
// partition is asked, in one pipeline; of an id stored in several (used
// again for an asset of another partition), the newest is the event.
func (s *Store) HistoryEvent(ctx context.Context, id string, since time.Time) (HistoryRecord, error) {
	var best HistoryRecord
	found, bestPart := false, 0
	err := eachPart(ctx, s, func(p redis.Pipeliner, k keys) *redis.StringCmd { return p.HGet(ctx, k.history("data"), id) },
		func(part int, c *redis.StringCmd) error {
			v, err := c.Bytes()
			if err == redis.Nil {
				return nil
			}
			if err != nil {
				return unavailable(err)
			}
			r, err := parseRecord(id, v)
			if err != nil {
				return err
			}
			if !found || newer(r.key, part, best.key, bestPart) {
				best, found, bestPart = r, true, part
			}
			return nil
		})
	if err != nil {
		return HistoryRecord{}, err
	}
	if !found || best.Received.Before(since) {
		return HistoryRecord{}, ErrNotFound
	}
	return best, nil
}

// HistoryQuery selects stored events of the history, newest first.
type HistoryQuery struct {
	// AssetID and Type, when set, keep only the events of that asset and
	// of that type.
	AssetID string
	Type    string
	// Before, when set, is an event id: the list starts below it
	// (ErrNotFound when it is not stored).
	Before string
	// Since leaves out the events received before it.
	Since time.Time
	// Limit is how many records to return at most.
	Limit int
}

// historyPage is how many index entries one round trip reads at most from
// one partition.
const historyPage = 500

// histCursor is one partition's place in a merged list: the index entries
// read and not taken yet, and the bound of the next read.
type histCursor struct {
	part int
	hi   string // Max of the next read
	// below is what every entry not read yet sorts under ("<key>\x00<id>",
	// the index's prefix cut); open when there is no bound yet.
	below string
	open  bool
	buf   []string // entries read, prefix cut, newest first
	done  bool     // the index has nothing more within the bounds
}

// histPick is an index entry chosen for a list: its partition and
// "<key>\x00<id>".
type histPick struct {
	part int
	rest string
}

// History lists stored events newest first, as q selects them.
//
// With AssetID set only the asset's partition is read. Otherwise every
// partition's index (that of the type, when Type is set) is read with the
// same bounds, entries sorting by key then event id in all of them, and
// merged: each step reads, in one pipeline, more entries of the partitions
// that could hold the next newest (at first about twice their share of
// what is missing), then the records of the entries chosen, in one
// pipeline; a record trimmed in between (or superseded by its id's use in
// another partition) is skipped and the list goes on until it has q.Limit
// records or the indexes have no more.
func (s *Store) History(ctx context.Context, q HistoryQuery) ([]HistoryRecord, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	what, prefix := "idx", ""
	switch {
	case q.AssetID != "":
		what, prefix = "asset", q.AssetID+"\x00"
	case q.Type != "":
		what, prefix = "type", q.Type+"\x00"
	}
	hi, below := "+", ""
	if prefix != "" {
		hi = "(" + prefix[:len(prefix)-1] + "\x01"
	}
	if q.Before != "" {
		b, err := s.HistoryEvent(ctx, q.Before, time.Time{})
		if err != nil {
			return nil, err
		}
		below = b.key + "\x00" + b.ID
		hi = "(" + prefix + below
	}
	lo := "[" + prefix + historyKey(q.Since.UnixMilli(), 0)
	var cur []*histCursor
	if q.AssetID != "" {
		cur = []*histCursor{{part: s.Partition(q.AssetID, ""), hi: hi, below: below, open: q.Before == ""}}
	} else {
		cur = make([]*histCursor, len(s.parts))
		for i := range cur {
			cur[i] = &histCursor{part: i, hi: hi, below: below, open: q.Before == ""}
		}
	}
	// With both filters the index tells only the asset: the records tell
	// the type, so whole pages are read.
	both := q.AssetID != "" && q.Type != ""
	out := make([]HistoryRecord, 0, q.Limit)
	for len(out) < q.Limit {
		want := q.Limit - len(out)
		if both {
			want = historyPage
		}
		picks, err := s.pickHistory(ctx, cur, what, prefix, lo, want)
		if err != nil {
			return nil, err
		}
		if len(picks) == 0 {
			break
		}
		recs, err := s.historyRecords(ctx, picks)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r == nil || (q.AssetID != "" && r.AssetID != q.AssetID) || (q.Type != "" && r.Type != q.Type) {
				continue
			}
			out = append(out, *r)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

// pickHistory takes up to want index entries from the cursors, newest
// first, reading more of the partitions that could hold a newer entry than
// the newest read, in one pipeline a step.
func (s *Store) pickHistory(ctx context.Context, cur []*histCursor, what, prefix, lo string, want int) ([]histPick, error) {
	var picks []histPick
	var need []*histCursor
	for len(picks) < want {
		var best *histCursor
		for _, c := range cur {
			if len(c.buf) > 0 && (best == nil || c.buf[0] > best.buf[0]) {
				best = c
			}
		}
		need = need[:0]
		for _, c := range cur {
			if !c.done && len(c.buf) == 0 && (best == nil || c.open || c.below > best.buf[0]) {
				need = append(need, c)
			}
		}
		if len(need) > 0 {
			if err := s.readIndexes(ctx, need, what, prefix, lo, want-len(picks)); err != nil {
				return nil, err
			}
			continue
		}
		if best == nil {
			break
		}
		picks = append(picks, histPick{part: best.part, rest: best.buf[0]})
		best.buf = best.buf[1:]
	}
	return picks, nil
}

// readIndexes reads the next entries of several partitions' indexes in one
// pipeline: about twice each one's share of the missing, at most
// historyPage.
func (s *Store) readIndexes(ctx context.Context, need []*histCursor, what, prefix, lo string, missing int) error {
	n := min(historyPage, missing, 2*((missing+len(need)-1)/len(need))+4)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(need))
	for i, c := range need {
		cmds[i] = pipe.ZRevRangeByLex(ctx, s.part(c.part).history(what), &redis.ZRangeBy{Max: c.hi, Min: lo, Count: int64(n)})
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range need {
		ms, err := cmds[i].Result()
		if err != nil && err != redis.Nil {
			return unavailable(err)
		}
		c.open = false
		if len(ms) < n {
			c.done = true
		}
		if len(ms) == 0 {
			continue
		}
		last := ms[len(ms)-1]
		c.hi, c.below = "("+last, strings.TrimPrefix(last, prefix)
		for _, m := range ms {
			rest, ok := strings.CutPrefix(m, prefix)
			if !ok || len(rest) < 15 || rest[14] != 0 {
				continue
			}
			c.buf = append(c.buf, rest)
		}
	}
	return nil
}

// historyRecords reads the records of chosen index entries, in one
// pipeline: one HMGET of their ids per partition, every partition asked,
// so that a record superseded by its id's newer use in another partition
// is known. A record trimmed in between, superseded, or not the entry's
// (its id used again in the same partition) is nil.
func (s *Store) historyRecords(ctx context.Context, picks []histPick) ([]*HistoryRecord, error) {
	at := make(map[string]int, len(picks))
	ids := make([]string, 0, len(picks))
	for _, pk := range picks {
		id := pk.rest[15:]
		if _, ok := at[id]; !ok {
			at[id] = len(ids)
			ids = append(ids, id)
		}
	}
	vals := make([][]any, len(s.parts))
	err := eachPart(ctx, s, func(p redis.Pipeliner, k keys) *redis.SliceCmd { return p.HMGet(ctx, k.history("data"), ids...) },
		func(part int, c *redis.SliceCmd) error {
			v, err := c.Result()
			if err != nil {
				return unavailable(err)
			}
			if len(v) != len(ids) {
				return errors.New("store: HMGET answered the wrong number of values")
			}
			vals[part] = v
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := make([]*HistoryRecord, len(picks))
	for i, pk := range picks {
		key, id := pk.rest[:14], pk.rest[15:]
		j := at[id]
		str, ok := vals[pk.part][j].(string)
		if !ok {
			continue // trimmed in between
		}
		r, err := parseRecord(id, []byte(str))
		if err != nil || r.key != key {
			continue
		}
		superseded := false
		for p := range vals {
			if o, ok := vals[p][j].(string); ok && p != pk.part && len(o) >= 14 && newer(o[:14], p, key, pk.part) {
				superseded = true
				break
			}
		}
		if !superseded {
			out[i] = &r
		}
	}
	return out, nil
}

// HistoryLen is how many events the history holds, over every partition (a
// record superseded by its id's use in another partition counts until it
// is trimmed).
func (s *Store) HistoryLen(ctx context.Context) (int64, error) {
	var n int64
	err := eachPart(ctx, s, func(p redis.Pipeliner, k keys) *redis.IntCmd { return p.ZCard(ctx, k.history("idx")) },
		func(_ int, c *redis.IntCmd) error {
			v, err := c.Result()
			n += v
			return unavailable(err)
		})
	return n, err
}

// RosterOf returns a stored roster; ErrNotFound when it expired.
func (s *Store) RosterOf(ctx context.Context, id string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, s.k.roster(id)).Bytes()
	if err == redis.Nil {
		return nil, ErrNotFound
	}
	return b, unavailable(err)
}

// unroutedScript looks for an event still in the events stream (accepted,
// not yet routed: routed entries are deleted) by its id.
// KEYS[1] events stream; ARGV[1] event id, [2] most entries to look at.
// Returns the entry's id and fields, or false.
var unroutedScript = redis.NewScript(`
local start, seen, most = '-', 0, tonumber(ARGV[2])
while seen < most do
  local es = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 500)
  for _, e in ipairs(es) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'i' and f[i + 1] == ARGV[1] then return {e[1], f} end
    end
  end
  if #es < 500 then return false end
  seen = seen + #es
  local last = es[#es][1]
  local dash = string.find(last, '-', 1, true)
  start = string.sub(last, 1, dash) .. (tonumber(string.sub(last, dash + 1)) + 1)
end
return false
`)

// MaxUnroutedScan is how many entries of each partition's events stream
// Unrouted looks at: the backlog the router has not reached.
const MaxUnroutedScan = 10000

// Unrouted returns an accepted event that the router has not routed yet
// (it is still in its partition's events stream, among its first
// MaxUnroutedScan entries); ErrNotFound when it is not there. The event's
// partition is not known from its id (its asset's is), so every partition
// is looked at: one script call each, in one pipeline.
func (s *Store) Unrouted(ctx context.Context, id string) (EventEntry, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(s.parts))
	for i, k := range s.parts {
		cmds[i] = unroutedScript.EvalSha(ctx, pipe, []string{k.events()}, id, MaxUnroutedScan)
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			res, err = unroutedScript.Run(ctx, s.rdb, []string{s.parts[i].events()}, id, MaxUnroutedScan).Slice()
		}
		if err == redis.Nil || (err == nil && len(res) != 2) {
			continue
		}
		if err != nil {
			return EventEntry{}, unavailable(err)
		}
		e, _ := res[0].(string)
		fields, _ := res[1].([]any)
		v := make(map[string]any, len(fields)/2)
		for j := 0; j+1 < len(fields); j += 2 {
			k, _ := fields[j].(string)
			v[k] = fields[j+1]
		}
		return eventEntry(entry(i, e), v), nil
	}
	return EventEntry{}, ErrNotFound
}

// RuleErrors is a webhook's count of run-time rule errors and the last one
// (nil for none).
type RuleErrors struct {
	Count int64
	Last  []byte
}

// RecordRef names one delivery record: its webhook and delivery id.
type RecordRef struct {
	WebhookID  int64
	DeliveryID string
}

// RecordsOf returns several delivery records in one round trip, in the
// order of refs; a missing one is nil. A record is in its event's
// partition, which a ref does not tell: every partition is asked, one HMGET
// per partition and webhook, in one pipeline, and the first partition that
// has it answers (as Record does).
func (s *Store) RecordsOf(ctx context.Context, refs []RecordRef) ([][]byte, error) {
	out := make([][]byte, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	type group struct {
		webhook int64
		ids     []string
		at      []int // each id's index in refs
	}
	var groups []*group
	byWebhook := map[int64]*group{}
	for i, r := range refs {
		g := byWebhook[r.WebhookID]
		if g == nil {
			g = &group{webhook: r.WebhookID}
			byWebhook[r.WebhookID] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, r.DeliveryID)
		g.at = append(g.at, i)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([][]*redis.SliceCmd, len(s.parts))
	for p, k := range s.parts {
		cmds[p] = make([]*redis.SliceCmd, len(groups))
		for j, g := range groups {
			cmds[p][j] = pipe.HMGet(ctx, k.records(g.webhook), g.ids...)
		}
	}
	_, _ = pipe.Exec(ctx)
	for p := range s.parts {
		for j, g := range groups {
			vals, err := cmds[p][j].Result()
			if err != nil {
				return nil, unavailable(err)
			}
			for x, v := range vals {
				if str, ok := v.(string); ok && x < len(g.at) && out[g.at[x]] == nil {
					out[g.at[x]] = []byte(str)
				}
			}
		}
	}
	return out, nil
}
