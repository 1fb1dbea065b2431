package engine_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/internal/secret"
)

// startEngine starts one engine (one "process") on rdb and prefix.
func startEngine(t *testing.T, rdb redis.UniversalClient, prefix string, cfg engine.Config) *engine.Engine {
	t.Helper()
	box, err := secret.NewBox("test-secret-key-0123456789abcdef-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Box = box
	cfg.Actions = actions.Options{AllowPrivate: true, Version: "test", Transport: cfg.Actions.Transport}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.New(store.New(rdb, prefix), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// tally is a receiver counting requests per webhook-id; fail decides, per
// request, to answer 500 instead of 200.
type tally struct {
	*httptest.Server
	mu   sync.Mutex
	n    map[string]int
	at   map[string]time.Time
	fail func(id string, attempt string) bool
	hold time.Duration
}

func newTally(t *testing.T) *tally {
	tl := &tally{n: map[string]int{}, at: map[string]time.Time{}}
	tl.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := r.Header.Get("webhook-id")
		if tl.hold > 0 {
			select { // a receiver that answers too late, not a synchronisation
			case <-time.After(tl.hold):
			case <-r.Context().Done():
			}
		}
		tl.mu.Lock()
		tl.n[id]++
		if _, ok := tl.at[id]; !ok {
			tl.at[id] = time.Now()
		}
		tl.mu.Unlock()
		if tl.fail != nil && tl.fail(id, r.Header.Get("X-Assethooks-Attempt")) {
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(tl.Close)
	return tl
}

func (tl *tally) sum() (ids, requests int) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, n := range tl.n {
		requests += n
	}
	return len(tl.n), requests
}

func hookOn(t *testing.T, e *engine.Engine, name, url string, schedule []string, timeout int) *engine.Webhook {
	t.Helper()
	c, err := actions.DecodeConfig(map[string]any{"http_url": url, "timeout_seconds": timeout})
	if err != nil {
		t.Fatal(err)
	}
	w := &engine.Webhook{Name: name, Triggers: []string{"ASSET_ADDED"}, RetrySchedule: schedule, WebhookConfig: c}
	if err := e.Webhooks().Create(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

func events(from, n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = &event.Event{Type: "ASSET_ADDED", Asset: map[string]any{"uuid": fmt.Sprintf("a-%d", from+i)}}
	}
	return evs
}

// TestThreeProcesses: three engines on one Redis deliver 10,000 events, each
// exactly once; one delivery in ten fails its first try, and promotion
// (raced for by all three) brings each of those back exactly once.
func TestThreeProcesses(t *testing.T) {
	rdb, prefix := redistest.Open(t, redistest.Real)
	rc := newTally(t)
	rc.fail = func(id, attempt string) bool { return attempt == "1" && failsFirst(id) }
	cfg := engine.Config{Workers: 32}
	es := []*engine.Engine{startEngine(t, rdb, prefix, cfg), startEngine(t, rdb, prefix, cfg), startEngine(t, rdb, prefix, cfg)}
	hookOn(t, es[0], "three", rc.URL, []string{"1s"}, 10)
	for _, e := range es {
		if err := e.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	const n = 10000
	for i := 0; i < n; i += 500 {
		if _, err := es[i/500%3].Ingest(context.Background(), events(i, 500)); err != nil {
			t.Fatal(err)
		}
	}
	redistest.Eventually(t, 120*time.Second, func() bool { ids, _ := rc.sum(); return ids == n }, "all %d delivered", n)
	// Once the streams (read or not), the pending lists and the retry set are empty,
	// nothing more can arrive: count then.
	waitDrained(t, rdb, prefix)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var failedFirst int
	for id, got := range rc.n {
		want := 1
		if failsFirst(id) {
			want, failedFirst = 2, failedFirst+1
		}
		if got != want {
			t.Errorf("%s: %d requests, want %d", id, got, want)
		}
	}
	t.Logf("three processes: %d deliveries, %d retried once", len(rc.n), failedFirst)
}

// failsFirst picks one delivery in ten, by its id, to fail its first try.
func failsFirst(id string) bool { return crc32.ChecksumIEEE([]byte(id))%10 == 0 }

// TestIsolation: with one receiver that answers after its timeout, every
// time, deliveries to a healthy receiver keep a p99 latency under a second
// at 500 events a second (both webhooks get every event).
func TestIsolation(t *testing.T) {
	rdb, prefix := redistest.Open(t, redistest.Real)
	healthy, hanging := newTally(t), newTally(t)
	hanging.hold = 1500 * time.Millisecond
	e := startEngine(t, rdb, prefix, engine.Config{})
	hookOn(t, e, "hanging", hanging.URL, []string{"1h"}, 1)
	good := hookOn(t, e, "healthy", healthy.URL, nil, 10)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	const rate, secs = 500, 5
	lat := paced(t, e, healthy, good.ID, rate, secs)
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	hung, _ := hanging.sum()
	t.Logf("isolation: %d deliveries to the healthy receiver at %d/s: p50 %s, p99 %s, max %s; the hanging one took %d tries",
		len(lat), rate, p50.Round(time.Microsecond), p99.Round(time.Microsecond), worst.Round(time.Microsecond), hung)
	if p99 >= time.Second {
		t.Errorf("p99 %s, want under 1s", p99)
	}
}

// TestGracefulStop: Stop lets running attempts finish and be recorded and
// puts waiting deliveries back in Redis; nothing stays pending in the
// stopped engine's name, and a second engine delivers the rest.
func TestGracefulStop(t *testing.T) {
	redistest.Each(t, testGracefulStop)
}

func testGracefulStop(t *testing.T, rdb redis.UniversalClient, prefix string) {
	gate := make(chan struct{})
	var mu sync.Mutex
	got := map[string]int{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
		<-gate
	}))
	t.Cleanup(rc.Close)
	arrived := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	a := startEngine(t, rdb, prefix, engine.Config{PerWebhook: 2, Backlog: 100})
	hookOn(t, a, "slow", rc.URL, nil, 10)
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 20
	if _, err := a.Ingest(context.Background(), events(0, n)); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 30*time.Second, func() bool { return arrived() == 2 }, "two running")
	stopped := make(chan struct{})
	go func() { a.Stop(); close(stopped) }()
	close(gate)
	<-stopped
	ctx := context.Background()
	for _, pp := range partPrefixes(rdb, prefix) {
		p, err := rdb.XPending(ctx, pp+":deliveries", "workers").Result()
		if err != nil || p.Count != 0 {
			t.Fatalf("after Stop: %v pending deliveries (%v)", p, err)
		}
	}
	startEngine(t, rdb, prefix, engine.Config{})
	redistest.Eventually(t, 20*time.Second, func() bool { return arrived() == n }, "all %d delivered by the second engine", n)
}

// TestStreamsLost: when Redis loses the streams and their groups (a restart
// without persistence), the router and the workers recreate the groups and
// go on by themselves.
func TestStreamsLost(t *testing.T) {
	redistest.Each(t, testStreamsLost)
}

func testStreamsLost(t *testing.T, rdb redis.UniversalClient, prefix string) {
	rc := newTally(t)
	e := startEngine(t, rdb, prefix, engine.Config{})
	hookOn(t, e, "sink", rc.URL, nil, 10)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Ingest(context.Background(), events(0, 1)); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 30*time.Second, func() bool { ids, _ := rc.sum(); return ids == 1 }, "first delivered")
	for _, pp := range partPrefixes(rdb, prefix) {
		if err := rdb.Del(context.Background(), pp+":events", pp+":deliveries").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Ingest(context.Background(), events(1, 10)); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 30*time.Second, func() bool { ids, _ := rc.sum(); return ids == 11 }, "delivered after the groups were lost")
}
