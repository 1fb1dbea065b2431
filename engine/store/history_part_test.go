package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine/store"
)

// The history across partitions: events of many assets (so of every
// partition) routed through Route, then listed, paged, filtered and looked
// up as the engine does.

// partEvent is one event of the partitioned history test, as routed.
type partEvent struct {
	id, typ, asset, entry string
	ms, seq               int64
}

// histOrder is the order of the merged history: newest first by the
// entry's time and sequence (its history key), then by event id.
func histOrder(a, b partEvent) int {
	switch {
	case a.ms != b.ms:
		return -cmpInt(a.ms, b.ms)
	case a.seq != b.seq:
		return -cmpInt(a.seq, b.seq)
	}
	return -strings.Compare(a.id, b.id)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// routeMany enqueues events in batches (several events of a partition in
// one millisecond, and events of several partitions in one millisecond),
// routes them with their history and returns them newest first. A "hot"
// asset has far more events than the others, and some events have no
// asset.
func routeMany(t *testing.T, b bundle) []partEvent {
	t.Helper()
	types := []string{"ASSET_ADDED", "ASSET_MOVED", "ASSET_REMOVED"}
	var evs []partEvent
	n := 0
	for batch := range 6 {
		var in []store.NewEvent
		for i := range 40 {
			n++
			id := fmt.Sprintf("ev-%03d", n)
			asset := ""
			switch {
			case i%3 == 0:
				asset = "hot"
			case i%7 == 0:
			default:
				asset = fmt.Sprintf("u%d", (batch*40+i)%23)
			}
			typ := types[(n*7)%len(types)]
			in = append(in, store.NewEvent{ID: id, Type: typ, AssetID: asset, Envelope: []byte(`{"id":"` + id + `"}`)})
		}
		if _, err := b.st.Enqueue(b.ctx, in, time.Hour); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	es := b.readAll(t, n)
	now := time.Now()
	// Routed in a few batches of mixed partitions.
	for len(es) > 0 {
		k := min(len(es), 70)
		rb := &store.RouteBatch{Consumer: "router-1", Minute: store.Minute(now), Retention: time.Hour,
			HistoryCap: 100000, HistoryRetention: time.Hour, Now: now}
		for _, e := range es[:k] {
			p, id, ok := strings.Cut(e.Entry, "/")
			if !ok {
				t.Fatalf("entry %q is not qualified", e.Entry)
			}
			if want := strconv.Itoa(b.st.Partition(e.AssetID, e.ID)); p != want {
				t.Fatalf("entry %q of %s in partition %s, want %s", e.Entry, e.ID, p, want)
			}
			msStr, seqStr, _ := strings.Cut(id, "-")
			ms, _ := strconv.ParseInt(msStr, 10, 64)
			seq, _ := strconv.ParseInt(seqStr, 10, 64)
			evs = append(evs, partEvent{id: e.ID, typ: e.Type, asset: e.AssetID, entry: e.Entry, ms: ms, seq: seq})
			rb.Entries = append(rb.Entries, e.Entry)
			rb.History = append(rb.History, store.HistoryEvent{Entry: e.Entry, ID: e.ID, Type: e.Type, AssetID: e.AssetID,
				Trace: []byte("trace of " + e.ID), Event: []byte(e.Envelope)})
		}
		if got := route(t, b, rb); got != k {
			t.Fatalf("routed %d, want %d", got, k)
		}
		es = es[k:]
	}
	slices.SortFunc(evs, histOrder)
	parts := map[int]bool{}
	for _, e := range evs {
		parts[store.PartOf(e.entry)] = true
	}
	if len(parts) < 12 {
		t.Fatalf("the events are in %d partitions only", len(parts))
	}
	return evs
}

func pick(evs []partEvent, keep func(partEvent) bool) []string {
	out := []string{}
	for _, e := range evs {
		if keep(e) {
			out = append(out, e.id)
		}
	}
	return out
}

// pages lists q page by page (each of size) with Before, to the end.
func (b bundle) pages(t *testing.T, q store.HistoryQuery, size int) []string {
	t.Helper()
	out := []string{}
	q.Limit = size
	for range 1000 {
		got := b.list(t, q)
		out = append(out, got...)
		if len(got) < size {
			return out
		}
		q.Before = got[len(got)-1]
	}
	t.Fatal("the pages do not end")
	return nil
}

// TestHistoryPartitions: the history of events of every partition is
// listed newest first across partitions, exactly Limit of them, paged with
// Before, by type, by asset and bounded by since; every event is found by
// id; the length is the sum of the partitions'.
func TestHistoryPartitions(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		b.cleanParts(t)
		if b.st.Partitions() != store.DefaultPartitions || store.DefaultPartitions != 16 {
			t.Fatalf("%d partitions, want 16", b.st.Partitions())
		}
		evs := routeMany(t, b)
		all := pick(evs, func(partEvent) bool { return true })
		diff(t, "all", b.list(t, store.HistoryQuery{Limit: 1000}), all)
		for _, n := range []int{1, 2, 7, 16, 50, 239} {
			diff(t, fmt.Sprintf("the newest %d", n), b.list(t, store.HistoryQuery{Limit: n}), all[:n])
		}
		for _, size := range []int{1, 7, 50} {
			diff(t, fmt.Sprintf("pages of %d", size), b.pages(t, store.HistoryQuery{}, size), all)
		}
		diff(t, "before the 100th, 30", b.list(t, store.HistoryQuery{Before: all[99], Limit: 30}), all[100:130])

		for _, typ := range []string{"ASSET_MOVED", "ASSET_REMOVED", "NONE"} {
			want := pick(evs, func(e partEvent) bool { return e.typ == typ })
			diff(t, "type "+typ, b.list(t, store.HistoryQuery{Type: typ, Limit: 1000}), want)
			diff(t, "type "+typ+" in pages of 9", b.pages(t, store.HistoryQuery{Type: typ}, 9), want)
		}
		for _, asset := range []string{"hot", "u5", "u22"} {
			want := pick(evs, func(e partEvent) bool { return e.asset == asset })
			diff(t, "asset "+asset, b.list(t, store.HistoryQuery{AssetID: asset, Limit: 1000}), want)
			diff(t, "asset "+asset+" in pages of 4", b.pages(t, store.HistoryQuery{AssetID: asset}, 4), want)
			want = pick(evs, func(e partEvent) bool { return e.asset == asset && e.typ == "ASSET_ADDED" })
			diff(t, "asset "+asset+" and ASSET_ADDED in pages of 3",
				b.pages(t, store.HistoryQuery{AssetID: asset, Type: "ASSET_ADDED"}, 3), want)
		}
		// An asset's list starts below any event, of its partition or not.
		want := pick(evs[50:], func(e partEvent) bool { return e.asset == "hot" })
		diff(t, "asset hot before the 50th", b.list(t, store.HistoryQuery{AssetID: "hot", Before: all[49]}), want)

		// Since: the events of the middle batch's millisecond and after.
		mid := evs[len(evs)/2]
		since := time.UnixMilli(mid.ms)
		want = pick(evs, func(e partEvent) bool { return e.ms >= mid.ms })
		if len(want) == len(evs) || len(want) == 0 {
			t.Fatalf("since keeps %d of %d", len(want), len(evs))
		}
		diff(t, "since", b.pages(t, store.HistoryQuery{Since: since}, 11), want)
		diff(t, "since, type ASSET_MOVED", b.list(t, store.HistoryQuery{Since: since, Type: "ASSET_MOVED", Limit: 1000}),
			pick(evs, func(e partEvent) bool { return e.ms >= mid.ms && e.typ == "ASSET_MOVED" }))

		for _, e := range evs {
			r, err := b.st.HistoryEvent(b.ctx, e.id, time.Time{})
			if err != nil {
				t.Fatalf("%s (partition %d): %v", e.id, store.PartOf(e.entry), err)
			}
			if r.ID != e.id || r.Type != e.typ || r.AssetID != e.asset || string(r.Trace) != "trace of "+e.id ||
				!r.Received.Equal(time.UnixMilli(e.ms)) {
				t.Fatalf("%s: got %+v", e.id, r)
			}
		}
		if _, err := b.st.HistoryEvent(b.ctx, "nope", time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown event: %v", err)
		}
		if _, err := b.st.HistoryEvent(b.ctx, evs[0].id, time.UnixMilli(evs[0].ms+1)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an event received before since: %v", err)
		}
		if n, err := b.st.HistoryLen(b.ctx); err != nil || n != int64(len(evs)) {
			t.Errorf("HistoryLen %d %v, want %d", n, err, len(evs))
		}

		// Records trimmed in between (their index entries still there)
		// are skipped: the lists still have exactly Limit.
		gone := map[string]bool{}
		for i := 0; i < 60; i += 3 {
			gone[all[i]] = true
		}
		for _, key := range b.partKeys(t, ":hist:data") {
			for id := range gone {
				b.rdb.HDel(b.ctx, key, id)
			}
		}
		left := pick(evs, func(e partEvent) bool { return !gone[e.id] })
		diff(t, "the newest 25 with records gone", b.list(t, store.HistoryQuery{Limit: 25}), left[:25])
		diff(t, "pages of 6 with records gone", b.pages(t, store.HistoryQuery{}, 6), left)
		diff(t, "hot with records gone", b.list(t, store.HistoryQuery{AssetID: "hot", Limit: 5}),
			pick(evs, func(e partEvent) bool { return !gone[e.id] && e.asset == "hot" })[:5])
	})
}

