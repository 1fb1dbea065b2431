package store_test

import (
	"testing"
	"time"

	"github.com/assethooks/assethooks/engine/store"
)

// TestAllow: a rate limit grants its burst at once and then nothing until
// the next token is due, says when that is, is shared by every store on
// one Redis, and keeps its state under the deployment's prefix.
func TestAllow(t *testing.T) {
	each(t, func(t *testing.T, b bundle) {
		type grant struct {
			Allowed int
			After   bool // a retry-after was given
		}
		ask := func(st *store.Store, id int64, rate, n int) (grant, time.Duration) {
			t.Helper()
			k, after, err := st.Allow(b.ctx, id, rate, n)
			if err != nil {
				t.Fatal(err)
			}
			return grant{k, after > 0}, after
		}
		// 1000/s: a burst of 50, then the next token a millisecond later.
		g, after := ask(b.st, 1, 1000, 100)
		diff(t, "1000/s, 100 asked", g, grant{50, true})
		if after <= 0 || after > time.Millisecond {
			t.Errorf("1000/s: retry after %s, want at most 1ms", after)
		}
		// 5/s: one now, then none; the next within 200 ms.
		g, _ = ask(b.st, 2, 5, 3)
		diff(t, "5/s, first", g, grant{1, true})
		g, after = ask(b.st, 2, 5, 3)
		diff(t, "5/s, second", g, grant{0, true})
		if after <= 100*time.Millisecond || after > 200*time.Millisecond {
			t.Errorf("5/s: retry after %s, want about 200ms", after)
		}
		// Another process (another store on the same Redis) shares the limit.
		other := store.New(b.rdb, b.p)
		g, _ = ask(other, 2, 5, 1)
		diff(t, "5/s, another process", g, grant{0, true})
		// Enough tokens: all granted, no retry-after; no limit: all granted.
		g, _ = ask(b.st, 3, 10000, 20)
		diff(t, "10000/s, 20 asked", g, grant{20, false})
		g, _ = ask(b.st, 4, 0, 7)
		diff(t, "no limit", g, grant{7, false})
		if ttl := b.rdb.PTTL(b.ctx, b.p+":rl:2").Val(); ttl <= 0 || ttl > 2*time.Second {
			t.Errorf("the limit's key %s:rl:2 has TTL %s, want a short one", b.p, ttl)
		}
	})
}
