package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/redistest"
)

// The storage layer's conformance suite: every test runs on the embedded
// server and on real Redis (mandatory under REQUIRE_REDIS=1) and checks
// each method's effect on what is stored, the scripts included, so that a
// difference between the two backends shows here and nowhere else.

type bundle struct {
	st  *store.Store
	rdb redis.UniversalClient
	p   string
	ctx context.Context
}

// cluster is the Redis Cluster the suite also runs on (TestMain starts it
// when redis-server is installed; under REQUIRE_REDIS=1 it must start).
var cluster *redistest.Cluster

func TestMain(m *testing.M) {
	c, err := redistest.NewCluster()
	switch {
	case err == nil:
		cluster = c
	case redistest.NoServer(err) && !redistest.Required():
	default:
		fmt.Fprintln(os.Stderr, "store tests: the Redis Cluster did not start:", err)
		os.Exit(1)
	}
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

// each runs f on the embedded server, on real Redis and on a 3-master
// Redis Cluster, each with a fresh prefix, on a store of one partition, so
// that the keys the bundle reads are the partition's (the layout of a
// deployment made before partitions). eachParts runs it with
// store.DefaultPartitions.
func each(t *testing.T, f func(t *testing.T, b bundle)) { eachN(t, 1, f) }

func eachParts(t *testing.T, f func(t *testing.T, b bundle)) { eachN(t, store.DefaultPartitions, f) }

func eachN(t *testing.T, parts int, f func(t *testing.T, b bundle)) {
	run := func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		st := store.NewPartitioned(rdb, prefix, parts)
		t.Cleanup(st.Close)
		ctx := context.Background()
		if err := st.EnsureGroups(ctx); err != nil {
			t.Fatal(err)
		}
		f(t, bundle{st: st, rdb: rdb, p: prefix, ctx: ctx})
	}
	redistest.Each(t, run)
	t.Run("cluster", func(t *testing.T) {
		if cluster == nil {
			t.Skip("no redis-server: the Redis Cluster run is skipped (REQUIRE_REDIS=1 makes this a failure)")
		}
		rdb := cluster.Client(t)
		prefix := redistest.Prefix()
		t.Cleanup(func() { redistest.Clean(rdb, prefix) })
		run(t, rdb, prefix)
	})
}

