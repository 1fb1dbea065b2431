package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned for a document that is not stored.
var ErrNotFound = errors.New("store: not found")

// ErrUnavailable wraps every error of Redis itself (unreachable, timed out):
// the API answers 503.
var ErrUnavailable = errors.New("store: redis unavailable")

// Consumer groups of the two streams.
const (
	GroupRouter  = "router"
	GroupWorkers = "workers"
)

// Store is one deployment's storage on Redis (a single server, the
// embedded one, or a Redis Cluster). It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
	// k are the global keys (partition 0's tag); parts the keys of each
	// partition, parts[0] == k.
	k       keys
	parts   []keys
	cluster bool
	bell    *bell
	readers [2]*reader
	// healthy: webhooks this process saw succeed with no failure recorded,
	// and when (see Complete).
	healthMu sync.Mutex
	healthy  map[int64]time.Time
	// expiry: per partition, the routing minute whose stored events'
	// hash this process has set the expiry of.
	minuteMu sync.Mutex
	expiry   []int64
}

// New returns the store of the deployment whose keys start with prefix,
// which must hold a hash tag ("{assethooks}"), with DefaultPartitions.
func New(rdb redis.UniversalClient, prefix string) *Store {
	return NewPartitioned(rdb, prefix, DefaultPartitions)
}

// NewPartitioned returns the store of a deployment with n partitions
// (1 to MaxPartitions); every process on one Redis must use the same n.
func NewPartitioned(rdb redis.UniversalClient, prefix string, n int) *Store {
	n = min(max(n, 1), MaxPartitions)
	s := &Store{rdb: rdb, k: keys{p: prefix}, healthy: map[int64]time.Time{}}
	for _, p := range partitionPrefixes(prefix, n) {
		s.parts = append(s.parts, keys{p: p})
	}
	s.expiry = make([]int64, n)
	_, s.cluster = rdb.(*redis.ClusterClient)
	s.readers[0] = newReader(s, streamEvents)
	s.readers[1] = newReader(s, streamDeliveries)
	if s.cluster {
		s.bell = newBell(rdb, s.k.bell())
	}
	return s
}

// Close stops what the store runs beside its client (the cluster's
// doorbell subscription).
func (s *Store) Close() {
	if s.bell != nil {
		s.bell.close()
	}
}

// Prefix is the start of every key.
func (s *Store) Prefix() string { return s.k.p }

// unavailable wraps a Redis error as ErrUnavailable; nil stays nil.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	noteFailure(err)
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// IsNoGroup reports a missing stream or consumer group (Redis restarted
// without persistence). It looks inside the message because an error raised
// by redis.call in a script carries the script's context around the code.
func IsNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// Ping reports whether Redis answers within a second.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return s.rdb.Ping(ctx).Err()
}

// EnsureGroups creates both streams and their consumer groups when missing.
func (s *Store) EnsureGroups(ctx context.Context) error {
	for _, k := range s.parts {
		for _, g := range []struct{ stream, group string }{
			{k.events(), GroupRouter}, {k.deliveries(), GroupWorkers},
		} {
			err := s.rdb.XGroupCreateMkStream(ctx, g.stream, g.group, "0").Err()
			if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
				return fmt.Errorf("store: create group %s: %w", g.group, unavailable(err))
			}
		}
	}
	return nil
}

// Revision returns the webhook revision counter and the abort counter.
func (s *Store) Revision(ctx context.Context) (rev, aborts int64, err error) {
	vals, err := s.rdb.MGet(ctx, s.k.rev(), s.k.aborts()).Result()
	if err != nil {
		return 0, 0, unavailable(err)
	}
	return num(vals[0]), num(vals[1]), nil
}

// Bump moves the revision counter: every process reloads its webhooks and
// markers.
func (s *Store) Bump(ctx context.Context) error {
	return unavailable(s.rdb.Incr(ctx, s.k.rev()).Err())
}

// unlockScript deletes a lock if its holder still holds it.
// KEYS[1] the lock; ARGV[1] the holder's name.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lock takes the named lock for holder for ttl, if nobody holds it.
func (s *Store) Lock(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.k.lock(name), holder, ttl).Result()
	return ok, unavailable(err)
}

// Unlock releases the named lock if holder still holds it.
func (s *Store) Unlock(ctx context.Context, name, holder string) error {
	return unavailable(unlockScript.Run(ctx, s.rdb, []string{s.k.lock(name)}, holder).Err())
}

// Guard takes a short per-webhook guard (one process disables a webhook
// once, however many failures ask for it); Unguard drops it.
func (s *Store) Guard(ctx context.Context, webhookID int64, holder string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.k.disabling(webhookID), holder, ttl).Result()
	return ok, unavailable(err)
}

// Unguard drops a webhook's guard.
func (s *Store) Unguard(ctx context.Context, webhookID int64) error {
	return unavailable(s.rdb.Del(ctx, s.k.disabling(webhookID)).Err())
}

func num(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func str(v any) string { s, _ := v.(string); return s }
