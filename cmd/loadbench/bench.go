package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// bench runs the scenarios against running engines.
type bench struct {
	cfg     config
	prefix  string   // the run's key prefix
	masters []string // on a cluster, the masters' addresses
	mon     *monitor
	engines []*engine
	tally   *tally
	send    *sender
	logf    func(string, ...any)
}

// snapshot is the counters read before and after a scenario.
type snapshot struct {
	ticks int64 // utime+stime of every engine process
	self  int64 // utime+stime of loadbench
	redis redisStats
	sent  int64 // commands loadbench had sent to Redis before this snapshot's INFO
}

func (b *bench) engineTicks() (int64, error) {
	var sum int64
	for _, e := range b.engines {
		t, err := cpuTicks(e.pid())
		if err != nil {
			return 0, fmt.Errorf("engine pid %d: %w", e.pid(), err)
		}
		sum += t
	}
	return sum, nil
}

func (b *bench) snapshot(ctx context.Context) (snapshot, error) {
	var s snapshot
	var err error
	if s.ticks, err = b.engineTicks(); err != nil {
		return s, err
	}
	if s.self, err = cpuTicks(os.Getpid()); err != nil {
		return s, err
	}
	s.sent = b.mon.sent.Load()
	s.redis, err = b.mon.stats(ctx)
	return s, err
}

// delta is what happened between two snapshots.
type delta struct {
	engineCPU, selfCPU, redisCPU time.Duration
	calls                        map[string]int64 // per command, loadbench's own INFO calls taken out
	commands                     int64
	perMaster                    map[string]int64 // per master, its calls but INFO
}

func diff(before, after snapshot) delta {
	d := delta{
		engineCPU: ticksToDuration(after.ticks - before.ticks),
		selfCPU:   ticksToDuration(after.self - before.self),
		redisCPU:  after.redis.cpu - before.redis.cpu,
		calls:     callsDelta(before.redis, after.redis),
		perMaster: map[string]int64{},
	}
	for addr, n := range after.redis.perMaster {
		d.perMaster[addr] = n - before.redis.perMaster[addr]
	}
	// The INFO of the first snapshot and any command loadbench sent in
	// between were counted by the server; the second INFO was not yet.
	own := after.sent - before.sent
	if n := d.calls["info"] - own; n > 0 {
		d.calls["info"] = n
	} else {
		delete(d.calls, "info")
	}
	for _, n := range d.calls {
		d.commands += n
	}
	return d
}

// idleStats is the cost of the engines while nothing is sent.
type idleStats struct {
	span      time.Duration
	engineCPU time.Duration
	commands  int64
	redisCPU  time.Duration
}

// idle measures the engines and Redis for span with no load.
func (b *bench) idle(ctx context.Context, span time.Duration) (idleStats, error) {
	before, err := b.snapshot(ctx)
	if err != nil {
		return idleStats{}, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return idleStats{}, ctx.Err()
	case <-time.After(span):
	}
	after, err := b.snapshot(ctx)
	if err != nil {
		return idleStats{}, err
	}
	d := diff(before, after)
	return idleStats{span: time.Since(t0), engineCPU: d.engineCPU, commands: d.commands, redisCPU: d.redisCPU}, nil
}

// row is one scenario's line of the table.
type row struct {
	name                          string
	events                        int // accepted by the API
	delivered, lost, dup, refused int
	deliveriesPerSec              float64
	requestsPerSec, eventsPerSec  float64
	p50, p99, max                 time.Duration
	engineCPU, redisCPU           time.Duration // per delivery
	commands                      float64       // per delivery
	rssKB                         int64
	masters                       []masterShare // on a cluster: each master's share
}

// masterShare is one master's share of a scenario: the run's keys it holds
// at the end, and the commands it served during the scenario.
type masterShare struct {
	addr     string
	keys     int
	commands int64
	keysPct  float64
	cmdsPct  float64
}