// TestHistoryPartitionsCost: a page across 16 partitions takes a few
// round trips (a pipeline across partitions a step), not one a partition.
func TestHistoryPartitionsCost(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		b.cleanParts(t)
		evs := routeMany(t, b)
		var trips atomic.Int64
		hook := countHook{&trips}
		b.rdb.AddHook(hook)
		count := func(what string, most int64, f func()) {
			t.Helper()
			f() // once first, so that the pool's connections are made
			trips.Store(0)
			f()
			if n := trips.Load(); n > most {
				t.Errorf("%s: %d round trips, want at most %d", what, n, most)
			}
		}
		count("a page of 50", 3, func() { b.list(t, store.HistoryQuery{Limit: 50}) })
		count("a page of 50 before an event", 4, func() { b.list(t, store.HistoryQuery{Before: evs[10].id, Limit: 50}) })
		count("an event", 1, func() { _, _ = b.st.HistoryEvent(b.ctx, evs[3].id, time.Time{}) })
		count("the length", 1, func() { _, _ = b.st.HistoryLen(b.ctx) })
	})
}

// countHook counts the commands and pipelines a client sends.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestUnroutedAndRecordsPartitions: an accepted event not routed yet is
// found in whichever partition's stream holds it, with a qualified entry;
// delivery records are found in their event's partition.
func TestUnroutedAndRecordsPartitions(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		b.cleanParts(t)
		var in []store.NewEvent
		for i := range 20 {
			id := fmt.Sprintf("q%d", i)
			asset := ""
			if i%2 == 0 {
				asset = fmt.Sprintf("a%d", i)
			}
			in = append(in, store.NewEvent{ID: id, Type: "ASSET_ADDED", AssetID: asset, Envelope: []byte(`{"id":"` + id + `"}`)})
		}
		if _, err := b.st.Enqueue(b.ctx, in, time.Hour); err != nil {
			t.Fatal(err)
		}
		parts := map[int]bool{}
		for _, ev := range in {
			e, err := b.st.Unrouted(b.ctx, ev.ID)
			if err != nil {
				t.Fatalf("%s: %v", ev.ID, err)
			}
			p := b.st.Partition(ev.AssetID, ev.ID)
			parts[p] = true
			if !strings.HasPrefix(e.Entry, strconv.Itoa(p)+"/") || e.ID != ev.ID || e.AssetID != ev.AssetID {
				t.Errorf("%s: entry %+v, want one of partition %d", ev.ID, e, p)
			}
		}
		if len(parts) < 8 {
			t.Fatalf("the events are in %d partitions only", len(parts))
		}
		if _, err := b.st.Unrouted(b.ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown event: %v", err)
		}

		// Route them with a delivery each, to webhooks 7 and 8.
		es := b.readAll(t, len(in))
		rb := &store.RouteBatch{Consumer: "router-1", Minute: store.Minute(time.Now()), Retention: time.Hour}
		var refs []store.RecordRef
		var want [][]byte
		for i, e := range es {
			w := int64(7 + i%2)
			did := "d-" + e.ID
			rec := []byte(`{"id":"` + did + `"}`)
			rb.Entries = append(rb.Entries, e.Entry)
			rb.Deliveries = append(rb.Deliveries, store.NewDelivery{Entry: e.Entry, WebhookID: w, DeliveryID: did,
				Message: []byte(`{}`), Record: rec, Created: time.Now().UnixMilli()})
			refs = append(refs, store.RecordRef{WebhookID: w, DeliveryID: did})
			want = append(want, rec)
			// A ref of the other webhook finds nothing.
			refs = append(refs, store.RecordRef{WebhookID: 15 - w, DeliveryID: did})
			want = append(want, nil)
		}
		route(t, b, rb)
		recs, err := b.st.RecordsOf(b.ctx, refs)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "records", recs, want)
		if _, err := b.st.Unrouted(b.ctx, es[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a routed event: %v, want ErrNotFound", err)
		}
	})
}
