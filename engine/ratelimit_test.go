package engine_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/redistest"
)

// arrivals is a receiver that notes when each request came, by webhook-id.
type arrivals struct {
	*httptest.Server
	mu   sync.Mutex
	at   []time.Time
	byID map[string]int
}

func newArrivals(t *testing.T) *arrivals {
	a := &arrivals{byID: map[string]int{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		a.at = append(a.at, time.Now())
		a.byID[r.Header.Get("webhook-id")]++
		a.mu.Unlock()
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *arrivals) count() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.at) }

// times returns the arrival times, sorted.
func (a *arrivals) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.at)
	slices.SortFunc(out, func(x, y time.Time) int { return x.Compare(y) })
	return out
}

// busiestSecond is the most arrivals within any window of one second,
// wherever it starts (windows start at an arrival: the count only changes
// there).
func busiestSecond(ts []time.Time) int {
	most, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

func limitedHook(t *testing.T, e *engine.Engine, name, url string, rate int) *engine.Webhook {
	t.Helper()
	c, err := actions.DecodeConfig(map[string]any{"http_url": url})
	if err != nil {
		t.Fatal(err)
	}
	w := &engine.Webhook{Name: name, Triggers: []string{"ASSET_ADDED"}, WebhookConfig: c}
	if rate > 0 {
		w.RateLimit = &rate
	}
	if err := e.Webhooks().Create(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

// figures returns a webhook's live figures.
func figures(t *testing.T, e *engine.Engine, id int64) engine.Stats {
	t.Helper()
	st, err := e.Webhooks().Stats(context.Background(), []int64{id})
	if err != nil {
		t.Fatal(err)
	}
	return st[id]
}

// rateSlack is what the load tests allow above a limit in any one-second
// window: the GCRA's own (Burst - 1, none for limits under 40/s) plus two
// for the scheduling between a grant and the receiver noting the arrival
// (goroutines, HTTP, the test's own clock).
func rateSlack(rate int) int { return store.Burst(rate) - 1 + 2 }

// TestRateLimitHolds: a limit of 20 attempts a second holds at the receiver
// over 200 events, with one process and with two sharing one Redis, while
// an unlimited webhook beside it gets every event at once. Every delivery
// is sent once, and none counts a throttled wait as an attempt.
func TestRateLimitHolds(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(map[int]string{1: "one process", 2: "two processes"}[procs], func(t *testing.T) {
			rdb, prefix := redistest.Open(t, redistest.Real)
			testRateLimitHolds(t, rdb, prefix, procs)
		})
	}
}

func testRateLimitHolds(t *testing.T, rdb redis.UniversalClient, prefix string, procs int) {
	const rate, n = 20, 200
	limited, free := newArrivals(t), newArrivals(t)
	var es []*engine.Engine
	for range procs {
		es = append(es, startEngine(t, rdb, prefix, engine.Config{}))
	}
	lw := limitedHook(t, es[0], "limited", limited.URL, rate)
	limitedHook(t, es[0], "free", free.URL, 0)
	for _, e := range es {
		if err := e.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := 0; i < n; i += 50 {
		if _, err := es[i/50%procs].Ingest(context.Background(), events(i, 50)); err != nil {
			t.Fatal(err)
		}
	}
	redistest.Eventually(t, 10*time.Second, func() bool { return free.count() == n }, "the unlimited webhook got all %d", n)
	freeDone := time.Since(start)
	redistest.Eventually(t, 30*time.Second, func() bool { return limited.count() == n }, "the limited webhook got all %d", n)
	waitDrained(t, rdb, prefix)
	ts := limited.times()
	took := ts[len(ts)-1].Sub(ts[0])
	busiest := busiestSecond(ts)
	t.Logf("%d process(es): %d deliveries at a limit of %d/s took %s (%.1f/s); busiest second %d; the unlimited webhook had all %d after %s",
		procs, n, rate, took.Round(time.Millisecond), float64(n-1)/took.Seconds(), busiest, n, freeDone.Round(time.Millisecond))
	if busiest > rate+rateSlack(rate) {
		t.Errorf("%d arrivals within one second, want at most %d (+%d)", busiest, rate, rateSlack(rate))
	}
	// 200 at 20/s cannot take much under 10 s; it should not take much more.
	if min, most := time.Duration(n-rate-rateSlack(rate))*time.Second/rate, 2*time.Duration(n)*time.Second/rate; took < min || took > most {
		t.Errorf("the limited deliveries took %s, want between %s and %s", took, min, most)
	}
	if freeDone > 3*time.Second {
		t.Errorf("the unlimited webhook took %s for %d events: slowed by its neighbour", freeDone, n)
	}
	limited.mu.Lock()
	for id, k := range limited.byID {
		if k != 1 {
			t.Errorf("%s: %d requests, want 1", id, k)
		}
	}
	limited.mu.Unlock()
	ds, err := es[0].Deliveries().List(context.Background(), lw.ID, "", 500, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Status != engine.StatusSucceeded || d.Attempts != 1 {
			t.Errorf("%s: %s after %d attempts, want succeeded after 1", d.ID, d.Status, d.Attempts)
		}
	}
	st := figures(t, es[0], lw.ID)
	if len(ds) != n || st.QueueLength != 0 || st.RetryQueueLength != 0 {
		t.Errorf("%d deliveries listed, queue_length %d, retry_queue_length %d; want %d, 0, 0", len(ds), st.QueueLength, st.RetryQueueLength, n)
	}
}

// TestRateLimitedWaitsAreNotAttempts: on both backends, deliveries that
// wait for a low limit are each attempted once, and the counters come back
// to zero.
func TestRateLimitedWaitsAreNotAttempts(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		const rate, n = 5, 12
		rc := newArrivals(t)
		e := startEngine(t, rdb, prefix, engine.Config{})
		w := limitedHook(t, e, "slow", rc.URL, rate)
		if _, err := e.Ingest(context.Background(), events(0, n)); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, 20*time.Second, func() bool { return rc.count() == n }, "all %d delivered (got %d)", n, rc)
		waitDrained(t, rdb, prefix)
		ds, err := e.Deliveries().List(context.Background(), w.ID, "", 100, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Status != engine.StatusSucceeded || d.Attempts != 1 {
				t.Errorf("%s: %s after %d attempts, want succeeded after 1", d.ID, d.Status, d.Attempts)
			}
		}
		if st := figures(t, e, w.ID); len(ds) != n || st.QueueLength != 0 || st.RetryQueueLength != 0 {
			t.Errorf("%d deliveries, queue_length %d, retry_queue_length %d; want %d, 0, 0", len(ds), st.QueueLength, st.RetryQueueLength, n)
		}
		if ts := rc.times(); busiestSecond(ts) > rate+rateSlack(rate) {
			t.Errorf("busiest second %d, want at most %d", busiestSecond(ts), rate+rateSlack(rate))
		}
	})
}