// shares computes each master's share of keys and commands, in the order
// of masters.
func shares(masters []string, keys map[string]int, commands map[string]int64) []masterShare {
	var tk, tc float64
	for _, m := range masters {
		tk += float64(keys[m])
		tc += float64(commands[m])
	}
	out := make([]masterShare, 0, len(masters))
	for _, m := range masters {
		s := masterShare{addr: m, keys: keys[m], commands: commands[m]}
		if tk > 0 {
			s.keysPct = 100 * float64(s.keys) / tk
		}
		if tc > 0 {
			s.cmdsPct = 100 * float64(s.commands) / tc
		}
		out = append(out, s)
	}
	return out
}

// scenario runs one scenario on the events lo ≤ seq < hi and returns its
// row and notes.
func (b *bench) scenario(ctx context.Context, name string, lo, hi int) (row, []string, error) {
	var notes []string
	hwmReset := true
	for _, e := range b.engines {
		if err := resetPeakRSS(e.pid()); err != nil {
			hwmReset = false
		}
	}
	if !hwmReset {
		notes = append(notes, name+": the peak RSS could not be reset (clear_refs); it is the peak since the engine started")
	}
	before, err := b.snapshot(ctx)
	if err != nil {
		return row{}, nil, err
	}
	b.logf("%s: sending %d events", name, hi-lo)
	var st sendStats
	switch name {
	case "single":
		st = b.send.flood(ctx, lo, hi, 1, b.cfg.clients)
	case "batch":
		st = b.send.flood(ctx, lo, hi, b.cfg.batchSize, b.cfg.batchClients)
	case "latency":
		st = b.send.paced(ctx, lo, hi, b.cfg.rate, b.cfg.clients)
		span := time.Duration(st.lastDone - st.firstSend)
		notes = append(notes, fmt.Sprintf("latency: paced at %d events/s, achieved %s events/s over %s", b.cfg.rate,
			thousands(float64(st.requests)/span.Seconds()), span.Round(time.Millisecond)))
	}
	if err := ctx.Err(); err != nil {
		return row{}, nil, err
	}
	if err := b.checkEngines(); err != nil {
		return row{}, nil, err
	}
	accepted := st.accepted(b.send.ok)
	wrongBefore := b.tally.wrongArrivals()
	sum, err := b.waitDelivered(ctx, st, accepted*b.cfg.matching)
	if err != nil {
		return row{}, nil, err
	}
	b.settle(ctx)
	after, err := b.snapshot(ctx)
	if err != nil {
		return row{}, nil, err
	}
	d := diff(before, after)

	r := row{name: name, events: accepted, delivered: sum.delivered, lost: sum.lost, dup: sum.dup, refused: st.refused}
	if span := time.Duration(st.lastDone - st.firstSend); span > 0 {
		r.requestsPerSec = float64(st.requests) / span.Seconds()
		r.eventsPerSec = float64(accepted) / span.Seconds()
	}
	if span := time.Duration(sum.last - st.firstSend); sum.delivered > 0 && span > 0 {
		r.deliveriesPerSec = float64(sum.delivered) / span.Seconds()
	}
	lat := make([]time.Duration, 0, sum.delivered)
	for seq := lo; seq < hi; seq++ {
		for hook := range b.cfg.matching {
			if at := b.tally.firstArrival(seq, hook); at > 0 && b.send.ok[seq] {
				lat = append(lat, time.Duration(at-b.send.started[seq]))
			}
		}
	}
	r.p50, r.p99, r.max = latencies(lat)
	if sum.delivered > 0 {
		r.engineCPU = d.engineCPU / time.Duration(sum.delivered)
		r.redisCPU = d.redisCPU / time.Duration(sum.delivered)
		r.commands = float64(d.commands) / float64(sum.delivered)
	}
	for _, e := range b.engines {
		if kb, err := peakRSS(e.pid()); err == nil {
			r.rssKB = max(r.rssKB, kb)
		}
	}
	if b.mon.cluster != nil {
		keys, err := b.mon.keysPerMaster(ctx, b.prefix)
		if err != nil {
			return row{}, nil, err
		}
		r.masters = shares(b.masters, keys, d.perMaster)
	}

	if st.refused > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d requests refused, the first: %s", name, st.refused, st.firstErr))
	}
	if sum.extraIDs > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d deliveries (event and webhook) arrived under more than one webhook-id (delivered as separate deliveries)", name, sum.extraIDs))
	}
	if sum.unasked > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d events arrived although their request was refused", name, sum.unasked))
	}
	if n := b.tally.wrongArrivals() - wrongBefore; n > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d arrivals at webhooks whose condition (%s) no event meets", name, n, skipCondition))
	}
	if sum.lost > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d deliveries of accepted events had not arrived %s after the last send", name, sum.lost, b.cfg.wait))
	}
	if sum.delivered > 0 {
		notes = append(notes, fmt.Sprintf("%s: Redis commands per delivery, the most frequent: %s; loadbench itself used %s CPU",
			name, topCommands(d.calls, sum.delivered, 8), d.selfCPU.Round(10*time.Millisecond)))
	}
	b.logf("%s: %d of %d expected deliveries (%d accepted events × %d matching webhooks)", name, sum.delivered,
		accepted*b.cfg.matching, accepted, b.cfg.matching)
	return r, notes, nil
}

