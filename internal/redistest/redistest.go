// Package redistest gives tests a Redis to run against: the real server at
// 127.0.0.1:6379 (ASSETHOOKS_TEST_REDIS_ADDR overrides) and the embedded
// miniredis, each with a key prefix of its own that is deleted afterwards.
// With REQUIRE_REDIS=1 a missing real Redis fails the test instead of
// skipping it.
package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine/store"
)

// Backend names which Redis a test runs on.
type Backend string

// The two backends.
const (
	Real     Backend = "real"
	Embedded Backend = "embedded"
)

// Addr is the real Redis the tests use.
func Addr() string {
	if a := os.Getenv("ASSETHOOKS_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Required reports whether REQUIRE_REDIS=1 makes the real Redis mandatory.
func Required() bool { return os.Getenv("REQUIRE_REDIS") == "1" }

// Prefix returns a fresh key prefix holding its own hash tag.
func Prefix() string { return fmt.Sprintf("{t%x}", rand.Uint64()) }

// Open returns a client on the named backend and a fresh prefix; the keys
// under the prefix are deleted and the client closed when the test ends. A
// missing real Redis skips the test, or fails it under REQUIRE_REDIS=1.
func Open(t testing.TB, b Backend) (redis.UniversalClient, string) {
	t.Helper()
	prefix := Prefix()
	switch b {
	case Embedded:
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			t.Fatalf("miniredis: %v", err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), PoolSize: 64, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close(); m.Close() })
		return rdb, prefix
	default:
		rdb := redis.NewClient(&redis.Options{Addr: Addr(), PoolSize: 64, ContextTimeoutEnabled: true})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			if Required() {
				t.Fatalf("REQUIRE_REDIS=1 but no Redis at %s: %v", Addr(), err)
			}
			t.Skipf("no Redis at %s (set REQUIRE_REDIS=1 to make this a failure): %v", Addr(), err)
		}
		t.Cleanup(func() {
			Clean(rdb, prefix)
			rdb.Close()
		})
		return rdb, prefix
	}
}

// Clean deletes every key under prefix.
func Clean(rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pattern := store.KeyPattern(prefix) // every partition's keys: "{T}…" and "{T:p<i>.<k>}…"
	clean := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		pipe := rdb.Pipeline() // one DEL a key: on a cluster they are in many slots
		for iter.Next(ctx) {
			pipe.Del(ctx, iter.Val())
			if pipe.Len() == 500 {
				_, _ = pipe.Exec(ctx)
			}
		}
		_, _ = pipe.Exec(ctx)
		return nil
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return clean(ctx, m) })
		return
	}
	_ = clean(ctx, rdb)
}

// Backends are both backends, for tests that run once on each.
var Backends = []Backend{Embedded, Real}

// Each runs f as a subtest on each backend.
func Each(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			rdb, prefix := Open(t, b)
			f(t, rdb, prefix)
		})
	}
}

// Eventually polls cond every few milliseconds until it holds or the
// deadline passes, then fails the test with msg.
func Eventually(t testing.TB, within time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: "+msg, append([]any{within}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
