package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/internal/redistest"
)

// The Redis Cluster tests (SPEC §2, issue 13): three engine processes on
// a real 3-master, 3-replica cluster on loopback, a real receiver, the
// real binary.

// clusterDeployment is a cluster and the engine processes on it.
type clusterDeployment struct {
	cl       *redistest.Cluster
	prefix   string
	children []*child
}

// startClusterDeployment starts a cluster (skipped without redis-server,
// unless REQUIRE_REDIS=1) and procs engine processes on it under a fresh
// prefix; the first one gets the webhook to target (for triggers) before
// the others start, so that each loads it at its start.
func startClusterDeployment(t *testing.T, procs int, target string, triggers []string, env ...string) *clusterDeployment {
	t.Helper()
	d := &clusterDeployment{cl: redistest.StartCluster(t), prefix: redistest.Prefix()}
	for i := range procs {
		c := serveChild(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), d.cl.URL(), d.prefix, env...)
		d.children = append(d.children, c)
		if i == 0 {
			st, body, err := call(http.DefaultClient, "POST", c.url+"/api/v2/admin/webhooks",
				map[string]any{"name": "cluster sink", "http_url": target, "trigger_events": triggers})
			if err != nil || st != 200 {
				t.Fatalf("create webhook: %d %s %v", st, body, err)
			}
		}
	}
	return d
}

// exited fails the test when an engine process has ended.
func (d *clusterDeployment) checkAlive(t *testing.T) {
	t.Helper()
	for i, c := range d.children {
		select {
		case <-c.done:
			t.Fatalf("engine process %d exited:\n%s", i, c.logs.String())
		default:
		}
	}
}

// shares reads, per master, the deployment's keys and the commands served
// since the last ResetStats, and logs them.
func (d *clusterDeployment) shares(t *testing.T, what string) (keys, cmds map[string]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	perMaster, err := d.cl.KeysPerMaster(ctx, redistest.Pattern(d.prefix))
	if err != nil {
		t.Fatal(err)
	}
	stats, err := d.cl.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, cmds = map[string]int64{}, map[string]int64{}
	var totalKeys, totalCmds int64
	for _, s := range stats {
		if s.Master {
			keys[s.Addr], cmds[s.Addr] = int64(perMaster[s.Addr]), s.Commands()
			totalKeys += keys[s.Addr]
			totalCmds += cmds[s.Addr]
		}
	}
	for _, s := range stats {
		role := "replica"
		if s.Master {
			role = "master"
		}
		line := fmt.Sprintf("%s: %s %s: DBSIZE %d, commands %d", what, role, s.Addr, s.Keys, s.Commands())
		if s.Master {
			line += fmt.Sprintf(" (%.1f%% of the masters'), deployment keys %d (%.1f%%)",
				pct(cmds[s.Addr], totalCmds), keys[s.Addr], pct(keys[s.Addr], totalKeys))
		}
		t.Log(line)
	}
	return keys, cmds
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// assetSink is a receiver that checks what a cluster delivers: per
// webhook-id how often it arrived, per event its webhook-ids, and per
// asset the sequence numbers seen and whether the changes derived for each
// followed the previous event of that asset.
type assetSink struct {
	*httptest.Server
	mu       sync.Mutex
	perID    map[string]int             // webhook-id → arrivals
	perEvent map[string]map[string]bool // event id → webhook-ids
	perAsset map[string][]int           // asset → seq of each arrival, in arrival order
	badOrder []string                   // deliveries whose changes do not follow the previous event
	total    int
}

func newAssetSink(t *testing.T) *assetSink {
	s := &assetSink{perID: map[string]int{}, perEvent: map[string]map[string]bool{}, perAsset: map[string][]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p struct {
			ID   string
			Data struct {
				Asset struct {
					UUID string
					Meta struct {
						Custom struct{ Seq int }
					}
				}
				Changes []struct {
					Field    string
					Old, New any
				}
			}
		}
		if err := json.Unmarshal(b, &p); err != nil {
			w.WriteHeader(400)
			return
		}
		seq := p.Data.Asset.Meta.Custom.Seq
		// Each event of an asset changes only its seq, by one: the first has
		// no snapshot before it (no changes), the k-th derives k-1 → k.
		ok := len(p.Data.Changes) == 0 && seq == 0
		if c := p.Data.Changes; len(c) == 1 && c[0].Field == "meta.custom.seq" {
			o, _ := c[0].Old.(float64)
			n, _ := c[0].New.(float64)
			ok = int(n) == seq && int(o) == seq-1
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		id := r.Header.Get("webhook-id")
		s.perID[id]++
		if s.perEvent[p.ID] == nil {
			s.perEvent[p.ID] = map[string]bool{}
		}
		s.perEvent[p.ID][id] = true
		s.perAsset[p.Data.Asset.UUID] = append(s.perAsset[p.Data.Asset.UUID], seq)
		if !ok && len(s.badOrder) < 20 {
			s.badOrder = append(s.badOrder, fmt.Sprintf("%s seq %d: changes %+v", p.ID, seq, p.Data.Changes))
		}
		s.total++
	}))
	t.Cleanup(s.Close)
	return s
}