// checkEngines fails when an engine process has exited.
func (b *bench) checkEngines() error {
	for _, e := range b.engines {
		if e.exited() {
			return fmt.Errorf("assethooks at %s exited (%v):\n%s", e.url, e.err, e.logs)
		}
	}
	return nil
}

// waitDelivered waits until the expected deliveries of st's accepted
// events have arrived, or until -wait after the last send.
func (b *bench) waitDelivered(ctx context.Context, st sendStats, expected int) (summary, error) {
	deadline := time.NewTimer(b.cfg.wait - time.Since(b.send.start.Add(time.Duration(st.lastDone))))
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	for {
		sum := b.tally.summarize(st.lo, st.hi, b.send.ok)
		if sum.delivered >= expected {
			return sum, nil
		}
		if time.Since(lastLog) > 5*time.Second {
			b.logf("waiting: %d of %d delivered", sum.delivered, expected)
			lastLog = time.Now()
		}
		if err := b.checkEngines(); err != nil {
			return sum, err
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-deadline.C:
			return b.tally.summarize(st.lo, st.hi, b.send.ok), nil
		case <-tick.C:
		}
	}
}

// settle waits, up to 5 s, until the engines have finished recording what
// they delivered: until their CPU use over 200 ms stays under 20 ms.
func (b *bench) settle(ctx context.Context) {
	const window, quiet = 200 * time.Millisecond, 2 // ticks
	prev, err := b.engineTicks()
	if err != nil {
		return
	}
	tick := time.NewTicker(window)
	defer tick.Stop()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now, err := b.engineTicks()
		if err != nil || now-prev <= quiet {
			return
		}
		prev = now
	}
}

// topCommands lists the n most called commands, per delivery.
func topCommands(calls map[string]int64, deliveries, n int) string {
	names := slices.Collect(maps.Keys(calls))
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(calls[b], calls[a]), cmp.Compare(a, b))
	})
	var parts []string
	for _, name := range names[:min(n, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, float64(calls[name])/float64(deliveries)))
	}
	return strings.Join(parts, ", ")
}

// header is what the output says about the run before the table.
type header struct {
	machine, commit, redis, prefix string
	procs, webhooks, matching      int
	workers                        int
	cluster                        bool
	binary, command, settings      string
	idle                           idleStats
}

