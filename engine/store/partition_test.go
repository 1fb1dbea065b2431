package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/redistest"
)

// The partitions: where keys go, that events of one asset stay in one
// partition in order, and that the hot path (ingest, read, route, complete,
// promote, take-over) works across partitions on every backend, the
// cluster's readers (polls, wait flags and the doorbell) included.

// TestPartitionsSpreadOverSlots: partition 0 keeps the deployment's own
// tag; the others each fall in their own stretch of the slot space, so a
// 3-master cluster holds at least a fifth of them on every master.
func TestPartitionsSpreadOverSlots(t *testing.T) {
	st := store.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), "{assethooks}")
	if st.Partitions() != store.DefaultPartitions || st.PartitionPrefix(0) != "{assethooks}" {
		t.Fatalf("partitions %d, partition 0 %q", st.Partitions(), st.PartitionPrefix(0))
	}
	seen := map[string]bool{}
	for i := range st.Partitions() {
		p := st.PartitionPrefix(i)
		if !strings.HasPrefix(p, "{assethooks") || !strings.HasSuffix(p, "}") || seen[p] {
			t.Errorf("partition %d prefix %q", i, p)
		}
		seen[p] = true
	}
	if cluster == nil {
		t.Skip("no redis-server: the share per master is checked on the cluster only")
	}
	cc := cluster.Client(t)
	ctx := context.Background()
	per := map[string]int{}
	for i := range st.Partitions() {
		m, err := cc.MasterForKey(ctx, st.PartitionPrefix(i)+":events")
		if err != nil {
			t.Fatal(err)
		}
		per[m.Options().Addr]++
	}
	if len(per) != 3 {
		t.Fatalf("partitions on %d masters, want 3: %v", len(per), per)
	}
	for m, n := range per {
		if n*5 < st.Partitions() {
			t.Errorf("master %s holds %d of %d partitions", m, n, st.Partitions())
		}
	}
	t.Logf("partitions per master: %v", per)
}

// manyAssets is n events, k per asset, in order of their sequence.
func manyAssets(n, k int) []store.NewEvent {
	out := make([]store.NewEvent, n)
	for i := range out {
		a := fmt.Sprintf("asset-%d", i/k)
		id := fmt.Sprintf("e%05d", i)
		out[i] = store.NewEvent{ID: id, Type: "ASSET_ADDED", Envelope: []byte(`{"id":"` + id + `"}`),
			Asset: []byte(`{"uuid":"` + a + `","seq":` + fmt.Sprint(i) + `}`), AssetID: a, Op: store.AssetStore, Flags: []byte("[]")}
	}
	return out
}

func TestEnqueueAcrossPartitions(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		evs := manyAssets(400, 4)
		// Two requests, the second with the first's last event again
		// (client ids are idempotent) and the rest.
		for i := range evs {
			evs[i].Idempotent = true
		}
		q1, err := b.st.Enqueue(b.ctx, evs[:200], time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		q2, err := b.st.Enqueue(b.ctx, evs[199:], time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for i, q := range append(q1, q2...) {
			if q != (i != 200) {
				t.Fatalf("queued[%d] = %v", i, q)
			}
		}
		got := readEventsN(t, b, "c", 400)
		parts := map[int]int{}
		byAsset := map[string][]store.EventEntry{}
		for _, e := range got {
			p := store.PartOf(e.Entry)
			parts[p]++
			if want := b.st.Partition(e.AssetID, e.ID); p != want {
				t.Errorf("%s of %s in partition %d, want %d", e.ID, e.AssetID, p, want)
			}
			byAsset[e.AssetID] = append(byAsset[e.AssetID], e)
		}
		if len(parts) != b.st.Partitions() {
			t.Errorf("events in %d partitions, want all %d: %v", len(parts), b.st.Partitions(), parts)
		}
		for a, es := range byAsset {
			for i := 1; i < len(es); i++ {
				if es[i].ID <= es[i-1].ID || es[i].Old != es[i-1].Asset {
					t.Errorf("%s: %s (old %s) after %s", a, es[i].ID, es[i].Old, es[i-1].ID)
				}
			}
		}
		// Snapshots are found in their partitions, one by one and together.
		snap, err := b.st.Snapshot(b.ctx, "asset-7")
		if err != nil || !strings.Contains(string(snap), `"seq":31`) {
			t.Errorf("Snapshot: %s %v", snap, err)
		}
		snaps, err := b.st.Snapshots(b.ctx, []string{"asset-0", "nobody", "asset-99"})
		if err != nil || !strings.Contains(string(snaps[0]), `"seq":3`) || snaps[1] != nil || !strings.Contains(string(snaps[2]), `"seq":399`) {
			t.Errorf("Snapshots: %q %v", snaps, err)
		}
	})
}