// TestRateLimitAfterAStall: a receiver that holds every request for a
// while, then answers them all at once, does not make the deliveries that
// waited behind them start together: the limit holds at its door
// throughout.
func TestRateLimitAfterAStall(t *testing.T) {
	rdb, prefix := redistest.Open(t, redistest.Real)
	const rate, n, stall = 10, 40, 2500 * time.Millisecond
	var mu sync.Mutex
	var at []time.Time
	var until time.Time // the receiver answers nothing before it
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now := time.Now()
		at = append(at, now)
		if until.IsZero() {
			until = now.Add(stall)
		}
		hold := until.Sub(now)
		mu.Unlock()
		select { // a receiver that stalls, not a synchronisation
		case <-time.After(hold):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(rc.Close)
	arrived := func() int { mu.Lock(); defer mu.Unlock(); return len(at) }
	e := startEngine(t, rdb, prefix, engine.Config{Workers: 64, PerWebhook: 8})
	limitedHook(t, e, "stalled", rc.URL, rate)
	if _, err := e.Ingest(context.Background(), events(0, n)); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 30*time.Second, func() bool { return arrived() == n }, "all %d arrived", n)
	mu.Lock()
	ts := slices.Clone(at)
	var during int
	for _, a := range ts {
		if a.Before(until) {
			during++
		}
	}
	mu.Unlock()
	slices.SortFunc(ts, func(x, y time.Time) int { return x.Compare(y) })
	t.Logf("after a stall of %s: %d arrivals at %d/s, %d during the stall, busiest second %d", stall, n, rate, during, busiestSecond(ts))
	if during != 8 {
		t.Errorf("%d requests arrived during the stall, want the lane's 8", during)
	}
	if b := busiestSecond(ts); b > rate+rateSlack(rate) {
		t.Errorf("%d arrivals within one second after the stall, want at most %d (+%d)", b, rate, rateSlack(rate))
	}
}