func (h header) print(w io.Writer) {
	workers := "the engine's default"
	if h.workers > 0 {
		workers = strconv.Itoa(h.workers)
	}
	fmt.Fprintf(w, "## loadbench, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %s\n", h.machine)
	fmt.Fprintf(w, "- commit: %s\n", h.commit)
	fmt.Fprintf(w, "- redis: %s (key prefix %s, deleted afterwards)\n", h.redis, h.prefix)
	fmt.Fprintf(w, "- engine: %d process(es), binary %s, ASSETHOOKS_WORKERS %s\n", h.procs, h.binary, workers)
	fmt.Fprintf(w, "- webhooks: %d to the receiver, %d matching every event (no condition), %d with a condition no event meets (`%s`); deliveries are events × %d\n",
		h.webhooks, h.matching, h.webhooks-h.matching, skipCondition, h.matching)
	fmt.Fprintf(w, "- command: `%s`\n", h.command)
	fmt.Fprintf(w, "- settings: `%s`\n", h.settings)
	s := h.idle.span.Seconds()
	fmt.Fprintf(w, "- idle, %.1f s before the scenarios: engine CPU %.1f%% of a core, Redis %s commands/s and CPU %.1f%% of a core (every client of that Redis)\n",
		s, 100*h.idle.engineCPU.Seconds()/s, thousands(float64(h.idle.commands)/s), 100*h.idle.redisCPU.Seconds()/s)
	if h.cluster {
		fmt.Fprintln(w, "- on the cluster, Redis CPU is summed over its six nodes (the replicas replay what their masters write) and Redis commands over its three masters; the share of each master follows the table")
	}
	fmt.Fprintln(w, "- latency is from the start of the ingest request to the first arrival of each delivery at the receiver; CPU, RSS and Redis figures cover the scenario from its first send until the engines are idle again; CPU is summed over the engine processes, RSS is the largest process's peak")
	fmt.Fprintln(w)
}

var columns = []string{"scenario", "events", "deliveries/s", "ingest req/s", "ingest events/s", "p50 ms", "p99 ms", "max ms",
	"engine CPU µs/delivery", "Redis CPU µs/delivery", "Redis cmds/delivery", "engine peak RSS MB", "lost", "dup", "refused"}

func printTableHead(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(columns, " | ")+" |")
	seps := make([]string, len(columns))
	for i := range seps {
		seps[i] = "---:"
	}
	seps[0] = "---"
	fmt.Fprintln(w, "| "+strings.Join(seps, " | ")+" |")
}

// cells formats the row's values in the order of columns.
func (r row) cells() []string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 2, 64) }
	us := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64)
	}
	perDelivery := []string{"–", "–", "–", "–", "–", "–"}
	if r.delivered > 0 {
		perDelivery = []string{ms(r.p50), ms(r.p99), ms(r.max), us(r.engineCPU), us(r.redisCPU), strconv.FormatFloat(r.commands, 'f', 1, 64)}
	}
	c := []string{r.name, thousands(float64(r.events)), thousands(r.deliveriesPerSec), thousands(r.requestsPerSec), thousands(r.eventsPerSec)}
	c = append(c, perDelivery...)
	return append(c, strconv.FormatFloat(float64(r.rssKB)/1024, 'f', 0, 64), strconv.Itoa(r.lost), strconv.Itoa(r.dup), strconv.Itoa(r.refused))
}

func (r row) print(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(r.cells(), " | ")+" |")
}

// thousands rounds f to an integer written with thousands separators.
func thousands(f float64) string {
	s := strconv.FormatFloat(f, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// printShares prints, for a cluster run, each master's share of the run's
// keys (at the end of each scenario) and of the commands (during it).
func printShares(w io.Writer, rows []row) {
	if len(rows) == 0 || len(rows[0].masters) == 0 {
		return
	}
	fmt.Fprintln(w, "| scenario | master | keys at the end | share of keys | commands served | share of commands |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		for _, m := range r.masters {
			fmt.Fprintf(w, "| %s | %s | %s | %.1f%% | %s | %.1f%% |\n", r.name, m.addr, thousands(float64(m.keys)),
				m.keysPct, thousands(float64(m.commands)), m.cmdsPct)
		}
	}
	fmt.Fprintln(w)
}