func (b bundle) get(t *testing.T, key string) string {
	t.Helper()
	v, err := b.rdb.Get(b.ctx, b.p+key).Result()
	if err == redis.Nil {
		return "<nil>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (b bundle) hget(t *testing.T, key, field string) string {
	t.Helper()
	v, err := b.rdb.HGet(b.ctx, b.p+key, field).Result()
	if err == redis.Nil {
		return "<nil>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (b bundle) xlen(t *testing.T, key string) int64 {
	t.Helper()
	n, err := b.rdb.XLen(b.ctx, b.p+key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (b bundle) pending(t *testing.T, key, group string) int64 {
	t.Helper()
	p, err := b.rdb.XPending(b.ctx, b.p+key, group).Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func TestEnqueueSnapshots(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		ev := func(id string, op store.AssetOp, asset, flags string) store.NewEvent {
			return store.NewEvent{ID: id, Type: "ASSET_ADDED", Envelope: []byte(`{"id":"` + id + `"}`),
				Asset: []byte(asset), AssetID: "u1", Op: op, Flags: []byte(flags)}
		}
		q, err := b.st.Enqueue(b.ctx, []store.NewEvent{
			ev("e1", store.AssetKeep, `{"uuid":"u1","v":1}`, ""),
			ev("e2", store.AssetStore, `{"markers":["m"],"uuid":"u1","v":2}`, `["m"]`),
			ev("e3", store.AssetKeep, `{"uuid":"u1","v":3}`, ""),
		}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "queued", q, []bool{true, true, true})
		diff(t, "snapshot with kept flags", b.get(t, ":asset:u1"), "[\"m\"]\n{\"uuid\":\"u1\",\"v\":3,\"markers\":[\"m\"]}")
		es, err := b.st.ReadEvents(b.ctx, "c", 10, -1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range es {
			if es[i].Order == "" || (i > 0 && es[i].Order <= es[i-1].Order) {
				t.Errorf("entry %d order %q after %q", i, es[i].Order, es[max(i-1, 0)].Order)
			}
			es[i].Entry, es[i].Order = "", ""
		}
		diff(t, "entries", es, []store.EventEntry{
			{ID: "e1", AssetID: "u1", Type: "ASSET_ADDED", Envelope: `{"id":"e1"}`, Asset: `{"uuid":"u1","v":1}`},
			{ID: "e2", AssetID: "u1", Type: "ASSET_ADDED", Envelope: `{"id":"e2"}`, Asset: `{"markers":["m"],"uuid":"u1","v":2}`, Old: `{"uuid":"u1","v":1}`},
			{ID: "e3", AssetID: "u1", Type: "ASSET_ADDED", Envelope: `{"id":"e3"}`, Asset: `{"uuid":"u1","v":3}`, Old: `{"markers":["m"],"uuid":"u1","v":2}`, Flags: `["m"]`},
		})
		snap, err := b.st.Snapshot(b.ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "Snapshot", string(snap), `{"uuid":"u1","v":3,"markers":["m"]}`)
		// Removal deletes the snapshot and reports the last one as old.
		if _, err := b.st.Enqueue(b.ctx, []store.NewEvent{ev("e4", store.AssetDelete, `{"uuid":"u1"}`, "")}, time.Hour); err != nil {
			t.Fatal(err)
		}
		diff(t, "snapshot after removal", b.get(t, ":asset:u1"), "<nil>")
		es, _ = b.st.ReadEvents(b.ctx, "c", 10, -1)
		diff(t, "old of the removal", es[0].Old, `{"uuid":"u1","v":3,"markers":["m"]}`)
	})
}

func TestEnqueueIdempotent(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		ev := store.NewEvent{ID: "dam-1", Idempotent: true, Type: "PROJECT_CREATED", Envelope: []byte(`{}`)}
		q1, err1 := b.st.Enqueue(b.ctx, []store.NewEvent{ev}, time.Hour)
		q2, err2 := b.st.Enqueue(b.ctx, []store.NewEvent{ev}, time.Hour)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		diff(t, "queued", [][]bool{q1, q2}, [][]bool{{true}, {false}})
		diff(t, "stream length", b.xlen(t, ":events"), int64(1))
		ttl, _ := b.rdb.TTL(b.ctx, b.p+":idem:dam-1").Result()
		if ttl <= 0 || ttl > time.Hour {
			t.Errorf("idempotency key TTL %s, want at most 1h", ttl)
		}
	})
}

// routeOne enqueues one event, reads it and routes it with one delivery.
func routeOne(t *testing.T, b bundle, id string) (*store.RouteBatch, store.EventEntry) {
	t.Helper()
	if _, err := b.st.Enqueue(b.ctx, []store.NewEvent{{ID: id, Type: "ASSET_ADDED", Envelope: []byte(`{}`)}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	es, err := b.st.ReadEvents(b.ctx, "router-1", 10, -1)
	if err != nil || len(es) != 1 {
		t.Fatalf("read: %v %v", es, err)
	}
	now := time.UnixMilli(1_700_000_000_000)
	rb := &store.RouteBatch{Consumer: "router-1", Entries: []string{es[0].Entry}, Minute: store.Minute(now),
		Retention: time.Hour, SetExpiry: true, SampleCap: 2,
		Events:     []store.StoredEvent{{Entry: es[0].Entry, ID: id, Value: []byte("body\n{}")}},
		Deliveries: []store.NewDelivery{{Entry: es[0].Entry, WebhookID: 7, DeliveryID: "d-" + id, Message: []byte(`{"d":"d-` + id + `"}`), Body: []byte("body"), Record: []byte(`{"status":"pending"}`), Created: now.UnixMilli()}},
		Samples:    []store.Sample{{Entry: es[0].Entry, Type: "ASSET_ADDED", Value: []byte(`{"id":"` + id + `"}`)}},
	}
	return rb, es[0]
}

func TestRouteOnce(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		rb, _ := routeOne(t, b, "e1")
		n, err := b.st.Route(b.ctx, rb)
		if err != nil || n != 1 {
			t.Fatalf("route: %d %v", n, err)
		}
		// The same batch again (a lost reply, a take-over): nothing twice.
		if n, err := b.st.Route(b.ctx, rb); err != nil || n != 0 {
			t.Fatalf("second route: %d %v, want 0", n, err)
		}
		diff(t, "events stream", []int64{b.xlen(t, ":events"), b.pending(t, ":events", store.GroupRouter)}, []int64{0, 0})
		diff(t, "deliveries stream", b.xlen(t, ":deliveries"), int64(1))
		diff(t, "qlen", b.hget(t, ":qlen", "7"), "1")
		diff(t, "record", b.hget(t, ":wh:7:rec", "d-e1"), `{"status":"pending"}`)
		ev, err := b.st.StoredEventAt(b.ctx, 0, "e1", time.UnixMilli(1_700_000_000_000))
		diff(t, "stored event", string(ev), "body\n{}")
		if err != nil {
			t.Fatal(err)
		}
		if ttl, _ := b.rdb.TTL(b.ctx, b.p+":evs:"+itoa(store.Minute(time.UnixMilli(1_700_000_000_000)))).Result(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("stored events TTL %s, want at most the retention", ttl)
		}
		samples, _ := b.st.Samples(b.ctx, "ASSET_ADDED", 5)
		diff(t, "samples", samples, []string{`{"id":"e1"}`})
		ds, err := b.st.ReadDeliveries(b.ctx, "w", 10, -1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("read delivery: %v %v", ds, err)
		}
		diff(t, "delivery entry", []string{ds[0].Message, ds[0].Body}, []string{`{"d":"d-e1"}`, "body"})
		recs, next, err := b.st.Records(b.ctx, 7, nil, 10)
		if err != nil || next != nil || len(recs) != 1 {
			t.Errorf("records: %d %v %v", len(recs), next, err)
		}
	})
}

func TestRouteTrimsIndex(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		for _, id := range []string{"e1", "e2", "e3"} {
			rb, _ := routeOne(t, b, id)
			rb.IndexCap = 2
			if _, err := b.st.Route(b.ctx, rb); err != nil {
				t.Fatal(err)
			}
		}
		n, _ := b.rdb.ZCard(b.ctx, b.p+":wh:7:dlv").Result()
		h, _ := b.rdb.HLen(b.ctx, b.p+":wh:7:rec").Result()
		diff(t, "index and records after trim", []int64{n, h}, []int64{2, 2})
		if _, _, err := b.st.Record(b.ctx, 7, "d-e1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("oldest record after trim: %v, want ErrNotFound", err)
		}
	})
}

