package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/redistest"
)

// The listings, delivery control and trims of deliveries spread over
// partitions: every test here runs with 16 partitions on the embedded
// server, real Redis and the Redis Cluster.

// scanAll returns every key of the deployment (on every master of a
// cluster).
func scanAll(rdb redis.UniversalClient, prefix string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	scan := func(c redis.Cmdable) {
		iter := c.Scan(ctx, 0, store.KeyPattern(prefix), 1000).Iterator()
		for iter.Next(ctx) {
			out = append(out, iter.Val())
		}
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu = make(chan struct{}, 1)
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu <- struct{}{}
			defer func() { <-mu }()
			scan(c)
			return nil
		})
		return out
	}
	scan(rdb)
	return out
}

// cleanAll deletes every key of the deployment, every partition's.
func cleanAll(rdb redis.UniversalClient, prefix string) {
	for _, k := range scanAll(rdb, prefix) {
		rdb.Del(context.Background(), k)
	}
}

// sum adds up a counter field over every partition's hash named name
// (":qlen", ":rlen").
func (b bundle) sum(t *testing.T, name, field string) int64 {
	t.Helper()
	var n int64
	for _, k := range scanAll(b.rdb, b.p) {
		if !strings.HasSuffix(k, "}"+name) {
			continue
		}
		v, err := b.rdb.HGet(b.ctx, k, field).Result()
		if err == redis.Nil {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		x, _ := strconv.ParseInt(v, 10, 64)
		n += x
	}
	return n
}

func listedIDs(ls []store.Listed) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return out
}

// replayed is a delivery of webhook w for event ev in partition part,
// created at ms.
func replayed(w int64, part int, ev, id string, ms int64) store.Replayed {
	return store.Replayed{NewDelivery: store.NewDelivery{WebhookID: w, DeliveryID: id, Message: []byte(`{"d":"` + id + `"}`),
		Record: []byte(`{"id":"` + id + `"}`), Created: ms}, Part: part, EventID: ev, Event: []byte("body\n{}")}
}

// readAll reads every delivery the streams hold for consumer "w", waiting
// up to two seconds for the first.
func readAll(t *testing.T, b bundle) []store.DeliveryEntry {
	t.Helper()
	var out []store.DeliveryEntry
	deadline := time.Now().Add(2 * time.Second)
	for {
		ds, err := b.st.ReadDeliveries(b.ctx, "w", 1000, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ds...)
		if (len(ds) == 0 && len(out) > 0) || time.Now().After(deadline) {
			return out
		}
	}
}

