// Command assethooks runs the assethooks engine: `assethooks serve` starts the
// HTTP API, the router, the delivery workers and the retry scheduler in one
// process, configured by ASSETHOOKS_* environment variables (see README);
// `assethooks openapi` prints the API's OpenAPI 3.1 document.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/secret"
	"github.com/assethooks/assethooks/markers"
	"github.com/assethooks/assethooks/ui"
)

// softMemoryLimit is the Go heap's soft limit with a real Redis, unless
// GOMEMLIMIT says otherwise.
const softMemoryLimit = 60 << 20

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0"

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
		if err := serve(args[1:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "assethooks:", err)
			os.Exit(1)
		}
	case "version", "-version", "--version":
		fmt.Println("assethooks", version)
	case "openapi":
		// The document GET /openapi.json answers, for client generators.
		b, err := api.OpenAPI(version)
		if err != nil {
			fmt.Fprintln(os.Stderr, "assethooks:", err)
			os.Exit(1)
		}
		_, _ = os.Stdout.Write(b)
	default:
		fmt.Fprintf(os.Stderr, "usage: assethooks serve [flags]   (or: assethooks version, assethooks openapi)\n")
		os.Exit(2)
	}
}

// settings are the process's configuration, from ASSETHOOKS_* variables
// mirrored by flags.
//
// Besides those of the README, two advanced variables exist, mainly for
// tests and for several deployments sharing one Redis:
//
//   - ASSETHOOKS_REDIS_PREFIX: the start of every key, holding its Redis
//     Cluster hash tag in braces (default "{assethooks}"). Every process of
//     one deployment uses the same.
//   - ASSETHOOKS_CLAIM_IDLE: how long (a Go duration) an event or delivery
//     read by a process may stay unacknowledged before another process, or
//     the same one restarted, takes it over (default 45s). It must be longer
//     than the longest attempt (timeout_seconds, at most 30 s), else a slow
//     delivery may be sent twice at once; shorter values are for tests.
type settings struct {
	addr, redisURL, apiKeys, secretKey, maxBody, logLevel string
	prefix                                                string
	allowPrivate                                          bool
	workers                                               int
	partitions                                            int
	claimIdle                                             time.Duration
	eventRetention                                        time.Duration
}