// readyDelivery routes one delivery and reads it as worker consumer "w".
func readyDelivery(t *testing.T, b bundle, id string) store.DeliveryEntry {
	t.Helper()
	rb, _ := routeOne(t, b, id)
	if _, err := b.st.Route(b.ctx, rb); err != nil {
		t.Fatal(err)
	}
	ds, err := b.st.ReadDeliveries(b.ctx, "w", 10, -1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("read delivery: %v %v", ds, err)
	}
	return ds[0]
}

func TestCompleteOutcomes(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		now := time.UnixMilli(1_700_000_000_000)
		d1 := readyDelivery(t, b, "e1")
		d2 := readyDelivery(t, b, "e2")
		d3 := readyDelivery(t, b, "e3")
		res, err := b.st.Complete(b.ctx, "w", []store.Outcome{
			{Kind: store.Retry, Entry: d1.Entry, WebhookID: 7, DeliveryID: "d-e1", Record: []byte(`{"r":1}`), Latest: []byte(`"l1"`), Message: []byte(`{"a":1}`), Due: 5},
			{Kind: store.Snooze, Entry: d2.Entry, WebhookID: 7, DeliveryID: "d-e2", Message: []byte(`{"a":0}`), Due: 6},
			{Kind: store.Fail, Entry: d3.Entry, WebhookID: 7, DeliveryID: "d-e3", Record: []byte(`{"f":1}`), Latest: []byte(`"l3"`)},
		}, 10, now)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "results", res, []int64{0, 0, now.UnixMilli()}) // the last outcome of webhook 7 reports the first failure
		diff(t, "counters", []string{b.hget(t, ":qlen", "7"), b.hget(t, ":rlen", "7")}, []string{"1", "1"})
		diff(t, "retry messages", []string{b.hget(t, ":retry:msg", "d-e1"), b.hget(t, ":retry:msg", "d-e2")}, []string{`r{"a":1}`, `q{"a":0}`})
		diff(t, "latest", b.hget(t, ":latest", "7"), `"l3"`)
		diff(t, "records", []string{b.hget(t, ":wh:7:rec", "d-e1"), b.hget(t, ":wh:7:rec", "d-e3")}, []string{`{"r":1}`, `{"f":1}`})
		failed, _ := b.st.FailedLog(b.ctx, 7, 10)
		diff(t, "failed log", failed[store.PartOf(d3.Entry)], []string{`{"f":1}`})
		diff(t, "deliveries stream", []int64{b.xlen(t, ":deliveries"), b.pending(t, ":deliveries", store.GroupWorkers)}, []int64{0, 0})
		// Recorded twice: nothing moves the second time.
		res, err = b.st.Complete(b.ctx, "w", []store.Outcome{{Kind: store.OK, Entry: d3.Entry, WebhookID: 7, DeliveryID: "d-e3"}}, 10, now)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "second record", res, []int64{-1})
		diff(t, "counters after the duplicate", []string{b.hget(t, ":qlen", "7"), b.hget(t, ":rlen", "7")}, []string{"1", "1"})
		// Promotion brings both back, messages without their counter mark.
		n, _, err := b.st.Promote(b.ctx, time.UnixMilli(10), 100)
		if err != nil || n != 2 {
			t.Fatalf("promote: %d %v", n, err)
		}
		ds, _ := b.st.ReadDeliveries(b.ctx, "w", 10, -1)
		var msgs []string
		for _, d := range ds {
			msgs = append(msgs, d.Message)
		}
		diff(t, "promoted", msgs, []string{`{"a":1}`, `{"a":0}`})
		// A success after failures reports the recovery.
		res, _ = b.st.Complete(b.ctx, "w", []store.Outcome{{Kind: store.OK, Entry: ds[0].Entry, WebhookID: 7, DeliveryID: "d-e1", Retrying: true}}, 10, now)
		diff(t, "recovered", res, []int64{1})
		diff(t, "rlen after success", b.hget(t, ":rlen", "7"), "0")
	})
}

