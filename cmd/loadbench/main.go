package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/assethooks/assethooks/internal/redistest"
)

// config is the run's settings, from the flags.
type config struct {
	events       int           // events per throughput scenario
	clients      int           // concurrent clients of single and latency
	batchSize    int           // events per request in batch
	batchClients int           // concurrent clients of batch
	redisAddr    string        // host:port of the real Redis, loopback only
	cluster      bool          // run on a Redis Cluster loadbench starts (redis-server and redis-cli needed)
	procs        int           // engine processes on one Redis and prefix
	webhooks     int           // webhooks created, all to the receiver
	matching     int           // of them, those with no condition: the deliveries per event
	workers      int           // ASSETHOOKS_WORKERS; 0 leaves the engine's default
	binary       string        // the assethooks binary; empty builds ./cmd/assethooks
	scenarios    []string      // in order: single, batch, latency
	rate         int           // events a second in latency
	duration     time.Duration // length of latency
	wait         time.Duration // how long deliveries may trail the last send
	timeout      time.Duration // bound of the whole run
	command      string        // the command line, for the header
	cpuProfile   string        // file for loadbench's own CPU profile
}

var allScenarios = []string{"single", "batch", "latency"}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.IntVar(&c.events, "events", 20000, "events per throughput scenario (single, batch)")
	fs.IntVar(&c.clients, "clients", 32, "concurrent clients of the single and latency scenarios")
	fs.IntVar(&c.batchSize, "batch-size", 100, "events per request in the batch scenario (at most 1000)")
	fs.IntVar(&c.batchClients, "batch-clients", 4, "concurrent clients of the batch scenario")
	fs.StringVar(&c.redisAddr, "redis", "127.0.0.1:6379", "host:port of the Redis to run against (loopback only)")
	fs.BoolVar(&c.cluster, "cluster", false, "start a Redis Cluster of 3 masters and 3 replicas on loopback (redis-server, redis-cli) and run on it instead of -redis")
	fs.IntVar(&c.procs, "procs", 1, "engine processes sharing the Redis and prefix; requests go to them round-robin")
	fs.IntVar(&c.webhooks, "webhooks", 1, "webhooks for ASSET_ADDED to the receiver, each at its own path")
	matching := fs.Int("matching", -1, "how many of the -webhooks match every event (no condition); the rest have a condition no bench event meets (default: all)")
	fs.IntVar(&c.workers, "workers", 0, "ASSETHOOKS_WORKERS of each engine; 0 keeps the engine's default")
	fs.StringVar(&c.binary, "binary", "", "assethooks binary to run; empty builds ./cmd/assethooks of this module")
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios, from "+strings.Join(allScenarios, ","))
	fs.IntVar(&c.rate, "rate", 1000, "events a second in the latency scenario")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of the latency scenario")
	fs.DurationVar(&c.wait, "wait", time.Minute, "how long deliveries may trail the last send before the rest count as lost")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "bound of the whole run")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write loadbench's own CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.matching = *matching
	if c.matching < 0 {
		c.matching = c.webhooks
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, s := range strings.Split(*scen, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return c, fmt.Errorf("-scenarios: unknown scenario %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
		c.scenarios = append(c.scenarios, s)
	}
	c.command = strings.Join(append([]string{"loadbench"}, args...), " ")
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.events < 1 || c.events > 10_000_000:
		return errors.New("-events must be from 1 to 10,000,000")
	case c.clients < 1 || c.clients > 1024:
		return errors.New("-clients must be from 1 to 1024")
	case c.batchSize < 1 || c.batchSize > 1000:
		return errors.New("-batch-size must be from 1 to 1000 (the API's batch limit)")
	case c.batchClients < 1 || c.batchClients > 1024:
		return errors.New("-batch-clients must be from 1 to 1024")
	case c.procs < 1 || c.procs > 16:
		return errors.New("-procs must be from 1 to 16")
	case c.webhooks < 1 || c.webhooks > 1000:
		return errors.New("-webhooks must be from 1 to 1000")
	case c.matching < 1 || c.matching > c.webhooks:
		return errors.New("-matching must be from 1 to -webhooks")
	case c.events*c.matching > 20_000_000:
		return errors.New("-events × -matching must be at most 20,000,000 deliveries")
	case c.workers < 0:
		return errors.New("-workers must not be negative")
	case c.rate < 1 || c.rate > 100_000:
		return errors.New("-rate must be from 1 to 100,000")
	case c.duration < 100*time.Millisecond || c.rate*int(c.duration/time.Millisecond)/1000 > 10_000_000:
		return errors.New("-duration must be at least 100ms and -rate × -duration at most 10,000,000 events")
	case c.wait <= 0 || c.timeout <= 0:
		return errors.New("-wait and -timeout must be positive")
	case len(c.scenarios) == 0:
		return errors.New("-scenarios names none")
	}
	return checkLoopback(c.redisAddr)
}