// distinct is the number of distinct events that arrived.
func (s *assetSink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.perEvent)
}

// check reports the events that arrived under more than one webhook-id,
// the webhook-ids that arrived more than once and the out-of-order changes.
func (s *assetSink) check(t *testing.T) (dups int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ev, ids := range s.perEvent {
		if len(ids) != 1 {
			t.Errorf("event %s arrived under %d webhook-ids", ev, len(ids))
		}
	}
	for id, n := range s.perID {
		if n > 1 {
			dups += n - 1
			if dups < 10 {
				t.Errorf("webhook-id %s arrived %d times", id, n)
			}
		}
	}
	for _, b := range s.badOrder {
		t.Errorf("changes not derived from the asset's previous event: %s", b)
	}
	return dups
}

// clusterEvent is event seq of asset a: ASSET_ADDED first, then metadata
// edits, each setting meta.custom.seq.
func clusterEvent(run string, asset, seq int) map[string]any {
	typ := "ASSET_EDITED_METADATA"
	if seq == 0 {
		typ = "ASSET_ADDED"
	}
	return map[string]any{"id": fmt.Sprintf("%s-%d-%d", run, asset, seq), "type": typ,
		"asset": map[string]any{"uuid": fmt.Sprintf("%s-a%d", run, asset), "name": "img.jpg", "mime_type": "image/jpeg",
			"meta": map[string]any{"custom": map[string]any{"seq": seq}}}}
}