// TestHotPathAcrossPartitions routes, completes, retries and promotes
// deliveries of events in many partitions and checks the webhook's summed
// counters and what the streams hold at each step.
func TestHotPathAcrossPartitions(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		const n = 64
		if _, err := b.st.Enqueue(b.ctx, manyAssets(n, 1), time.Hour); err != nil {
			t.Fatal(err)
		}
		es := readEventsN(t, b, "r", n)
		now := time.UnixMilli(1_700_000_000_000)
		rb := &store.RouteBatch{Consumer: "r", Minute: store.Minute(now), Retention: time.Hour, Now: now, HistoryRetention: time.Hour}
		for _, e := range es {
			rb.Entries = append(rb.Entries, e.Entry)
			rb.Events = append(rb.Events, store.StoredEvent{Entry: e.Entry, ID: e.ID, Value: []byte("ev-" + e.ID)})
			rb.Deliveries = append(rb.Deliveries, store.NewDelivery{Entry: e.Entry, WebhookID: 7, DeliveryID: "d-" + e.ID,
				Message: []byte(`{"d":"d-` + e.ID + `"}`), Record: []byte(`{"status":"pending"}`), Created: now.UnixMilli()})
		}
		if got, err := b.st.Route(b.ctx, rb); err != nil || got != n {
			t.Fatalf("route: %d %v", got, err)
		}
		if got, err := b.st.Route(b.ctx, rb); err != nil || got != 0 {
			t.Fatalf("route again: %d %v, want 0", got, err)
		}
		figures := func() store.Figures {
			t.Helper()
			f, err := b.st.Figures(b.ctx, []int64{7})
			if err != nil {
				t.Fatal(err)
			}
			return f[7]
		}
		diff(t, "queued after routing", figures().Queued, int64(n))
		// Each delivery is read from its event's partition, its stored
		// event beside it.
		ds := readDeliveriesN(t, b, "w", n)
		parts := make([]int, n)
		ids := make([]string, n)
		at := make([]time.Time, n)
		for i, d := range ds {
			parts[i], at[i] = store.PartOf(d.Entry), now
			ids[i] = strings.TrimSuffix(strings.TrimPrefix(d.Message, `{"d":"d-`), `"}`)
		}
		vals, err := b.st.StoredEvents(b.ctx, parts, ids, at)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if string(v) != "ev-"+ids[i] {
				t.Errorf("stored event of %s: %q", ids[i], v)
			}
		}
		// Half succeed, half wait for a retry due at once.
		var outs []store.Outcome
		for i, d := range ds {
			o := store.Outcome{Kind: store.OK, Entry: d.Entry, WebhookID: 7, DeliveryID: "d-" + ids[i], Record: []byte(`{"status":"succeeded"}`)}
			if i%2 == 1 {
				o = store.Outcome{Kind: store.Retry, Entry: d.Entry, WebhookID: 7, DeliveryID: "d-" + ids[i],
					Record: []byte(`{"status":"retrying"}`), Message: []byte(`{"d":"d-` + ids[i] + `"}`), Due: now.UnixMilli()}
			}
			outs = append(outs, o)
		}
		res, err := b.st.Complete(b.ctx, "w", outs, 10, now)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r < 0 {
				t.Fatalf("outcome %d not recorded: %v", i, res)
			}
		}
		f := figures()
		diff(t, "after the outcomes", []int64{f.Queued, f.Retrying}, []int64{0, n / 2})
		if again, _ := b.st.Complete(b.ctx, "w", outs, 10, now); again[0] != -1 || again[n-1] != -1 {
			t.Errorf("outcomes recorded twice: %v", again)
		}
		q, w, err := b.st.Gauges(b.ctx)
		diff(t, "gauges", []any{q, w, err}, []any{int64(0), int64(n / 2), nil})
		moved, more, err := b.st.Promote(b.ctx, now, 1000)
		diff(t, "promoted", []any{moved, more, err}, []any{n / 2, false, nil})
		back := readDeliveriesN(t, b, "w2", n/2)
		// Renewed and taken over across partitions: a consumer that never
		// acknowledges loses them to another after the idle time.
		if err := b.st.Renew(b.ctx, "w2", []string{back[0].Entry, back[len(back)-1].Entry}); err != nil {
			t.Fatal(err)
		}
		var taken []store.DeliveryEntry
		for start := "0-0"; ; {
			got, next, err := b.st.ClaimDeliveries(b.ctx, "w3", 0, start, 10)
			if err != nil {
				t.Fatal(err)
			}
			taken = append(taken, got...)
			if next == "" {
				break
			}
			start = next
		}
		diff(t, "taken over", len(taken), n/2)
		var own []store.DeliveryEntry
		for start := "0"; ; {
			got, next, err := b.st.OwnPendingDeliveries(b.ctx, "w3", start, 7)
			if err != nil {
				t.Fatal(err)
			}
			if next == "" {
				break
			}
			own = append(own, got...)
			start = next
		}
		entries := func(ds []store.DeliveryEntry) []string {
			out := make([]string, len(ds))
			for i, d := range ds {
				out[i] = d.Entry
			}
			sort.Strings(out)
			return out
		}
		diff(t, "own pending of the new holder", entries(own), entries(taken))
	})
}