func TestAbortAndResend(t *testing.T) {
	eachN(t, 1, func(t *testing.T, b bundle) {
		now := time.UnixMilli(1_700_000_000_000)
		d := readyDelivery(t, b, "e1")
		if _, err := b.st.Complete(b.ctx, "w", []store.Outcome{{Kind: store.Retry, Entry: d.Entry, WebhookID: 7,
			DeliveryID: "d-e1", Message: []byte(`{}`), Due: now.UnixMilli() + 60000}}, 10, now); err != nil {
			t.Fatal(err)
		}
		waiting, _, err := b.st.Abort(b.ctx, 0, 7, "d-e1", []byte(`{"aborted":1}`), 10, now, time.Hour)
		if err != nil || !waiting {
			t.Fatalf("abort of a waiting delivery: %v %v", waiting, err)
		}
		diff(t, "after abort", []string{b.hget(t, ":rlen", "7"), b.hget(t, ":wh:7:rec", "d-e1")}, []string{"0", `{"aborted":1}`})
		// One in the stream gets a mark.
		readyDelivery(t, b, "e2")
		waiting, aborts, err := b.st.Abort(b.ctx, 0, 7, "d-e2", []byte(`{}`), 10, now, time.Hour)
		if err != nil || waiting || aborts != 1 {
			t.Fatalf("abort of a queued delivery: %v %d %v", waiting, aborts, err)
		}
		marks, _ := b.st.Aborted(b.ctx)
		diff(t, "marks", marks, []string{"d-e2"})
		if err := b.st.Resend(b.ctx, 0, 7, "d-e2", []byte(`{"m":true}`), []byte(`{"again":1}`)); err != nil {
			t.Fatal(err)
		}
		marks, _ = b.st.Aborted(b.ctx)
		_, aborts, _ = b.st.Revision(b.ctx)
		diff(t, "after resend", []any{len(marks), aborts, b.hget(t, ":rlen", "7")}, []any{0, int64(2), "1"})
	})
}

