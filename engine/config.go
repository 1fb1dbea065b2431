package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/internal/secret"
)

// DefaultRetrySchedule is SPEC §7's schedule of delays between tries: about
// three days in all, as Standard Webhooks and Files.com have it.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour,
}

// Config configures an Engine. The zero value of every field means its
// documented default, filled in by New.
type Config struct {
	// Consumer names this process in the consumer groups; unique per process
	// (default host-pid-random).
	Consumer string
	// Workers is how many deliveries run at once (default 512: an attempt
	// mostly waits on the network, so goroutines, not CPUs, are the limit).
	Workers int
	// PerWebhook caps the deliveries of one webhook running at once (default
	// Workers/16, at least 4), so that up to Workers/PerWebhook receivers
	// may hang at once before healthy ones wait for a worker.
	PerWebhook int
	// Backlog is how many deliveries of one webhook may wait in-process for a
	// lane slot before further ones are snoozed (default PerWebhook*4).
	Backlog int
	// BatchSize is the COUNT of every stream read (default 256).
	BatchSize int
	// Block bounds every blocking read (default 100ms), so shutdown is prompt.
	Block time.Duration
	// ClaimIdle is how long an entry must sit unacknowledged before another
	// consumer takes it over (default 45s, longer than the 30s longest attempt).
	ClaimIdle time.Duration
	// ClaimEvery is how often the reclaimer runs (default ClaimIdle/4, at
	// most 5s).
	ClaimEvery time.Duration
	// PromoteEvery is how often due retries are moved back (default 250ms).
	PromoteEvery time.Duration
	// RevisionEvery is how often the webhook revision is polled (default 200ms).
	RevisionEvery time.Duration
	// RetrySchedule is the default delay before each retry (default DefaultRetrySchedule).
	RetrySchedule []time.Duration
	// Jitter is the relative random spread of retry delays (default 0.1).
	Jitter float64
	// RecordTTL is how long events and delivery records are kept (default 8 days).
	RecordTTL time.Duration
	// LogCap is how many entries the success and failed logs keep per webhook (default 1000).
	LogCap int
	// IndexCap is how many deliveries a webhook's delivery index keeps (default 10000).
	IndexCap int
	// DisableAfter disables a webhook that has failed for this long without a
	// success (default 5 days).
	DisableAfter time.Duration
	// IdempotencyTTL is how long an event id is remembered (default 24h).
	IdempotencyTTL time.Duration
	// EventRetention is how long ingested events, their routing traces and
	// their derived changes are kept (ASSETHOOKS_EVENT_RETENTION; default 168h).
	// Routed events are stored that long (for their deliveries' retries and
	// resends, traces, backtests and replays).
	EventRetention time.Duration
	// EventCap bounds that history in count: at most the newest EventCap
	// routed events are kept (default 1,000,000).
	EventCap int
	// ScheduleBatch is the SCAN COUNT of a schedule's walk over the asset
	// snapshots: about how many assets one round trip reads (default 1000).
	ScheduleBatch int // schedules
	// Actions are the options every action is built with.
	Actions actions.Options
	// Registry holds the action types (default actions.Builtin()).
	Registry *actions.Registry
	// Box seals secrets at rest; required.
	Box *secret.Box
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the engine's log lines (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives the engine's figures (default a fresh registry).
	Metrics *Metrics
}

func (c *Config) setDefaults() {
	if c.Consumer == "" {
		host, _ := os.Hostname()
		c.Consumer = fmt.Sprintf("%s-%d-%06x", host, os.Getpid(), rand.IntN(1<<24))
	}
	if c.Workers <= 0 {
		c.Workers = 512
	}
	if c.PerWebhook <= 0 {
		c.PerWebhook = max(c.Workers/16, 4)
	}
	if c.Backlog <= 0 {
		c.Backlog = c.PerWebhook * 4
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 256
	}
	if c.Block <= 0 {
		c.Block = 100 * time.Millisecond
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = 45 * time.Second
	}
	if c.ClaimEvery <= 0 {
		c.ClaimEvery = min(5*time.Second, c.ClaimIdle/4)
	}
	if c.PromoteEvery <= 0 {
		c.PromoteEvery = 250 * time.Millisecond
	}
	if c.RevisionEvery <= 0 {
		c.RevisionEvery = 200 * time.Millisecond
	}
	if c.RetrySchedule == nil {
		c.RetrySchedule = DefaultRetrySchedule
	}
	if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	if c.RecordTTL <= 0 {
		c.RecordTTL = 8 * 24 * time.Hour
	}
	if c.LogCap <= 0 {
		c.LogCap = 1000
	}
	if c.IndexCap <= 0 {
		c.IndexCap = 10000
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = 5 * 24 * time.Hour
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.EventRetention <= 0 {
		c.EventRetention = 168 * time.Hour
	}
	if c.ScheduleBatch <= 0 { // schedules
		c.ScheduleBatch = 1000
	}
	if c.EventCap <= 0 {
		c.EventCap = 1_000_000
	}
	if c.Registry == nil {
		c.Registry = actions.Builtin()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.Box == nil {
		return errors.New("engine: Config.Box (the secret key) is required")
	}
	if c.ClaimIdle < c.Block {
		return errors.New("engine: ClaimIdle must be longer than Block")
	}
	return nil
}
