package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine/store"
)

// historyBatch enqueues events (id, type, asset uuid) in turn and returns
// the router's batch for them, each kept in the history with its trace.
func historyBatch(t *testing.T, b bundle, evs ...[3]string) *store.RouteBatch {
	t.Helper()
	// One at a time, a few milliseconds apart: entries of different
	// partitions accepted in the same millisecond sort by event id, not
	// by when they were accepted.
	for _, e := range evs {
		time.Sleep(2 * time.Millisecond)
		in := []store.NewEvent{{ID: e[0], Type: e[1], AssetID: e[2], Envelope: []byte(`{"id":"` + e[0] + `"}`)}}
		if _, err := b.st.Enqueue(b.ctx, in, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	es := b.readAll(t, len(evs))
	rb := &store.RouteBatch{Consumer: "router-1", Minute: store.Minute(time.Now()), Retention: time.Hour,
		HistoryCap: 1000, HistoryRetention: time.Hour, Now: time.Now()}
	for _, e := range es {
		rb.Entries = append(rb.Entries, e.Entry)
		rb.History = append(rb.History, store.HistoryEvent{Entry: e.Entry, ID: e.ID, Type: e.Type, AssetID: e.AssetID,
			Trace: []byte("trace of " + e.ID), Event: []byte(e.Envelope)})
	}
	return rb
}

// readAll reads n new events for consumer "router-1", in as many reads as
// it takes: a read takes a share of its count from each partition, and on
// a cluster a partition written to is read once its doorbell rang.
func (b bundle) readAll(t *testing.T, n int) []store.EventEntry {
	t.Helper()
	var es []store.EventEntry
	deadline := time.Now().Add(5 * time.Second)
	for len(es) < n && time.Now().Before(deadline) {
		got, err := b.st.ReadEvents(b.ctx, "router-1", n-len(es), 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, got...)
	}
	if len(es) != n {
		t.Fatalf("read: %d entries, want %d", len(es), n)
	}
	return es
}

// partKeys lists the deployment's keys that end in suffix, in every
// partition (on every master of a cluster).
func (b bundle) partKeys(t *testing.T, suffix string) []string {
	t.Helper()
	pattern := store.KeyPattern(b.p)
	var mu sync.Mutex
	var out []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if k := iter.Val(); strings.HasSuffix(k, suffix) {
				mu.Lock()
				out = append(out, k)
				mu.Unlock()
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(b.ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(b.ctx, b.rdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cleanParts deletes, when the test ends, the keys of every partition
// (redistest cleans the prefix's own, partition 0's).
func (b bundle) cleanParts(t *testing.T) {
	t.Cleanup(func() {
		for _, k := range b.partKeys(t, "") {
			b.rdb.Del(context.Background(), k)
		}
	})
}

func route(t *testing.T, b bundle, rb *store.RouteBatch) int {
	t.Helper()
	n, err := b.st.Route(b.ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ids(rs []store.HistoryRecord) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func (b bundle) list(t *testing.T, q store.HistoryQuery) []string {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	rs, err := b.st.History(b.ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return ids(rs)
}

// sizes are the sizes of the history's index, asset index, type index and
// records, over every partition.
func (b bundle) sizes(t *testing.T) []int64 {
	t.Helper()
	var out []int64
	for _, k := range []string{"idx", "asset", "type"} {
		var sum int64
		for _, key := range b.partKeys(t, ":hist:"+k) {
			n, err := b.rdb.ZCard(b.ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			sum += n
		}
		out = append(out, sum)
	}
	var sum int64
	for _, key := range b.partKeys(t, ":hist:data") {
		n, err := b.rdb.HLen(b.ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	if n, err := b.st.HistoryLen(b.ctx); err != nil || n != out[0] {
		t.Errorf("HistoryLen %d %v, want the index sizes' sum %d", n, err, out[0])
	}
	return append(out, sum)
}

// TestHistory: every routed event is kept once, with its trace, and listed
// newest first, by asset, by type, or both, paged with before and bounded by
// since; a batch written twice adds nothing; an event id used again moves
// to its new place (its old record, in another partition, is left to the
// trim but never listed).
func TestHistory(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		b.cleanParts(t)
		rb := historyBatch(t, b, [3]string{"e1", "ASSET_ADDED", "u1"}, [3]string{"e2", "ASSET_ADDED", "u2"},
			[3]string{"e3", "ASSET_MOVED", "u1"}, [3]string{"e4", "PROJECT_ADDED", ""}, [3]string{"e5", "ASSET_MOVED", "u1"})
		if n := route(t, b, rb); n != 5 {
			t.Fatalf("routed %d, want 5", n)
		}
		if n := route(t, b, rb); n != 0 {
			t.Fatalf("routed again %d, want 0", n)
		}
		diff(t, "index sizes and records", b.sizes(t), []int64{5, 4, 5, 5})
		r, err := b.st.HistoryEvent(b.ctx, "e3", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "record", []string{r.ID, r.Type, r.AssetID, string(r.Trace), string(r.Event)},
			[]string{"e3", "ASSET_MOVED", "u1", "trace of e3", `{"id":"e3"}`})
		if age := time.Since(r.Received); age < 0 || age > time.Minute {
			t.Errorf("received %s ago", age)
		}
		diff(t, "all", b.list(t, store.HistoryQuery{}), []string{"e5", "e4", "e3", "e2", "e1"})
		diff(t, "asset u1", b.list(t, store.HistoryQuery{AssetID: "u1"}), []string{"e5", "e3", "e1"})
		diff(t, "type ASSET_MOVED", b.list(t, store.HistoryQuery{Type: "ASSET_MOVED"}), []string{"e5", "e3"})
		diff(t, "asset u1 and ASSET_ADDED", b.list(t, store.HistoryQuery{AssetID: "u1", Type: "ASSET_ADDED"}), []string{"e1"})
		diff(t, "before e4, 2", b.list(t, store.HistoryQuery{Before: "e4", Limit: 2}), []string{"e3", "e2"})
		diff(t, "asset u1 before e3", b.list(t, store.HistoryQuery{AssetID: "u1", Before: "e3"}), []string{"e1"})
		diff(t, "since the future", b.list(t, store.HistoryQuery{Since: time.Now().Add(time.Minute)}), []string{})
		if _, err := b.st.History(b.ctx, store.HistoryQuery{Before: "nope", Limit: 5}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("before an unknown id: %v, want ErrNotFound", err)
		}
		if _, err := b.st.HistoryEvent(b.ctx, "e1", time.Now().Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an event received before since: %v, want ErrNotFound", err)
		}

		// e1 again (its id reused after the idempotency window), now for u2,
		// whose partition is not u1's: e1's old record stays in u1's until
		// it is trimmed.
		if b.st.Partition("u1", "") == b.st.Partition("u2", "") {
			t.Fatal("u1 and u2 are meant to be in different partitions")
		}
		route(t, b, historyBatch(t, b, [3]string{"e1", "ASSET_REMOVED", "u2"}))
		diff(t, "sizes after reuse", b.sizes(t), []int64{6, 5, 6, 6})
		r, err = b.st.HistoryEvent(b.ctx, "e1", time.Time{})
		diff(t, "the reused id's event", []any{r.Type, r.AssetID, err}, []any{"ASSET_REMOVED", "u2", nil})
		diff(t, "all after reuse", b.list(t, store.HistoryQuery{}), []string{"e1", "e5", "e4", "e3", "e2"})
		diff(t, "asset u1 after reuse", b.list(t, store.HistoryQuery{AssetID: "u1"}), []string{"e5", "e3"})
		diff(t, "asset u2 after reuse", b.list(t, store.HistoryQuery{AssetID: "u2"}), []string{"e1", "e2"})
		diff(t, "type ASSET_ADDED after reuse", b.list(t, store.HistoryQuery{Type: "ASSET_ADDED"}), []string{"e2"})
		diff(t, "before e5 after reuse", b.list(t, store.HistoryQuery{Before: "e5"}), []string{"e4", "e3", "e2"})
	})
}

// TestHistoryBounds: after every batch each partition's history holds at
// most its share of the cap, and nothing received before the retention's
// start; trimmed events leave no index entry behind.
func TestHistoryBounds(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		b.cleanParts(t)
		rb := historyBatch(t, b, [3]string{"e1", "ASSET_ADDED", "u1"}, [3]string{"e2", "ASSET_ADDED", "u2"},
			[3]string{"e3", "ASSET_MOVED", "u1"})
		// A cap of 2 over 16 partitions is 1 each: u1's keeps e3, u2's e2.
		rb.HistoryCap = 2
		route(t, b, rb)
		diff(t, "sizes at the cap", b.sizes(t), []int64{2, 2, 2, 2})
		diff(t, "the newest kept", b.list(t, store.HistoryQuery{}), []string{"e3", "e2"})
		if _, err := b.st.HistoryEvent(b.ctx, "e1", time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("trimmed event: %v, want ErrNotFound", err)
		}
		// Two hours later, with a retention of one, a batch in both
		// partitions that hold history (each is trimmed by the batches
		// routed to it): all of it is too old.
		rb = historyBatch(t, b, [3]string{"e4", "ASSET_ADDED", "u1"}, [3]string{"e5", "ASSET_ADDED", "u2"})
		rb.Now = time.Now().Add(2 * time.Hour)
		route(t, b, rb)
		diff(t, "sizes after the retention", b.sizes(t), []int64{0, 0, 0, 0})
	})
}

// TestRosterRuleErrorsUnrouted: a roster is stored for longer than the
// retention; rule errors are counted per webhook once per entry, shown in
// the figures and dropped with the webhook; an event still in the stream
// is found by id.
func TestRosterRuleErrorsUnrouted(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		b.cleanParts(t)
		if err := b.st.PutWebhook(b.ctx, 7, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		rb := historyBatch(t, b, [3]string{"e1", "ASSET_ADDED", "u1"}, [3]string{"e2", "ASSET_ADDED", "u1"})
		rb.Roster = &store.Roster{ID: "r1", Value: []byte(`[{"id":7}]`)}
		rb.RuleErrors = []store.RuleError{{Entry: rb.Entries[0], WebhookID: 7, Last: []byte(`{"error":"one"}`)},
			{Entry: rb.Entries[1], WebhookID: 7, Last: []byte(`{"error":"two"}`)}}
		route(t, b, rb)
		route(t, b, rb)
		v, err := b.st.RosterOf(b.ctx, "r1")
		diff(t, "roster", string(v), `[{"id":7}]`)
		if err != nil {
			t.Fatal(err)
		}
		if ttl, _ := b.rdb.TTL(b.ctx, b.p+":hist:roster:r1").Result(); ttl <= time.Hour || ttl > 3*time.Hour {
			t.Errorf("roster TTL %s, want the retention and some", ttl)
		}
		if _, err := b.st.RosterOf(b.ctx, "r2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown roster: %v", err)
		}
		figs, err := b.st.Figures(b.ctx, []int64{7})
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "rule errors", []any{figs[7].RuleErrors.Count, string(figs[7].RuleErrors.Last)}, []any{int64(2), `{"error":"two"}`})
		if err := b.st.DeleteWebhook(b.ctx, 7); err != nil {
			t.Fatal(err)
		}
		figs, _ = b.st.Figures(b.ctx, []int64{7})
		diff(t, "rule errors after delete", figs[7].RuleErrors, store.RuleErrors{})

		if _, err := b.st.Enqueue(b.ctx, []store.NewEvent{{ID: "q1", Type: "ASSET_ADDED", AssetID: "u9",
			Envelope: []byte(`{"id":"q1"}`), Asset: []byte(`{"uuid":"u9"}`)}}, time.Hour); err != nil {
			t.Fatal(err)
		}
		e, err := b.st.Unrouted(b.ctx, "q1")
		if err != nil {
			t.Fatal(err)
		}
		if p, want := store.PartOf(e.Entry), b.st.Partition("u9", ""); p != want || !strings.Contains(e.Entry, "/") {
			t.Errorf("unrouted entry %q, want one of partition %d", e.Entry, want)
		}
		if len(e.Order) != 14 {
			t.Errorf("unrouted order %q", e.Order)
		}
		e.Entry, e.Order = "", ""
		diff(t, "unrouted", e, store.EventEntry{ID: "q1", AssetID: "u9", Type: "ASSET_ADDED", Envelope: `{"id":"q1"}`, Asset: `{"uuid":"u9"}`})
		if _, err := b.st.Unrouted(b.ctx, "e1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a routed event: %v, want ErrNotFound", err)
		}
	})
}