func TestDocuments(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		id, _ := b.st.NextWebhookID(b.ctx)
		if err := b.st.PutWebhook(b.ctx, id, []byte(`{"id":1}`)); err != nil {
			t.Fatal(err)
		}
		doc, _ := b.st.Webhook(b.ctx, id)
		all, _ := b.st.Webhooks(b.ctx)
		rev, _, _ := b.st.Revision(b.ctx)
		diff(t, "webhook", []any{id, string(doc), len(all), rev}, []any{int64(1), `{"id":1}`, 1, int64(1)})
		if err := b.st.DeleteWebhook(b.ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := b.st.DeleteWebhook(b.ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		if _, err := b.st.Webhook(b.ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get after delete: %v", err)
		}
		ok1, _ := b.st.CreateMarker(b.ctx, "m", []byte(`{}`))
		ok2, _ := b.st.CreateMarker(b.ctx, "m", []byte(`{}`))
		diff(t, "marker created once", []bool{ok1, ok2}, []bool{true, false})
		if err := b.st.UpdateMarker(b.ctx, "nope", []byte(`{}`)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing marker: %v", err)
		}
		ok1, _ = b.st.CreateProject(b.ctx, "p", []byte(`{}`))
		ok2, _ = b.st.CreateProject(b.ctx, "p", []byte(`{}`))
		exists, _ := b.st.ProjectExists(b.ctx, "p")
		diff(t, "project", []bool{ok1, ok2, exists}, []bool{true, false, true})
		if err := b.st.PutSnapshots(b.ctx, []store.SnapshotUpdate{{UUID: "u", Asset: []byte(`{"a":1}`), Flags: []byte(`["f"]`), HasFlags: true}}); err != nil {
			t.Fatal(err)
		}
		_ = b.st.PutSnapshots(b.ctx, []store.SnapshotUpdate{{UUID: "u", Asset: []byte(`{"a":2}`)}})
		diff(t, "snapshot keeps its flags", b.get(t, ":asset:u"), "[\"f\"]\n{\"a\":2}")
		got, _ := b.st.Snapshots(b.ctx, []string{"u", "missing"})
		diff(t, "snapshots", []string{string(got[0]), string(got[1])}, []string{`{"a":2}`, ""})
	})
}

func TestLocksAndClaims(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		ok1, _ := b.st.Lock(b.ctx, "x", "a", time.Minute)
		ok2, _ := b.st.Lock(b.ctx, "x", "b", time.Minute)
		_ = b.st.Unlock(b.ctx, "x", "b") // not b's: stays
		ok3, _ := b.st.Lock(b.ctx, "x", "c", time.Minute)
		_ = b.st.Unlock(b.ctx, "x", "a")
		ok4, _ := b.st.Lock(b.ctx, "x", "c", time.Minute)
		diff(t, "lock", []bool{ok1, ok2, ok3, ok4}, []bool{true, false, false, true})
		readyDelivery(t, b, "e1") // read by consumer "w"
		mine, next, err := b.st.OwnPendingDeliveries(b.ctx, "w", "0", 10)
		if err != nil || len(mine) != 1 || next == "" {
			t.Fatalf("own pending: %v %q %v", mine, next, err)
		}
		took, _, err := b.st.ClaimDeliveries(b.ctx, "other", 0, "0-0", 10)
		if err != nil || len(took) != 1 {
			t.Fatalf("claim: %v %v", took, err)
		}
		if err := b.st.Renew(b.ctx, "w", []string{took[0].Entry}); err != nil {
			t.Fatal(err)
		}
		mine, _, _ = b.st.OwnPendingDeliveries(b.ctx, "w", "0", 10)
		diff(t, "renewed back", len(mine), 1)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestTrimDeliveryIndexes(t *testing.T) {
	eachN(t, 1, func(t *testing.T, b bundle) {
		if err := b.st.PutWebhook(b.ctx, 7, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"old", "new"} {
			rb, _ := routeOne(t, b, id)
			rb.Deliveries[0].Created = int64(1000 * (i + 1))
			if _, err := b.st.Route(b.ctx, rb); err != nil {
				t.Fatal(err)
			}
		}
		n, err := b.st.TrimDeliveryIndexes(b.ctx, time.UnixMilli(1500))
		if err != nil || n != 1 {
			t.Fatalf("trim: %d %v, want 1", n, err)
		}
		diff(t, "records after trim", []string{b.hget(t, ":wh:7:rec", "d-old"), b.hget(t, ":wh:7:rec", "d-new")}, []string{"<nil>", `{"status":"pending"}`})
		left, _ := b.rdb.ZRange(b.ctx, b.p+":wh:7:dlv", 0, -1).Result()
		diff(t, "index after trim", left, []string{"d-new"})
	})
}