// TestClusterDelivery: 20,000 events (4,000 assets, 5 events each, every
// event of an asset sent after the previous one's 202, each round's
// batches spread over the three processes) are delivered exactly once
// each; every asset's changes follow its events' order; every master
// holds at least 20% of the deployment's keys and served at least 20% of
// the commands.
func TestClusterDelivery(t *testing.T) {
	const assets, rounds, perBatch = 4000, 5, 500
	rc := newAssetSink(t)
	d := startClusterDeployment(t, 3, rc.URL, []string{"ASSET_ADDED", "ASSET_EDITED_METADATA"})
	ctx := context.Background()
	if err := d.cl.ResetStats(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	client := &http.Client{Timeout: 10 * time.Second}
	for r := range rounds {
		// The batches of one round go to the processes in turn, three at a
		// time; round r+1 starts once every batch of round r was accepted.
		var wg sync.WaitGroup
		errs := make(chan error, assets/perBatch)
		for b := 0; b < assets/perBatch; b++ {
			wg.Go(func() {
				evs := make([]map[string]any, 0, perBatch)
				for a := b * perBatch; a < (b+1)*perBatch; a++ {
					evs = append(evs, clusterEvent("cd", a, r))
				}
				url := d.children[b%len(d.children)].url + "/api/v2/events"
				st, body, err := call(client, "POST", url, map[string]any{"events": evs})
				if err != nil || st != http.StatusAccepted {
					errs <- fmt.Errorf("round %d batch %d: %d %s %v", r, b, st, body, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	accepted := time.Since(start)
	const n = assets * rounds
	redistest.Eventually(t, 3*time.Minute, func() bool { return rc.distinct() >= n }, "all %d events delivered", n)
	delivered := time.Since(start)
	d.checkAlive(t)
	// A duplicate would come after its original: give one a moment to show
	// (a take-over waits ASSETHOOKS_CLAIM_IDLE, 2 s here) by waiting until
	// the processes have nothing pending.
	waitIdle(t, d)
	dups := rc.check(t)
	rc.mu.Lock()
	total := rc.total
	for a, seqs := range rc.perAsset {
		if len(seqs) != rounds {
			t.Errorf("asset %s: %d deliveries, want %d", a, len(seqs), rounds)
		}
	}
	rc.mu.Unlock()
	if total != n || dups != 0 {
		t.Errorf("receiver got %d requests for %d events (%d duplicates); want each exactly once", total, n, dups)
	}
	t.Logf("cluster delivery: %d events accepted in %s, delivered exactly once each within %s (%.0f/s), 3 processes",
		n, accepted.Round(time.Millisecond), delivered.Round(time.Millisecond), float64(n)/delivered.Seconds())
	keys, cmds := d.shares(t, "cluster delivery")
	var tk, tc int64
	for a := range keys {
		tk += keys[a]
		tc += cmds[a]
	}
	if len(keys) != 3 {
		t.Fatalf("%d masters, want 3", len(keys))
	}
	for a := range keys {
		if pct(keys[a], tk) < 20 {
			t.Errorf("master %s holds %d of the deployment's %d keys (%.1f%%), want at least 20%%", a, keys[a], tk, pct(keys[a], tk))
		}
		if pct(cmds[a], tc) < 20 {
			t.Errorf("master %s served %d of the masters' %d commands (%.1f%%), want at least 20%%", a, cmds[a], tc, pct(cmds[a], tc))
		}
	}
}

// waitIdle waits until the webhook's queue and retry queue are empty, as
// the first process reports them.
func waitIdle(t *testing.T, d *clusterDeployment) {
	t.Helper()
	redistest.Eventually(t, 30*time.Second, func() bool {
		st, body, err := call(http.DefaultClient, "GET", d.children[0].url+"/api/v2/admin/webhooks/1", nil)
		if err != nil || st != 200 {
			return false
		}
		var v struct {
			Webhook struct {
				Queue int `json:"queue_length"`
				Retry int `json:"retry_queue_length"`
			}
		}
		return json.Unmarshal(body, &v) == nil && v.Webhook.Queue == 0 && v.Webhook.Retry == 0
	}, "the webhook's queues empty")
}

// answer is one ingest request of the failover test's load.
type answer struct {
	proc     int
	at       time.Time // when the answer came
	accepted bool      // 2xx
	status   int
	ids      []string
}

// TestClusterFailover: under a steady load on three processes, the master
// of the deployment's first partition is killed (SIGKILL) and its replica
// promoted. No event whose request got a 2xx is lost or delivered twice,
// the processes go on without a restart, and ingest is accepted again
// within 5 s of the promotion.
func TestClusterFailover(t *testing.T) {
	rc := newAssetSink(t)
	// The take-over delay (2 s) is shorter than the outage (about 4 s): no
	// lease could be renewed while the master was down, and the engines
	// wait two renewals after a Redis failure before taking anything over,
	// so no delivery a live process holds is sent a second time.
	d := startClusterDeployment(t, 3, rc.URL, []string{"ASSET_ADDED"}, "ASSETHOOKS_CLAIM_IDLE=2s")
	ctx := context.Background()

	var mu sync.Mutex
	var answers []answer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p, c := range d.children {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			tick := time.NewTicker(20 * time.Millisecond) // pacing the load, not synchronising
			defer tick.Stop()
			for i := 0; i < 5000; i++ { // at most 100 s of load
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				evs := make([]map[string]any, 10)
				ids := make([]string, len(evs))
				for j := range evs {
					evs[j] = clusterEvent(fmt.Sprintf("fo%d", p), i*len(evs)+j, 0)
					ids[j] = evs[j]["id"].(string)
				}
				st, _, err := call(client, "POST", c.url+"/api/v2/events", map[string]any{"events": evs})
				a := answer{proc: p, at: time.Now(), status: st, accepted: err == nil && st/100 == 2, ids: ids}
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
			}
		})
	}
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()
	count := func() (acc int) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range answers {
			if a.accepted {
				acc++
			}
		}
		return acc
	}
	redistest.Eventually(t, 30*time.Second, func() bool { return count() >= 100 && rc.distinct() >= 500 }, "load before the kill")

	victim, err := d.cl.MasterOf(ctx, d.prefix)
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.cl.Kill(ctx, victim, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover: killed master %s, replica %s promoted %s later", f.Killed, f.Promoted, f.Took().Round(time.Millisecond))

	// Load goes on until every process has answered 2xx for 3 s on end
	// after the promotion, or 70 s have passed (go-redis's own refresh of
	// its slot map comes after 60 s: the figures then say what it was).
	back := poll(70*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for p := range d.children {
			since := time.Time{}
			for _, a := range answers {
				if a.proc != p || a.at.Before(f.PromotedAt) {
					continue
				}
				if !a.accepted {
					since = time.Time{}
				} else if since.IsZero() {
					since = a.at
				}
			}
			if since.IsZero() || time.Since(since) < 3*time.Second {
				return false
			}
		}
		return true
	})
	halt()
	d.checkAlive(t)

	mu.Lock()
	all := slices.Clone(answers)
	mu.Unlock()
	var lastRefused time.Time
	var refused, acceptedN int
	var ids []string
	for _, a := range all {
		if a.accepted {
			acceptedN++
			ids = append(ids, a.ids...)
			continue
		}
		refused++
		if a.at.After(lastRefused) {
			lastRefused = a.at
		}
	}
	t.Logf("failover: answers per second from the killing (accepted/refused): %s", timeline(all, f.KilledAt))
	recovered := time.Duration(0)
	if lastRefused.After(f.PromotedAt) {
		recovered = lastRefused.Sub(f.PromotedAt)
	}
	t.Logf("failover: %d requests accepted, %d refused; the last refusal %s after the killing, %s after the promotion",
		acceptedN, refused, lastRefused.Sub(f.KilledAt).Round(time.Millisecond), recovered.Round(time.Millisecond))
	if !back {
		t.Errorf("the processes were not all accepting ingest 70s after the promotion")
	}
	if recovered > 5*time.Second {
		t.Errorf("ingest refused until %s after the promotion; want accepted again within 5s", recovered.Round(time.Millisecond))
	}

	missing := func() (out []string) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, id := range ids {
			if rc.perEvent[id] == nil {
				out = append(out, id)
			}
		}
		return out
	}
	if !poll(2*time.Minute, func() bool { return len(missing()) == 0 }) {
		// Say where each missing event is: its answer's time, and what the
		// engine's history and trace say of it.
		at := map[string]time.Time{}
		for _, a := range all {
			for _, id := range a.ids {
				at[id] = a.at
			}
		}
		client := &http.Client{Timeout: 5 * time.Second}
		for i, id := range missing() {
			if i == 20 {
				break
			}
			st, body, _ := call(client, "GET", d.children[0].url+"/api/v2/admin/events/"+id+"/trace", nil)
			t.Errorf("%s, accepted %s after the killing, never delivered: trace %d %.300s", id, at[id].Sub(f.KilledAt).Round(time.Millisecond), st, body)
		}
		t.Fatalf("%d accepted events not delivered within 2m", len(missing()))
	}
	waitIdle(t, d)
	d.checkAlive(t)
	dups := rc.check(t)
	rc.mu.Lock()
	total, distinct := rc.total, len(rc.perEvent)
	rc.mu.Unlock()
	t.Logf("failover: %d accepted events all delivered; the receiver got %d events in %d requests (%d duplicates)",
		len(ids), distinct, total, dups)
	if dups != 0 {
		t.Errorf("%d deliveries arrived twice", dups)
	}
	var sorted []string
	for _, c := range d.children {
		if l := c.logs.String(); strings.Contains(l, "panic") {
			sorted = append(sorted, l)
		}
	}
	sort.Strings(sorted)
	for _, l := range sorted {
		t.Errorf("panic in an engine's output:\n%s", l)
	}
}

// timeline sums the answers per second from t0: "+0s 30/0 +1s 12/9 …".
func timeline(all []answer, t0 time.Time) string {
	var acc, ref []int
	for _, a := range all {
		if a.at.Before(t0) {
			continue
		}
		i := int(a.at.Sub(t0) / time.Second)
		for len(acc) <= i {
			acc, ref = append(acc, 0), append(ref, 0)
		}
		if a.accepted {
			acc[i]++
		} else {
			ref[i]++
		}
	}
	var b strings.Builder
	for i := range acc {
		fmt.Fprintf(&b, " +%ds %d/%d", i, acc[i], ref[i])
	}
	return strings.TrimSpace(b.String())
}

// poll reports whether cond held within the deadline, checking it every
// 10 ms.
func poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
	return true
}

// unreachable tells a failure to reach Redis from an answer of Redis: only
// the first asks the cluster client for a fresh slot map.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{refused, true},
		{fmt.Errorf("store: %w", refused), true},
		{io.EOF, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
	} {
		if got := unreachable(tt.err); got != tt.want {
			t.Errorf("unreachable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	// An error Redis answered (an unknown command here; MOVED, NOSCRIPT or
	// a script's error alike).
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	if err := rdb.Do(context.Background(), "NOSUCHCOMMAND").Err(); err == nil || unreachable(err) {
		t.Errorf("unreachable(%v) = true, want false", err)
	}
}
