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
// warnings (SPEC §3.8). The router writes it in its batch script (Route):
//
//	P:hist:data          hash: event id → record
//	P:hist:idx           zset (all scores 0): "<key>\x00<event id>", by key
//	P:hist:asset         zset (all scores 0): "<asset uuid>\x00<key>\x00<event id>"
//	P:hist:type          zset (all scores 0): "<type>\x00<key>\x00<event id>"
//	P:hist:roster:<id>   the webhooks traces refer to (a string, expiring)
//	P:rule_errors        hash: "<webhook id>" → count, "<webhook id>:last" → the last error
//
// The key is 14 base-36 characters, 9 of the stream entry's milliseconds
// and 5 of its sequence, so that lexicographic order is the order events
// were accepted in: every list is one ZREVRANGEBYLEX from a bound, the asset
// and type filters included, and the time bound of the retention is a
// lexicographic bound too. A record is
//
//	"<key> <type> <asset uuid length>:<asset uuid>\n<trace>\n<event JSON>"
//
// whose head lets the script drop a record's index entries without the
// engine's help. Cost per router batch: one HMGET (records an id used again
// replaces), one HSET, three ZADDs, then ZCARD and ZLEXCOUNT for the bounds;
// when something is over them, one ZRANGE, HMGET, HDEL and three ZREMs for
// all the trimmed events.

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

// HistoryEvent returns a stored event of the history; ErrNotFound when it
// is not stored (never routed, trimmed, or received before since).
func (s *Store) HistoryEvent(ctx context.Context, id string, since time.Time) (HistoryRecord, error) {
	v, err := s.rdb.HGet(ctx, s.k.history("data"), id).Bytes()
	if err == redis.Nil {
		return HistoryRecord{}, ErrNotFound
	}
	if err != nil {
		return HistoryRecord{}, unavailable(err)
	}
	r, err := parseRecord(id, v)
	if err != nil {
		return r, err
	}
	if r.Received.Before(since) {
		return HistoryRecord{}, ErrNotFound
	}
	return r, nil
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

// historyPage is how many index entries one round trip reads.
const historyPage = 500

// History lists stored events newest first, as q selects them.
func (s *Store) History(ctx context.Context, q HistoryQuery) ([]HistoryRecord, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	key, prefix := s.k.history("idx"), ""
	switch {
	case q.AssetID != "":
		key, prefix = s.k.history("asset"), q.AssetID+"\x00"
	case q.Type != "":
		key, prefix = s.k.history("type"), q.Type+"\x00"
	}
	hi := "+"
	if prefix != "" {
		hi = "(" + prefix[:len(prefix)-1] + "\x01"
	}
	if q.Before != "" {
		b, err := s.HistoryEvent(ctx, q.Before, time.Time{})
		if err != nil {
			return nil, err
		}
		hi = "(" + prefix + b.key + "\x00" + b.ID
	}
	lo := "[" + prefix + historyKey(q.Since.UnixMilli(), 0)
	out := make([]HistoryRecord, 0, q.Limit)
	for len(out) < q.Limit {
		n := historyPage
		if q.AssetID == "" || q.Type == "" {
			n = min(n, q.Limit-len(out))
		}
		ms, err := s.rdb.ZRevRangeByLex(ctx, key, &redis.ZRangeBy{Max: hi, Min: lo, Count: int64(n)}).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		if len(ms) == 0 {
			break
		}
		hi = "(" + ms[len(ms)-1]
		ids := make([]string, 0, len(ms))
		keys := make([]string, 0, len(ms))
		for _, m := range ms {
			rest, ok := strings.CutPrefix(m, prefix)
			if !ok || len(rest) < 15 || rest[14] != 0 {
				continue
			}
			keys = append(keys, rest[:14])
			ids = append(ids, rest[15:])
		}
		if len(ids) == 0 {
			continue
		}
		vals, err := s.rdb.HMGet(ctx, s.k.history("data"), ids...).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // trimmed in between
			}
			r, err := parseRecord(ids[i], []byte(str))
			if err != nil || r.key != keys[i] || (q.AssetID != "" && r.AssetID != q.AssetID) ||
				(q.Type != "" && r.Type != q.Type) {
				continue
			}
			out = append(out, r)
			if len(out) == q.Limit {
				break
			}
		}
		if len(ms) < n {
			break
		}
	}
	return out, nil
}

// HistoryLen is how many events the history holds.
func (s *Store) HistoryLen(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.k.history("idx")).Result()
	return n, unavailable(err)
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

// MaxUnroutedScan is how many entries of the events stream Unrouted looks
// at: the backlog the router has not reached.
const MaxUnroutedScan = 10000

// Unrouted returns an accepted event that the router has not routed yet
// (it is still in the events stream, among its first MaxUnroutedScan
// entries); ErrNotFound when it is not there.
func (s *Store) Unrouted(ctx context.Context, id string) (EventEntry, error) {
	res, err := unroutedScript.Run(ctx, s.rdb, []string{s.k.events()}, id, MaxUnroutedScan).Slice()
	if err == redis.Nil {
		return EventEntry{}, ErrNotFound
	}
	if err != nil {
		return EventEntry{}, unavailable(err)
	}
	if len(res) != 2 {
		return EventEntry{}, ErrNotFound
	}
	entry, _ := res[0].(string)
	fields, _ := res[1].([]any)
	v := make(map[string]any, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v[k] = fields[i+1]
	}
	return eventEntry(entry, v), nil
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
// order of refs; a missing one is nil.
func (s *Store) RecordsOf(ctx context.Context, refs []RecordRef) ([][]byte, error) {
	out := make([][]byte, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(refs))
	for i, r := range refs {
		cmds[i] = pipe.HGet(ctx, s.k.records(r.WebhookID), r.DeliveryID)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, unavailable(err)
	}
	for i, c := range cmds {
		if b, err := c.Bytes(); err == nil {
			out[i] = b
		}
	}
	return out, nil
}