func load(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	env := func(k, def string) string {
		if v, ok := os.LookupEnv(k); ok {
			return v
		}
		return def
	}
	fs.StringVar(&s.addr, "addr", env("ASSETHOOKS_ADDR", "127.0.0.1:8080"), "listen address (ASSETHOOKS_ADDR)")
	fs.StringVar(&s.redisURL, "redis-url", env("ASSETHOOKS_REDIS_URL", ""), "redis:// URL; empty runs the embedded default (ASSETHOOKS_REDIS_URL)")
	fs.StringVar(&s.apiKeys, "api-keys", env("ASSETHOOKS_API_KEYS", ""), "comma-separated key:role, role admin or user (ASSETHOOKS_API_KEYS)")
	fs.StringVar(&s.secretKey, "secret-key", env("ASSETHOOKS_SECRET_KEY", ""), "at least 32 characters; encrypts stored secrets (ASSETHOOKS_SECRET_KEY)")
	fs.StringVar(&s.maxBody, "max-body", env("ASSETHOOKS_MAX_BODY", "10MiB"), "largest request body (ASSETHOOKS_MAX_BODY)")
	fs.StringVar(&s.logLevel, "log-level", env("ASSETHOOKS_LOG_LEVEL", "info"), "debug, info, warn or error (ASSETHOOKS_LOG_LEVEL)")
	allow := env("ASSETHOOKS_ALLOW_PRIVATE_TARGETS", "false")
	fs.Func("allow-private-targets", "let webhooks call loopback/private addresses (ASSETHOOKS_ALLOW_PRIVATE_TARGETS)", func(v string) error {
		allow = v
		return nil
	})
	fs.StringVar(&s.prefix, "redis-prefix", env("ASSETHOOKS_REDIS_PREFIX", "{assethooks}"), "key prefix with its hash tag (ASSETHOOKS_REDIS_PREFIX)")
	claimIdle := env("ASSETHOOKS_CLAIM_IDLE", "45s")
	fs.Func("claim-idle", "take-over delay of unacknowledged work, longer than the longest attempt (ASSETHOOKS_CLAIM_IDLE)", func(v string) error {
		claimIdle = v
		return nil
	})
	retention := env("ASSETHOOKS_EVENT_RETENTION", "168h")
	fs.Func("event-retention", "how long ingested events, their traces and changes are kept (ASSETHOOKS_EVENT_RETENTION)", func(v string) error {
		retention = v
		return nil
	})
	workers := env("ASSETHOOKS_WORKERS", "")
	fs.Func("workers", "concurrent deliveries per process (ASSETHOOKS_WORKERS)", func(v string) error {
		workers = v
		return nil
	})
	partitions := env("ASSETHOOKS_PARTITIONS", strconv.Itoa(store.DefaultPartitions))
	fs.Func("partitions", "partitions of the event and delivery streams, the same on every process (ASSETHOOKS_PARTITIONS)", func(v string) error {
		partitions = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if n, err := strconv.Atoi(strings.TrimSpace(partitions)); err != nil || n < 1 || n > store.MaxPartitions {
		return s, fmt.Errorf("ASSETHOOKS_PARTITIONS must be an integer from 1 to %d, not %q", store.MaxPartitions, partitions)
	} else {
		s.partitions = n
	}
	b, err := strconv.ParseBool(allow)
	if err != nil {
		return s, fmt.Errorf("ASSETHOOKS_ALLOW_PRIVATE_TARGETS must be true or false, not %q", allow)
	}
	s.allowPrivate = b
	d, err := time.ParseDuration(claimIdle)
	if err != nil || d < time.Second {
		return s, fmt.Errorf("ASSETHOOKS_CLAIM_IDLE must be a duration of at least 1s, such as 45s, not %q", claimIdle)
	}
	s.claimIdle = d
	if s.eventRetention, err = parseRetention(retention); err != nil {
		return s, err
	}
	if !strings.HasPrefix(s.prefix, "{") || !strings.Contains(s.prefix, "}") {
		return s, fmt.Errorf("ASSETHOOKS_REDIS_PREFIX must hold a hash tag in braces, such as {assethooks}, not %q", s.prefix)
	}
	if workers != "" {
		n, err := strconv.Atoi(workers)
		if err != nil || n < 1 || n > 100000 {
			return s, fmt.Errorf("ASSETHOOKS_WORKERS must be a positive integer, not %q", workers)
		}
		s.workers = n
	}
	return s, nil
}

// parseRetention reads ASSETHOOKS_EVENT_RETENTION: a Go duration of at
// least a minute, such as 168h (7 days).
func parseRetention(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("ASSETHOOKS_EVENT_RETENTION must be a duration of at least 1m, such as 168h, not %q", v)
	}
	return d, nil
}

// parseSize reads sizes such as 10MiB, 512KiB, 1MB, 1048576.
func parseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("not a size")
	}
	return n * mult, nil
}

// parseKeys reads ASSETHOOKS_API_KEYS: comma-separated key:role.
func parseKeys(v string) (map[string]string, error) {
	keys := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.LastIndex(part, ":")
		if i <= 0 {
			return nil, errors.New("ASSETHOOKS_API_KEYS: each entry must be key:role")
		}
		key, role := part[:i], part[i+1:]
		if role != api.RoleAdmin && role != api.RoleUser {
			return nil, fmt.Errorf("ASSETHOOKS_API_KEYS: role must be admin or user, not %q", role)
		}
		keys[key] = role
	}
	return keys, nil
}