// TestClusterReaderWakes: on a cluster a reader with nothing to read sleeps
// on the doorbell and wakes when an event arrives in any partition, well
// before its block time; the same on a single Redis with a blocking read.
func TestClusterReaderWakes(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		if _, ok := b.rdb.(interface{ Pipeline() redis.Pipeliner }); !ok {
			t.Fatal("no pipeline")
		}
		for _, asset := range []string{"a", "b", "c", "d", "e"} {
			got := make(chan time.Duration, 1)
			go func() {
				start := time.Now()
				es, err := b.st.ReadEvents(b.ctx, "sleeper", 10, 10*time.Second)
				if err != nil || len(es) != 1 {
					t.Errorf("read: %v %v", es, err)
				}
				got <- time.Since(start)
			}()
			// Let the reader reach its wait: the wait flags it leaves show
			// it (on a cluster); on a single Redis the read blocks at once.
			redistest.Eventually(t, 5*time.Second, func() bool { return sleeping(b) }, "reader asleep")
			if _, err := b.st.Enqueue(b.ctx, []store.NewEvent{{ID: "e-" + asset, Type: "ASSET_ADDED", Envelope: []byte(`{}`),
				Asset: []byte(`{}`), AssetID: asset, Op: store.AssetStore}}, time.Hour); err != nil {
				t.Fatal(err)
			}
			if d := <-got; d > 5*time.Second {
				t.Errorf("asset %s: the reader woke after %s", asset, d)
			}
		}
	})
}

// sleeping reports whether a reader waits: on a cluster, every
// partition's events wait flag is set; elsewhere, a client is blocked.
func sleeping(b bundle) bool {
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		for i := range b.st.Partitions() {
			if n, _ := cc.Exists(b.ctx, b.st.PartitionPrefix(i)+":wait:e").Result(); n != 1 {
				return false
			}
		}
		return true
	}
	info, err := b.rdb.Info(b.ctx, "clients").Result()
	if err != nil {
		return true // the embedded server has no INFO clients: its read blocks at once
	}
	return !strings.Contains(info, "blocked_clients:0\r")
}

// TestHistoryCapShared: with several partitions each keeps its share of
// the history's cap (rounded up), the newest of its own, so the history
// holds at most about the cap in all.
func TestHistoryCapShared(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		const n, limit = 200, 32
		if _, err := b.st.Enqueue(b.ctx, manyAssets(n, 1), time.Hour); err != nil {
			t.Fatal(err)
		}
		es := readEventsN(t, b, "r", n)
		now := time.Now()
		for i := 0; i < n; i += 50 {
			rb := &store.RouteBatch{Consumer: "r", Minute: store.Minute(now), Retention: time.Hour, Now: now,
				HistoryCap: limit, HistoryRetention: time.Hour}
			for _, e := range es[i : i+50] {
				rb.Entries = append(rb.Entries, e.Entry)
				rb.History = append(rb.History, store.HistoryEvent{Entry: e.Entry, Order: e.Order, ID: e.ID, Type: e.Type,
					AssetID: e.AssetID, Trace: []byte("t"), Event: []byte(`{}`)})
			}
			if _, err := b.st.Route(b.ctx, rb); err != nil {
				t.Fatal(err)
			}
		}
		total, err := b.st.HistoryLen(b.ctx)
		if err != nil || total > limit || total < limit/2 {
			t.Errorf("history holds %d (%v), want at most %d and about that", total, err, limit)
		}
		newest, err := b.st.History(b.ctx, store.HistoryQuery{Limit: 1})
		if err != nil || len(newest) != 1 || newest[0].ID != "e00199" {
			t.Errorf("newest kept: %+v %v", newest, err)
		}
	})
}