// routeEvent enqueues one event (no asset) and routes it with one delivery
// for webhook 7, "d-<id>", as routeOne does, reading the event however long
// the reader takes to see it (up to two seconds).
func routeEvent(t *testing.T, b bundle, id string) {
	t.Helper()
	if _, err := b.st.Enqueue(b.ctx, []store.NewEvent{{ID: id, Type: "ASSET_ADDED", Envelope: []byte(`{}`)}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	var es []store.EventEntry
	for deadline := time.Now().Add(2 * time.Second); len(es) == 0 && time.Now().Before(deadline); {
		var err error
		if es, err = b.st.ReadEvents(b.ctx, "router-1", 10, 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if len(es) != 1 {
		t.Fatalf("read: %v", es)
	}
	now := time.UnixMilli(1_700_000_000_000)
	rb := &store.RouteBatch{Consumer: "router-1", Entries: []string{es[0].Entry}, Minute: store.Minute(now),
		Retention: time.Hour, SetExpiry: true,
		Events:     []store.StoredEvent{{Entry: es[0].Entry, ID: id, Value: []byte("body\n{}")}},
		Deliveries: []store.NewDelivery{{Entry: es[0].Entry, WebhookID: 7, DeliveryID: "d-" + id, Message: []byte(`{"d":"d-` + id + `"}`), Body: []byte("body"), Record: []byte(`{"status":"pending"}`), Created: now.UnixMilli()}},
	}
	if _, err := b.st.Route(b.ctx, rb); err != nil {
		t.Fatal(err)
	}
}

// eventOff0 returns the first event id "e<k>" (with no asset) whose
// partition is neither 0 nor one of avoid, and its partition.
func eventOff0(b bundle, avoid ...int) (string, int) {
	for k := 0; ; k++ {
		id := "e" + strconv.Itoa(k)
		p := b.st.Partition("", id)
		ok := p != 0
		for _, a := range avoid {
			ok = ok && p != a
		}
		if ok {
			return id, p
		}
	}
}

// TestRecordsAcrossPartitions: the listing of a webhook's deliveries
// spread over 16 partitions is one order, newest first, ties by id as one
// sorted set orders them (compared with a single ZREVRANGE over the same
// deliveries in a one-partition store), paged at any size without gaps or
// repeats, from any delivery (before), and the window listing is the same
// order reversed, bounded by the window.
func TestRecordsAcrossPartitions(t *testing.T) {
	eachN(t, 16, func(t *testing.T, b bundle) {
		var items []store.Replayed
		tags := []string{"A", "a", "B", "b", "b1", "b10", "b9", "Z", "z"}
		for i := range 90 {
			id := fmt.Sprintf("msg_%s-%d", tags[i%len(tags)], i%7)
			if i%len(tags) < 3 {
				id = fmt.Sprintf("msg_%s%d", tags[i%len(tags)], i)
			}
			items = append(items, replayed(7, (i*7)%16, "ev"+strconv.Itoa(i), id, 1000+int64(i/6)))
		}
		// The ids must be unique: a repeat would be one delivery.
		seen := map[string]bool{}
		uniq := items[:0]
		for _, it := range items {
			if !seen[it.DeliveryID] {
				seen[it.DeliveryID] = true
				uniq = append(uniq, it)
			}
		}
		items = uniq
		if made, err := b.st.Replay(b.ctx, 7, time.Now(), time.Hour, items); err != nil || len(made) != len(items) {
			t.Fatalf("replay: %v %v", made, err)
		}
		// The reference: the same deliveries in one partition, one sorted set.
		ref := store.NewPartitioned(b.rdb, redistest.Prefix(), 1)
		t.Cleanup(func() { ref.Close(); cleanAll(b.rdb, ref.Prefix()) })
		if _, err := ref.Replay(b.ctx, 7, time.Now(), time.Hour, items); err != nil {
			t.Fatal(err)
		}
		want, err := b.rdb.ZRevRange(b.ctx, ref.Prefix()+":wh:7:dlv", 0, -1).Result()
		if err != nil || len(want) != len(items) {
			t.Fatalf("reference: %d %v", len(want), err)
		}
		part := map[string]int{}
		for _, it := range items {
			part[it.DeliveryID] = it.Part
		}
		for _, n := range []int{1, 2, 5, 7, 16, 100} {
			var got []string
			var below *store.RecordPos
			for steps := 0; steps < 200; steps++ {
				recs, next, err := b.st.Records(b.ctx, 7, below, n)
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) > n {
					t.Fatalf("page of %d holds %d", n, len(recs))
				}
				for _, r := range recs {
					if r.Part != part[r.ID] || string(r.Record) != `{"id":"`+r.ID+`"}` {
						t.Errorf("%s: partition %d record %s, want %d", r.ID, r.Part, r.Record, part[r.ID])
					}
				}
				got = append(got, listedIDs(recs)...)
				if next == nil {
					break
				}
				below = next
			}
			diff(t, fmt.Sprintf("the listing in pages of %d", n), got, want)
		}
		// From a delivery on: what follows it.
		for _, k := range []int{0, 1, 5, 6, 7, 40, len(want) - 2, len(want) - 1} {
			pos, err := b.st.RecordPosOf(b.ctx, 7, want[k])
			if err != nil {
				t.Fatal(err)
			}
			recs, _, err := b.st.Records(b.ctx, 7, &pos, 4)
			if err != nil {
				t.Fatal(err)
			}
			diff(t, "below "+want[k], listedIDs(recs), append([]string{}, want[k+1:min(k+5, len(want))]...))
		}
		if _, err := b.st.RecordPosOf(b.ctx, 7, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("position of an unknown delivery: %v", err)
		}
		// The window [1003, 1008], oldest first, paged by 4.
		var window []string
		for i := len(want) - 1; i >= 0; i-- {
			for _, it := range items {
				if it.DeliveryID == want[i] && it.Created >= 1003 && it.Created <= 1008 {
					window = append(window, want[i])
				}
			}
		}
		var got []string
		var after *store.RecordPos
		for steps := 0; steps < 100; steps++ {
			recs, next, err := b.st.DeliveriesBetween(b.ctx, 7, time.UnixMilli(1003), time.UnixMilli(1008), after, 4)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, listedIDs(recs)...)
			if next == nil {
				break
			}
			after = next
		}
		diff(t, "the window", got, window)
	})
}

// TestDeliveryControlInPartitions: bring forward, abort (waiting and in
// the stream) and resend of deliveries in partitions other than 0 act in
// their partition, the marks staying global; a resent delivery reaches a
// waiting reader at once (the doorbell on a cluster).
func TestDeliveryControlInPartitions(t *testing.T) {
	eachN(t, 16, func(t *testing.T, b bundle) {
		now := time.UnixMilli(1_700_000_000_000)
		ev1, p1 := eventOff0(b)
		ev2, p2 := eventOff0(b, p1)
		routeEvent(t, b, ev1)
		ds := readAll(t, b)
		if len(ds) != 1 || store.PartOf(ds[0].Entry) != p1 {
			t.Fatalf("routed: %v, want one entry of partition %d", ds, p1)
		}
		d1 := "d-" + ev1
		if _, err := b.st.Complete(b.ctx, "w", []store.Outcome{{Kind: store.Retry, Entry: ds[0].Entry, WebhookID: 7,
			DeliveryID: d1, Message: []byte(`{}`), Due: now.UnixMilli() + 60000}}, 10, now); err != nil {
			t.Fatal(err)
		}
		wrong, _ := b.st.BringForward(b.ctx, 0, d1, now)
		right, err := b.st.BringForward(b.ctx, p1, d1, now)
		if err != nil || wrong || !right {
			t.Errorf("bring forward: in partition 0 %v, in %d %v (%v)", wrong, p1, right, err)
		}
		waiting, _, err := b.st.Abort(b.ctx, p1, 7, d1, []byte(`{"aborted":1}`), 10, now, time.Hour)
		if err != nil || !waiting {
			t.Fatalf("abort of a waiting delivery: %v %v", waiting, err)
		}
		rec, part, err := b.st.Record(b.ctx, 7, d1)
		failed, _ := b.st.FailedLog(b.ctx, 7, 10)
		diff(t, "after the abort", []any{string(rec), part, err, failed[p1], b.sum(t, ":rlen", "7")},
			[]any{`{"aborted":1}`, p1, nil, []string{`{"aborted":1}`}, int64(0)})

		// One in the stream gets a (global) mark; a resend drops it.
		routeEvent(t, b, ev2)
		ds = readAll(t, b)
		if len(ds) != 1 || store.PartOf(ds[0].Entry) != p2 {
			t.Fatalf("routed: %v, want one entry of partition %d", ds, p2)
		}
		d2 := "d-" + ev2
		waiting, aborts, err := b.st.Abort(b.ctx, p2, 7, d2, []byte(`{}`), 10, now, time.Hour)
		if err != nil || waiting || aborts != 1 {
			t.Fatalf("abort of a queued delivery: %v %d %v", waiting, aborts, err)
		}
		marks, _ := b.st.Aborted(b.ctx)
		diff(t, "marks", marks, []string{d2})
		// A read of every partition (no wait) leaves the wait flags; then a
		// reader waits, and the resend rings for it (whether it reaches its
		// wait before or after the ring).
		if ds, _ := b.st.ReadDeliveries(b.ctx, "w", 10, -1); len(ds) != 0 {
			t.Fatalf("nothing should be queued: %v", ds)
		}
		got := make(chan []store.DeliveryEntry, 1)
		go func() {
			ds, _ := b.st.ReadDeliveries(b.ctx, "w", 10, 3*time.Second)
			got <- ds
		}()
		start := time.Now()
		if err := b.st.Resend(b.ctx, p2, 7, d2, []byte(`{"m":true}`), []byte(`{"again":1}`)); err != nil {
			t.Fatal(err)
		}
		ds = <-got
		if took := time.Since(start); took > 900*time.Millisecond {
			t.Errorf("the resent delivery reached the waiting reader after %s", took)
		}
		if len(ds) != 1 || store.PartOf(ds[0].Entry) != p2 || ds[0].Message != `{"m":true}` {
			t.Errorf("resent: %v, want its message in partition %d", ds, p2)
		}
		marks, _ = b.st.Aborted(b.ctx)
		_, aborts, _ = b.st.Revision(b.ctx)
		rec, part, _ = b.st.Record(b.ctx, 7, d2)
		diff(t, "after resend", []any{len(marks), aborts, b.sum(t, ":rlen", "7"), string(rec), part},
			[]any{0, int64(2), int64(1), `{"again":1}`, p2})
	})
}

// TestWindowRequeueReplayInPartitions: a replay writes each delivery and
// its event in its event's partition, once; the window lists them all;
// a requeue queues each in its partition while its record is as read and
// drops only the marks of those it queued.
func TestWindowRequeueReplayInPartitions(t *testing.T) {
	eachN(t, 16, func(t *testing.T, b bundle) {
		now := time.UnixMilli(1_700_000_000_000)
		var items []store.Replayed
		for i := range 20 {
			ev := "ev" + strconv.Itoa(i)
			items = append(items, replayed(8, b.st.Partition("", ev), ev, "d-"+ev, now.UnixMilli()))
		}
		made, err := b.st.Replay(b.ctx, 8, now, time.Hour, items)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := b.st.Replay(b.ctx, 8, now, time.Hour, items)
		parts, ids, wrong := make([]int, len(items)), make([]string, len(items)), make([]int, len(items))
		perPart := map[int]int{}
		for i, it := range items {
			parts[i], ids[i], wrong[i] = it.Part, it.DeliveryID, (it.Part+1)%16
			perPart[it.Part]++
			if !made[i] || again[i] {
				t.Errorf("%s: made %v, again %v", it.DeliveryID, made[i], again[i])
			}
			if ev, err := b.st.StoredEventAt(b.ctx, it.Part, it.EventID, now); err != nil || string(ev) != "body\n{}" {
				t.Errorf("%s: stored event %q %v", it.EventID, ev, err)
			}
			if _, p, err := b.st.Record(b.ctx, 8, it.DeliveryID); err != nil || p != it.Part {
				t.Errorf("%s: record in %d (%v), want %d", it.DeliveryID, p, err, it.Part)
			}
		}
		if len(perPart) < 5 {
			t.Fatalf("the events fall in %d partitions only", len(perPart))
		}
		have, _ := b.st.HaveRecords(b.ctx, 8, parts, ids)
		elsewhere, _ := b.st.HaveRecords(b.ctx, 8, wrong, ids)
		for i := range ids {
			if !have[i] || elsewhere[i] {
				t.Errorf("%s: have %v, in another partition %v", ids[i], have[i], elsewhere[i])
			}
		}
		diff(t, "qlen", b.sum(t, ":qlen", "8"), int64(len(items)))
		counted := map[int]int{}
		for _, d := range readAll(t, b) {
			counted[store.PartOf(d.Entry)]++
		}
		diff(t, "stream entries by partition", counted, perPart)

		// The window: all of them, oldest first (one millisecond: by id).
		var listed []store.Listed
		var after *store.RecordPos
		for steps := 0; steps < 50; steps++ {
			recs, next, err := b.st.DeliveriesBetween(b.ctx, 8, now, now, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, recs...)
			if next == nil {
				break
			}
			after = next
		}
		sorted := append([]string{}, ids...)
		sort.Strings(sorted)
		diff(t, "the window", listedIDs(listed), sorted)

		// Marks on two; one of them read stale (not queued: its mark stays).
		for _, l := range listed[:2] {
			if _, _, err := b.st.Abort(b.ctx, l.Part, 8, l.ID, []byte(`{}`), 10, now, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		var req []store.Requeued
		for i, l := range listed {
			old := l.Record
			if i == 1 {
				old = []byte(`{"stale":1}`)
			}
			req = append(req, store.Requeued{Part: l.Part, DeliveryID: l.ID, Old: old,
				Message: []byte(`{"d":"` + l.ID + `","m":true}`), Record: []byte(`{"status":"retrying"}`)})
		}
		_, _ = b.st.ReadDeliveries(b.ctx, "w", 10, -1) // every partition: the wait flags
		got := make(chan []store.DeliveryEntry, 1)
		go func() {
			ds, _ := b.st.ReadDeliveries(b.ctx, "w", 1000, 3*time.Second)
			got <- ds
		}()
		start := time.Now()
		ok, err := b.st.Requeue(b.ctx, 8, req)
		if err != nil {
			t.Fatal(err)
		}
		if ds := <-got; len(ds) == 0 || time.Since(start) > 900*time.Millisecond {
			t.Errorf("requeued deliveries reached the waiting reader after %s (%d)", time.Since(start), len(ds))
		}
		for i, q := range ok {
			if q != (i != 1) {
				t.Errorf("%s queued %v", req[i].DeliveryID, q)
			}
		}
		marks, _ := b.st.Aborted(b.ctx)
		diff(t, "marks left", marks, []string{listed[1].ID})
		diff(t, "rlen", b.sum(t, ":rlen", "8"), int64(len(items)-1))
		rec, p, _ := b.st.Record(b.ctx, 8, listed[0].ID)
		diff(t, "requeued record", []any{string(rec), p}, []any{`{"status":"retrying"}`, listed[0].Part})
		ok, _ = b.st.Requeue(b.ctx, 8, req[:1])
		diff(t, "the same read again", ok, []bool{false})
	})
}

// TestTrimDeliveryIndexesPartitions: the trim drops the old deliveries of
// every partition's index.
func TestTrimDeliveryIndexesPartitions(t *testing.T) {
	eachN(t, 16, func(t *testing.T, b bundle) {
		if err := b.st.PutWebhook(b.ctx, 7, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		var items []store.Replayed
		var fresh []string
		for i := range 40 {
			ms := int64(1000)
			if i%2 == 1 {
				ms = 2000
			}
			id := fmt.Sprintf("d%02d", i)
			items = append(items, replayed(7, i%16, "ev"+id, id, ms))
			if ms == 2000 {
				fresh = append([]string{id}, fresh...)
			}
		}
		if _, err := b.st.Replay(b.ctx, 7, time.Now(), time.Hour, items); err != nil {
			t.Fatal(err)
		}
		n, err := b.st.TrimDeliveryIndexes(b.ctx, time.UnixMilli(1500))
		if err != nil || n != 20 {
			t.Fatalf("trim: %d %v, want 20", n, err)
		}
		recs, _, _ := b.st.Records(b.ctx, 7, nil, 100)
		diff(t, "left", listedIDs(recs), fresh)
		if _, _, err := b.st.Record(b.ctx, 7, "d00"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a trimmed record: %v", err)
		}
	})
}
