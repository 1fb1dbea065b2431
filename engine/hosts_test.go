package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// TestHostBudget: thirty webhooks pointing at one hanging host share one
// budget, so a healthy host beside them keeps a p99 under a second at 100
// events a second (every webhook gets every event: 3,000 hanging
// deliveries a second). Without the budget the thirty lanes would hold
// every worker.
func TestHostBudget(t *testing.T) {
	rdb, prefix := redistest.Open(t, redistest.Real)
	healthy := newTally(t)
	hanging := newPeak(t, 1500*time.Millisecond)
	sends := newInflight()
	e := startEngine(t, rdb, prefix, engine.Config{Actions: actions.Options{Transport: sends}})
	for i := range 30 {
		hookOn(t, e, fmt.Sprintf("hanging-%d", i), fmt.Sprintf("%s/hook/%d", hanging.URL, i), []string{"1h"}, 1)
	}
	good := hookOn(t, e, "healthy", healthy.URL, nil, 10)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	lat := paced(t, e, healthy, good.ID, 100, 5)
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	tries, most := hanging.tries.Load(), sends.peak(hanging.URL)
	cfg := e.Config()
	t.Logf("host budget: %d deliveries to the healthy host at 100/s beside 30 webhooks to a hanging one: p50 %s, p99 %s, max %s; "+
		"the hanging host got %d tries, at most %d at once (budget starts at %d of %d workers)",
		len(lat), p50.Round(time.Microsecond), p99.Round(time.Microsecond), worst.Round(time.Microsecond),
		tries, most, cfg.PerWebhook, cfg.Workers)
	if p99 >= time.Second {
		t.Errorf("p99 %s, want under 1s", p99)
	}
	if most > cfg.PerWebhook {
		t.Errorf("the hanging host was sent %d requests at once, want at most its budget %d", most, cfg.PerWebhook)
	}
}

// inflight is a transport that notes how many requests it has sent at
// once to each host, loopback only.
type inflight struct {
	rt       http.RoundTripper
	mu       sync.Mutex
	now, top map[string]int
}

func newInflight() *inflight {
	return &inflight{rt: apitest.LoopbackOnly(), now: map[string]int{}, top: map[string]int{}}
}

func (c *inflight) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.now[r.URL.Host]++
	c.top[r.URL.Host] = max(c.top[r.URL.Host], c.now[r.URL.Host])
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.now[r.URL.Host]--; c.mu.Unlock() }()
	return c.rt.RoundTrip(r)
}

// peak is the most requests sent at once to the host of url.
func (c *inflight) peak(url string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.top[strings.TrimPrefix(url, "http://")]
}

// peak is a receiver that answers after hold and notes how many requests
// it held at once.
type peak struct {
	*httptest.Server
	tries, now, most atomic.Int64
}

func newPeak(t *testing.T, hold time.Duration) *peak {
	p := &peak{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.now.Add(1)
		for m := p.most.Load(); n > m && !p.most.CompareAndSwap(m, n); m = p.most.Load() {
		}
		select { // a receiver that answers late, not a synchronisation
		case <-time.After(hold):
		case <-r.Context().Done():
		}
		p.now.Add(-1)
		p.tries.Add(1)
	}))
	t.Cleanup(p.Close)
	return p
}

// paced ingests rate events a second for secs seconds and returns the
// latencies, sorted, from each event's acceptance to its arrival at rc for
// webhook hook.
func paced(t *testing.T, e *engine.Engine, rc *tally, hook int64, rate, secs int) []time.Duration {
	t.Helper()
	const tick = 20 * time.Millisecond
	perTick := rate * int(tick) / int(time.Second)
	sent := map[string]time.Time{} // event id → accepted
	tk := time.NewTicker(tick)
	for i := 0; i < rate*secs; i += perTick {
		<-tk.C
		at := time.Now()
		ids, err := e.Ingest(context.Background(), events(i, perTick))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			sent[id] = at
		}
	}
	tk.Stop()
	redistest.Eventually(t, 20*time.Second, func() bool { ids, _ := rc.sum(); return ids == len(sent) },
		"the healthy receiver got all %d", len(sent))
	var lat []time.Duration
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for evID, at := range sent {
		got, ok := rc.at[engine.DeliveryID(evID, hook)]
		if !ok {
			t.Fatalf("no arrival recorded for %s", evID)
		}
		lat = append(lat, got.Sub(at))
	}
	slices.Sort(lat)
	return lat
}

// TestHostShared: on both backends, webhooks to one host share its budget
// (never more requests at once than PerWebhook while it answers slowly),
// and every delivery still arrives, each once.
func TestHostShared(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		rc := newPeak(t, 300*time.Millisecond) // slower than fastAttempt
		sends := newInflight()
		e := startEngine(t, rdb, prefix, engine.Config{Workers: 64, PerWebhook: 4, Actions: actions.Options{Transport: sends}})
		for i := range 5 {
			hookOn(t, e, fmt.Sprintf("w%d", i), fmt.Sprintf("%s/%d", rc.URL, i), nil, 10)
		}
		if _, err := e.Ingest(context.Background(), events(0, 8)); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, 30*time.Second, func() bool { return rc.tries.Load() == 40 }, "all 40 delivered")
		waitDrained(t, rdb, prefix)
		if most := sends.peak(rc.URL); most > 4 || most < 2 {
			t.Errorf("five webhooks sent %d requests at once to one slow host, want its budget of 4 at most (and some at once)", most)
		}
	})
}