// TestScansAndSamplesAcrossPartitions: a schedule's snapshot walk finds
// every asset of every partition exactly once (on a cluster, master after
// master), the since() records and PutSnapshots land in the asset's
// partition, and the samples of a type merge newest first.
func TestScansAndSamplesAcrossPartitions(t *testing.T) {
	eachParts(t, func(t *testing.T, b bundle) {
		const n = 300
		if _, err := b.st.Enqueue(b.ctx, manyAssets(n, 1), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := b.st.PutSnapshots(b.ctx, []store.SnapshotUpdate{{UUID: "asset-3", Asset: []byte(`{"uuid":"asset-3","put":1}`)},
			{UUID: "extra", Asset: []byte(`{"uuid":"extra"}`), Flags: []byte(`["m"]`), HasFlags: true}}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for cursor, steps := uint64(0), 0; ; steps++ {
			got, next, err := b.st.ScanSnapshots(b.ctx, cursor, 50)
			if err != nil {
				t.Fatal(err)
			}
			for u := range got {
				seen[u]++
			}
			if next == 0 || steps > 10000 {
				break
			}
			cursor = next
		}
		if len(seen) != n+1 || seen["extra"] != 1 {
			t.Errorf("scan found %d assets, want %d", len(seen), n+1)
		}
		for u, c := range seen {
			if c > 2 { // SCAN may return a key twice while Redis resizes
				t.Errorf("%s seen %d times", u, c)
			}
		}
		snap, err := b.st.Snapshot(b.ctx, "asset-3")
		if err != nil || string(snap) != `{"uuid":"asset-3","put":1}` {
			t.Errorf("put snapshot: %s %v", snap, err)
		}
		at := time.UnixMilli(1_700_000_000_000)
		if err := b.st.WriteSince(b.ctx, []store.SinceUpdate{{UUID: "asset-5", At: at.UnixMilli(), Paths: []string{"meta.x"}}}); err != nil {
			t.Fatal(err)
		}
		if err := b.st.MarkFirstSeen(b.ctx, []string{"asset-6"}, at); err != nil {
			t.Fatal(err)
		}
		times, err := b.st.SinceTimes(b.ctx, []string{"asset-5", "asset-6", "asset-7"}, []string{"meta.x"})
		if err != nil || times[0]["meta.x"] != at.UnixMilli() || times[1][store.SinceFirstSeen] != at.UnixMilli() || times[2] != nil {
			t.Errorf("since times: %v %v", times, err)
		}
		pp := b.st.PartitionPrefix(b.st.Partition("asset-5", ""))
		if n, _ := b.rdb.Exists(b.ctx, pp+":since:asset-5").Result(); n != 1 {
			t.Errorf("since record not in the asset's partition %s", pp)
		}
		// Samples: routed in two batches of events of many partitions.
		es := readEventsN(t, b, "r", n)
		sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
		now := time.Now()
		for i := 0; i < 40; i += 20 {
			rb := &store.RouteBatch{Consumer: "r", Minute: store.Minute(now), Retention: time.Hour, Now: now, SampleCap: 3}
			for _, e := range es[i : i+20] {
				rb.Entries = append(rb.Entries, e.Entry)
				rb.Samples = append(rb.Samples, store.Sample{Entry: e.Entry, Order: e.Order, Type: e.Type, Value: []byte(e.ID)})
			}
			if _, err := b.st.Route(b.ctx, rb); err != nil {
				t.Fatal(err)
			}
		}
		samples, err := b.st.Samples(b.ctx, "ASSET_ADDED", 3)
		diff(t, "newest samples", []any{samples, err}, []any{[]string{"e00039", "e00038", "e00037"}, nil})
	})
}

// readEventsN reads n new events of every partition as consumer, in the
// order the reads return them.
func readEventsN(t *testing.T, b bundle, consumer string, n int) []store.EventEntry {
	t.Helper()
	return readN(t, n, func() ([]store.EventEntry, error) { return b.st.ReadEvents(b.ctx, consumer, n, time.Second) })
}

// readDeliveriesN reads n new deliveries of every partition as consumer.
func readDeliveriesN(t *testing.T, b bundle, consumer string, n int) []store.DeliveryEntry {
	t.Helper()
	return readN(t, n, func() ([]store.DeliveryEntry, error) { return b.st.ReadDeliveries(b.ctx, consumer, n, time.Second) })
}

func readN[E any](t *testing.T, n int, read func() ([]E, error)) []E {
	t.Helper()
	var out []E
	for len(out) < n {
		got, err := read()
		if err != nil || len(got) == 0 {
			t.Fatalf("read %d of %d: %v", len(out), n, err)
		}
		out = append(out, got...)
	}
	return out
}

// TestCheckPartitions: the first process records the number of partitions;
// one started with another number is refused, with what to do.
func TestCheckPartitions(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		sixteen := store.NewPartitioned(b.rdb, b.p, 16)
		if err := sixteen.CheckPartitions(b.ctx); err != nil {
			t.Fatal(err)
		}
		if err := store.NewPartitioned(b.rdb, b.p, 16).CheckPartitions(b.ctx); err != nil {
			t.Errorf("the same number again: %v", err)
		}
		err := store.NewPartitioned(b.rdb, b.p, 8).CheckPartitions(b.ctx)
		if !errors.Is(err, store.ErrPartitions) || !strings.Contains(err.Error(), "this process has 8, the deployment") {
			t.Errorf("another number: %v", err)
		}
	})
}
