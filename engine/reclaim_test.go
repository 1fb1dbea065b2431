package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/internal/secret"
	"github.com/assethooks/assethooks/rules"
)

// idReceiver records the webhook-id of every request it answers with 200.
type idReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	ids []string
}

func newIDReceiver(t *testing.T) *idReceiver {
	rc := &idReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rc.mu.Lock()
		rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *idReceiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.ids...)
}

// newTestEngine builds an engine on rdb and prefix with a short take-over
// delay; it is not started.
func newTestEngine(t *testing.T, rdb redis.UniversalClient, prefix string, cfg Config) *Engine {
	t.Helper()
	box, err := secret.NewBox("test-secret-key-0123456789abcdef-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Box = box
	cfg.Actions = actions.Options{AllowPrivate: true, Version: "test"}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e, err := New(store.New(rdb, prefix), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

func createHook(t *testing.T, e *Engine, url string) *Webhook {
	t.Helper()
	c, err := actions.DecodeConfig(map[string]any{"http_url": url})
	if err != nil {
		t.Fatal(err)
	}
	w := &Webhook{Name: "reclaim", Triggers: []string{"ASSET_ADDED"}, WebhookConfig: c}
	if err := e.Webhooks().Create(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestReclaimUnacknowledged plays a process that died between read and
// ack, once as the router (an event) and once as a worker (a delivery): the
// survivor's reclaimer takes both over after ClaimIdle and delivers them
// with the webhook-id derived from the event, as the dead one would have.
func TestReclaimUnacknowledged(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		rc := newIDReceiver(t)
		e := newTestEngine(t, rdb, prefix, Config{ClaimIdle: 500 * time.Millisecond})
		if err := e.st.EnsureGroups(ctx); err != nil {
			t.Fatal(err)
		}
		w := createHook(t, e, rc.URL)
		if err := e.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		asset := func(id string) map[string]any { return map[string]any{"uuid": id} }
		// Two assets of one partition, so that each read takes one event.
		part := e.st.Partition("a1", "")
		second := "a2"
		for i := 2; e.st.Partition(second, "") != part; i++ {
			second = fmt.Sprintf("a%d", i)
		}
		pp := e.st.PartitionPrefix(part)
		ids, err := e.Ingest(ctx, []*event.Event{
			{Type: "ASSET_ADDED", Asset: asset("a1")},
			{Type: "ASSET_ADDED", Asset: asset(second)},
		})
		if err != nil {
			t.Fatal(err)
		}
		readEvent := func(consumer string) []store.EventEntry {
			es, err := e.st.ReadEvents(ctx, consumer, 1, -1)
			if err != nil || len(es) != 1 {
				t.Fatalf("read an event as %s: %v %v", consumer, es, err)
			}
			return es
		}
		// The dead router read the first event and never routed it.
		readEvent("dead-router")
		// A live router routed the second; the dead worker read its delivery.
		e.route(ctx, rules.NewEvaluator(), readEvent("helper"))
		if ds, err := e.st.ReadDeliveries(ctx, "dead-worker", 1, -1); err != nil || len(ds) != 1 {
			t.Fatalf("read a delivery as dead-worker: %v %v", ds, err)
		}

		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{deliveryID(ids[0], w.ID): true, deliveryID(ids[1], w.ID): true}
		redistest.Eventually(t, 30*time.Second, func() bool { return len(rc.got()) >= 2 }, "both delivered")
		for _, id := range rc.got() {
			if !want[id] {
				t.Errorf("webhook-id %q, want one of %v", id, want)
			}
		}
		redistest.Eventually(t, 20*time.Second, func() bool {
			p1, _ := rdb.XPending(ctx, pp+":events", store.GroupRouter).Result()
			p2, _ := rdb.XPending(ctx, pp+":deliveries", store.GroupWorkers).Result()
			return p1 != nil && p2 != nil && p1.Count == 0 && p2.Count == 0
		}, "nothing left pending")
		st, err := e.Webhooks().Stats(ctx, []int64{w.ID})
		if err != nil {
			t.Fatal(err)
		}
		if s := st[w.ID]; s.QueueLength != 0 || s.RetryQueueLength != 0 || s.LatestRun == nil || s.LatestRun.Outcome != StatusSucceeded {
			t.Errorf("stats after take-over: %+v", s)
		}
		if n := len(rc.got()); n != 2 {
			t.Errorf("receiver got %d requests, want 2", n)
		}
	})
}

// TestJitter keeps retry delays within the configured spread, and spread.
func TestJitter(t *testing.T) {
	const d = 10 * time.Second
	seen := map[time.Duration]bool{}
	for range 200 {
		j := jitter(d, 0.1)
		if j < 9*time.Second || j > 11*time.Second {
			t.Fatalf("jitter(%s, 0.1) = %s, outside ±10%%", d, j)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Errorf("jitter gave only %d distinct delays in 200", len(seen))
	}
	if got := jitter(d, 0); got != d {
		t.Errorf("jitter(%s, 0) = %s", d, got)
	}
}