// latencyEvents is the number of events of the latency scenario.
func (c config) latencyEvents() int {
	return max(1, int(int64(c.rate)*int64(c.duration)/int64(time.Second)))
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(2)
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadbench: -cpuprofile:", err)
			os.Exit(2)
		}
		defer f.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err = run(ctx, cfg, os.Stdout, os.Stderr)
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// run starts the engines, runs the scenarios, prints the header and the
// table to out and progress to progress, and returns the rows. Whatever
// happens, the engines it started are stopped and the prefix's keys
// deleted before it returns.
func run(ctx context.Context, cfg config, out, progress io.Writer) (rows []row, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	logf := func(format string, args ...any) { fmt.Fprintf(progress, "loadbench: "+format+"\n", args...) }

	redisURL, redisDesc := "redis://"+cfg.redisAddr+"/0", ""
	var mon *monitor
	var masters []string
	if cfg.cluster {
		logf("starting a Redis Cluster (3 masters, 3 replicas) on loopback")
		cl, err := redistest.NewCluster()
		if err != nil {
			return nil, fmt.Errorf("-cluster: %w", err)
		}
		defer cl.Stop()
		var version string
		if mon, version, masters, err = openClusterMonitor(ctx, cl); err != nil {
			return nil, err
		}
		redisURL = cl.URL()
		redisDesc = fmt.Sprintf("Redis Cluster %s, 3 masters (%s) with a replica each, on loopback, started by loadbench", version, strings.Join(masters, ", "))
	} else {
		version, err := "", error(nil)
		if mon, version, err = openMonitor(ctx, cfg.redisAddr); err != nil {
			return nil, err
		}
		redisDesc = version + " at " + cfg.redisAddr
	}
	defer mon.close()

	tmp, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	commit := "unknown (not a git checkout)"
	bin := cfg.binary
	if root, rerr := moduleRoot(); rerr == nil {
		commit = gitCommit(root)
		if bin == "" {
			logf("building ./cmd/assethooks")
			if bin, err = buildBinary(ctx, root, tmp); err != nil {
				return nil, err
			}
		}
	} else if bin == "" {
		return nil, rerr
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}

	prefix := "{bench" + randomHex(6) + "}"
	defer func() {
		n, cerr := mon.clean(prefix)
		if cerr != nil {
			logf("deleting the keys of %s: %v (delete them by hand: SCAN MATCH %s*)", prefix, cerr, prefix)
			return
		}
		logf("deleted %d keys under %s", n, prefix)
	}()

	total := 0
	for _, s := range cfg.scenarios {
		if s == "latency" {
			total += cfg.latencyEvents()
		} else {
			total += cfg.events
		}
	}
	start := time.Now()
	t := newTally(total, cfg.matching)
	recv, err := startReceiver(t, start)
	if err != nil {
		return nil, err
	}
	defer recv.stop()

	key := "bench_" + randomHex(16)
	env := engineEnv{redisURL: redisURL, prefix: prefix, apiKey: key,
		secretKey: "loadbench-secret-key-" + randomHex(16), workers: cfg.workers}
	var engines []*engine
	defer func() {
		for _, e := range engines {
			e.stop()
		}
	}()
	client := newClient(max(cfg.clients, cfg.batchClients) + 8)
	defer client.CloseIdleConnections()
	for i := range cfg.procs {
		e, err := startEngine(ctx, bin, env, time.Minute)
		if err != nil {
			return nil, err
		}
		engines = append(engines, e)
		if i == 0 {
			// Before the other processes start, so that each loads the
			// webhook at its start rather than at its next revision poll.
			for h := range cfg.webhooks {
				if err := createWebhook(ctx, client, e.url, key, fmt.Sprintf("%s/%d", recv.url, h), h < cfg.matching); err != nil {
					return nil, err
				}
			}
		}
	}
	urls := make([]string, len(engines))
	for i, e := range engines {
		urls[i] = e.url
	}
	s := &sender{run: "b" + randomHex(4), client: client, urls: urls, key: key, start: start,
		started: make([]int64, total), ok: make([]bool, total)}
	b := &bench{cfg: cfg, prefix: prefix, masters: masters, mon: mon, engines: engines, tally: t, send: s, logf: logf}

	idle, err := b.idle(ctx, time.Second)
	if err != nil {
		return nil, err
	}
	binary := "built from the commit above"
	if cfg.binary != "" {
		binary = cfg.binary + " (given; the commit is the working tree's)"
	}
	header{
		machine: machine(), commit: commit, redis: redisDesc, prefix: prefix, cluster: cfg.cluster,
		procs: cfg.procs, webhooks: cfg.webhooks, matching: cfg.matching, workers: cfg.workers, binary: binary, command: cfg.command, settings: cfg.settings(),
		idle: idle,
	}.print(out)
	printTableHead(out)

	var notes []string
	next := 0
	for _, name := range cfg.scenarios {
		n := cfg.events
		if name == "latency" {
			n = cfg.latencyEvents()
		}
		r, note, err := b.scenario(ctx, name, next, next+n)
		next += n
		if err != nil {
			return rows, fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, r)
		r.print(out)
		notes = append(notes, note...)
	}
	fmt.Fprintln(out)
	printShares(out, rows)
	for _, n := range notes {
		fmt.Fprintln(out, "- "+n)
	}
	logged := 0
	for _, e := range engines {
		logged += e.logs.Lines()
	}
	fmt.Fprintf(out, "- engine log lines at warn and above during the run: %d\n", logged)
	for _, e := range engines {
		for _, l := range e.logs.Head(5) {
			fmt.Fprintf(out, "  - `%s`\n", l)
		}
	}
	return rows, nil
}

// settings spells out every setting, defaults included.
func (c config) settings() string {
	cluster := ""
	if c.cluster {
		cluster = "-cluster "
	}
	return cluster + fmt.Sprintf("-events %d -clients %d -batch-size %d -batch-clients %d -procs %d -webhooks %d -matching %d -workers %d -scenarios %s -rate %d -duration %s -wait %s",
		c.events, c.clients, c.batchSize, c.batchClients, c.procs, c.webhooks, c.matching, c.workers, strings.Join(c.scenarios, ","), c.rate, c.duration, c.wait)
}

// gitCommit is the short hash of HEAD in root, with -dirty when the tree
// has changes (untracked files included).
func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (git rev-parse failed)"
	}
	commit := strings.TrimSpace(string(out))
	status, err := exec.Command("git", "-C", root, "status", "--porcelain").Output()
	if err != nil || len(strings.TrimSpace(string(status))) > 0 {
		commit += "-dirty"
	}
	return commit
}

// machine describes the CPU, the kernel and the memory.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	m := fmt.Sprintf("%s, nproc %d, %s/%s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m += " " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := parseStatusKB(string(b), "MemTotal"); err == nil {
			m += fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return m
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