func serve(args []string, out io.Writer) error {
	s, err := load(args)
	if err != nil {
		return err
	}
	if path := os.Getenv("ASSETHOOKS_CPU_PROFILE"); path != "" {
		// For performance work: a CPU profile of the whole run, written at
		// shutdown (go tool pprof <binary> <path>).
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("ASSETHOOKS_CPU_PROFILE: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("ASSETHOOKS_CPU_PROFILE: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(s.logLevel)); err != nil {
		return fmt.Errorf("ASSETHOOKS_LOG_LEVEL: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	maxBody, err := parseSize(s.maxBody)
	if err != nil {
		return fmt.Errorf("ASSETHOOKS_MAX_BODY must be a size such as 10MiB, not %q", s.maxBody)
	}
	keys, err := parseKeys(s.apiKeys)
	if err != nil {
		return err
	}
	uiCfg, err := ui.ConfigFromEnv()
	if err != nil {
		return err
	}
	embedded := s.redisURL == ""
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && !embedded {
		// A soft limit keeps the resident size near 100 MB under load: the
		// live heap is a few tens of MB, the rest would be GC headroom. The
		// embedded default keeps its data in this process, so it gets none.
		debug.SetMemoryLimit(softMemoryLimit)
		if _, set := os.LookupEnv("GOGC"); !set {
			// Collect less often while the heap is small; the limit
			// above still bounds it.
			debug.SetGCPercent(200)
		}
	}
	var generatedKey string
	if len(keys) == 0 {
		if !embedded {
			return errors.New("ASSETHOOKS_API_KEYS is required with a real Redis (comma-separated key:role)")
		}
		generatedKey = "ah_admin_" + randomHex(16)
		keys[generatedKey] = api.RoleAdmin
	}
	if s.secretKey == "" {
		if !embedded {
			return errors.New("ASSETHOOKS_SECRET_KEY (at least 32 characters) is required with a real Redis")
		}
		s.secretKey = secret.Generate()
	}
	box, err := secret.NewBox(s.secretKey)
	if err != nil {
		return fmt.Errorf("ASSETHOOKS_SECRET_KEY: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var rdb redis.UniversalClient
	if embedded {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("embedded redis: %v", err)
		}
		defer mr.Close()
		go expireLoop(ctx, mr)
		rdb = redis.NewClient(&redis.Options{Addr: mr.Addr(), PoolSize: 64, ContextTimeoutEnabled: true})
	} else {
		if rdb, err = connect(s.redisURL); err != nil {
			return fmt.Errorf("ASSETHOOKS_REDIS_URL: %v", err)
		}
	}
	defer rdb.Close()

	st := store.NewPartitioned(rdb, s.prefix, s.partitions)
	defer st.Close() // after the engine stops (defers run last first)
	eng, err := engine.New(st, engine.Config{
		ClaimIdle: s.claimIdle, Workers: s.workers, Box: box, Logger: logger, EventRetention: s.eventRetention,
		Actions: actions.Options{AllowPrivate: s.allowPrivate, Version: version},
	})
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = waitRedis(startCtx, rdb, logger)
	if err == nil {
		err = eng.Start(ctx)
	}
	cancel()
	if err != nil {
		return err
	}
	defer eng.Stop()

	srv := api.New(api.Config{Engine: eng, Keys: keys, MaxBody: maxBody, Logger: logger, Version: version,
		Extra: []func(*api.Server){markers.Routes, ui.Routes(uiCfg)}})
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("ASSETHOOKS_ADDR: %v", err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	banner(out, ln.Addr().String(), embedded, generatedKey, keys)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	logger.Info("assethooks: shutting down; in-flight deliveries finish, waiting ones stay queued")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	eng.Stop()
	return nil
}

// connect opens a client for a redis:// or rediss:// URL; a URL with addr=
// parameters opens a Redis Cluster client (see clusterClient).
func connect(u string) (redis.UniversalClient, error) {
	if strings.Contains(u, "addr=") {
		o, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, err
		}
		return clusterClient(o), nil
	}
	o, err := redis.ParseURL(u)
	if err != nil {
		return nil, err
	}
	o.ContextTimeoutEnabled = true
	o.PoolSize = max(o.PoolSize, 64)
	return redis.NewClient(o), nil
}

// clusterStateInterval bounds how old the cluster client's map of slots
// to masters may grow before a command makes it ask for a new one (go-redis
// waits 60 s by default).
const clusterStateInterval = 2 * time.Second

// clusterClient opens a Redis Cluster client that follows a failover at
// once.
//
// go-redis sends each command to the master its map of slots names, and
// refreshes that map only on a MOVED, ASK or READONLY answer or once the map
// is older than ClusterStateReloadInterval (60 s by default). A master that
// was killed answers nothing, so after its replica took over the client kept
// dialling the dead address for its slots until the next periodic refresh:
// every request touching those slots failed, and the API answered 503 long
// after the promotion. Here any failure that is not an answer of Redis
// (refused dial, broken connection, timeout) asks for a refresh of the map
// (go-redis runs one at a time, at most one per 200 ms), so the first
// command after the promotion that still fails brings the new master in,
// and the map is refreshed every clusterStateInterval besides. Reads stay
// on the masters (no ReadOnly, RouteRandomly or RouteByLatency): the
// streams' consumer groups must read what was just written.
func clusterClient(o *redis.ClusterOptions) *redis.ClusterClient {
	o.ContextTimeoutEnabled = true
	o.PoolSize = max(o.PoolSize, 64)
	if o.ClusterStateReloadInterval == 0 {
		o.ClusterStateReloadInterval = clusterStateInterval
	}
	cc := redis.NewClusterClient(o)
	cc.AddHook(reloadOnFailure{cc: cc})
	return cc
}

// reloadOnFailure asks the cluster client for a fresh map of slots after a
// command or pipeline failed other than by an answer of Redis.
type reloadOnFailure struct{ cc *redis.ClusterClient }

// DialHook leaves dialling alone (a failed dial fails the command, which
// ProcessHook sees).
func (h reloadOnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook refreshes the slot map after a command failed other than by
// an answer of Redis.
func (h reloadOnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(ctx, err)
		return err
	}
}

// ProcessPipelineHook does the same for pipelines.
func (h reloadOnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(ctx, err)
		return err
	}
}

func (h reloadOnFailure) check(ctx context.Context, err error) {
	if unreachable(err) && !errors.Is(ctx.Err(), context.Canceled) {
		h.cc.ReloadState(context.WithoutCancel(ctx))
	}
}

// unreachable reports whether err says Redis could not be reached or did
// not answer in time, rather than answering with an error (redis.Nil, a
// script's error, MOVED, which go-redis follows itself).
func unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var rerr redis.Error
	return !errors.As(err, &rerr)
}

// waitRedis waits for Redis to answer, logging while it does not.
func waitRedis(ctx context.Context, rdb redis.UniversalClient, logger *slog.Logger) error {
	for i := 0; ; i++ {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if i == 0 {
			logger.Warn("assethooks: waiting for redis", "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis did not answer: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// expireLoop moves the embedded server's clock along with the wall clock
// once a second, so keys with a TTL expire (miniredis only expires on
// FastForward); once a second keeps the cost of its full scan small.
func expireLoop(ctx context.Context, mr *miniredis.Miniredis) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func banner(out io.Writer, addr string, embedded bool, generatedKey string, keys map[string]string) {
	fmt.Fprintf(out, "assethooks %s listening on http://%s (%d CPUs)\n", version, addr, runtime.NumCPU())
	if embedded {
		fmt.Fprintln(out, "storage: embedded in-memory Redis. Everything (webhooks, queues, logs, asset snapshots) lives in this process's memory and is LOST on restart; set ASSETHOOKS_REDIS_URL for a real Redis.")
	} else {
		fmt.Fprintln(out, "storage: Redis at ASSETHOOKS_REDIS_URL")
	}
	key := generatedKey
	if key != "" {
		fmt.Fprintf(out, "admin API key (generated for this run): %s\n", key)
	} else {
		key = "<your admin key>"
		fmt.Fprintf(out, "API keys: %d configured (from ASSETHOOKS_API_KEYS)\n", len(keys))
	}
	fmt.Fprintf(out, "admin UI: http://%s/ui/ (sign in with an API key)\n", addr)
	fmt.Fprintf(out, "try it:\n  curl -s -H 'X-API-KEY: %s' http://%s/api/v2/admin/webhooks\n", key, addr)
}
