package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/redistest"
)

// TestSentOnceWithoutFaults: 3,000 events in 30 concurrent batches of 100,
// to one webhook answering 200 at once, several times, with one and with
// three processes (and a short take-over delay, as the fault tests use, so
// that take-overs race the workers): every delivery arrives exactly once.
func TestSentOnceWithoutFaults(t *testing.T) {
	for _, procs := range []int{1, 3} {
		for round := range 2 {
			t.Run(fmt.Sprintf("procs=%d/round=%d", procs, round), func(t *testing.T) {
				rdb, prefix := redistest.Open(t, redistest.Real)
				rc := newTally(t)
				cfg := engine.Config{ClaimIdle: 2 * time.Second}
				es := make([]*engine.Engine, procs)
				for i := range es {
					es[i] = startEngine(t, rdb, prefix, cfg)
				}
				hookOn(t, es[0], "once", rc.URL, nil, 10)
				for _, e := range es {
					if err := e.Reload(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				const n, batch = 3000, 100
				var wg sync.WaitGroup
				for i := 0; i < n; i += batch {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := es[i/batch%procs].Ingest(context.Background(), events(i, batch)); err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
				redistest.Eventually(t, 60*time.Second, func() bool { ids, _ := rc.sum(); return ids == n }, "all %d delivered", n)
				waitDrained(t, rdb, prefix)
				ids, reqs := rc.sum()
				if ids != n || reqs != n {
					t.Errorf("%d deliveries arrived in %d requests, want %d in %d", ids, reqs, n, n)
				}
			})
		}
	}
}

// waitDrained waits until nothing is left that could still arrive: both
// streams without pending entries, the retry set empty, and no promoted
// retry unread.
func waitDrained(t *testing.T, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	redistest.Eventually(t, 30*time.Second, func() bool {
		ctx := context.Background()
		for _, pp := range partPrefixes(rdb, prefix) {
			p1, err1 := rdb.XPending(ctx, pp+":events", "router").Result()
			p2, err2 := rdb.XPending(ctx, pp+":deliveries", "workers").Result()
			z, err3 := rdb.ZCard(ctx, pp+":retry").Result()
			l, err4 := rdb.XLen(ctx, pp+":deliveries").Result()
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil || p1.Count != 0 || p2.Count != 0 || z != 0 || l != 0 {
				return false
			}
		}
		return true
	}, "queues drained")
}

// partPrefixes are the key prefixes of every partition of the deployment
// (store.New's default number of them).
func partPrefixes(rdb redis.UniversalClient, prefix string) []string {
	st := store.New(rdb, prefix)
	out := make([]string, st.Partitions())
	for i := range out {
		out[i] = st.PartitionPrefix(i)
	}
	return out
}
