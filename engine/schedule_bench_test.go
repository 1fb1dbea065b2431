package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/internal/secret"
)

// benchAssets is how many snapshots one benchmarked tick walks.
const benchAssets = 100_000

// BenchmarkScheduleTick: one tick of a schedule over 100,000 stored
// snapshots in the real Redis (written with pipelined SETs under a test
// prefix), evaluated in the engine. It reports the tick's time, the peak Go
// heap in use and the peak resident size during the tick (above what the
// process held before it), and the slowest PING another client saw meanwhile
// (Redis is not blocked: SCAN COUNT and MGET of one batch at a time).
//
//	go test -run '^$' -bench ScheduleTick -benchtime 1x ./engine/
func BenchmarkScheduleTick(b *testing.B) {
	rdb, prefix := redistest.Open(b, redistest.Real)
	writeSnapshots(b, rdb, prefix, benchAssets)
	box, _ := secret.NewBox("test-secret-key-0123456789abcdef-0123456789")
	e, err := engine.New(store.New(rdb, prefix), engine.Config{Box: box, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		cond   string
		action engine.ScheduleAction
	}{
		// 1% of the assets are in review: 1,000 ASSET_SCHEDULED events queued.
		{"events-1pct", `asset.meta?.custom?.status == "review"`, engine.ScheduleAction{}},
		// The cookbook's "still in review for 7 days": change times read per batch.
		{"since", `asset.meta?.custom?.status == "review" && since("meta.custom.status") > duration("168h")`, engine.ScheduleAction{}},
		// Every asset matches: one digest of the first 1,000 by asset id, truncated.
		{"digest-all", `len(asset.tags ?? []) >= 0`, engine.ScheduleAction{Type: engine.ScheduleDigest}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			s := &engine.Schedule{Name: bc.name, Cron: never, Condition: bc.cond, Action: bc.action}
			if s.Action.Type == engine.ScheduleDigest {
				w := benchHook(b, e)
				s.Action.WebhookIDs = []int64{w}
			}
			if err := e.Schedules().Create(ctx, s); err != nil {
				b.Fatal(err)
			}
			var last *engine.ScheduleRun
			var peak peaks
			b.ResetTimer()
			keys, _ := rdb.DBSize(ctx).Result() // SCAN walks the whole database, other tests' keys too
			before := commandStats(b, rdb)
			for i := 0; i < b.N; i++ {
				runtime.GC()
				stop := peak.watch(rdb)
				run, err := e.Schedules().Run(ctx, s.ID)
				stop()
				if err != nil {
					b.Fatal(err)
				}
				last = run
			}
			b.StopTimer()
			busy := commandStats(b, rdb).minus(before)
			perTick := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(perTick.Milliseconds()), "ms/tick")
			b.ReportMetric(float64(benchAssets)/perTick.Seconds(), "assets/s")
			b.ReportMetric(float64(peak.heap)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(peak.rss)/(1<<20), "peak-rss-MiB")
			b.ReportMetric(float64(peak.ping.Microseconds())/1000, "max-ping-ms")
			b.ReportMetric(busy.perCall("scan"), "scan-us/call")
			b.ReportMetric(busy.perCall("mget"), "mget-us/call")
			b.ReportMetric(float64(keys), "db-keys")
			b.Logf("%s: %d snapshots in %s (%d matched), peak heap in use %.1f MiB (%.1f MiB above the start), peak RSS %.1f MiB (%.1f above); "+
				"Redis (%d keys in the database) spent %.0f us per SCAN (%d calls) and %.0f us per MGET; slowest PING seen by a client in this busy process %s",
				bc.name, benchAssets, perTick.Round(time.Millisecond), last.Matched, float64(peak.heap)/(1<<20),
				float64(peak.heap-peak.heap0)/(1<<20), float64(peak.rss)/(1<<20), float64(peak.rss-peak.rss0)/(1<<20),
				keys, busy.perCall("scan"), busy["scan"].calls, busy.perCall("mget"), peak.ping.Round(100*time.Microsecond))
			// Drop what the tick queued, so the next case starts alike.
			for _, pp := range partPrefixes(rdb, prefix) {
				rdb.Del(ctx, pp+":events")
			}
		})
	}
}

// writeSnapshots stores n snapshots of about 500 bytes, pipelined in
// batches of 1,000 SETs: 1% in review, half of those for 10 days.
func writeSnapshots(b *testing.B, rdb redis.UniversalClient, prefix string, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	st := store.New(rdb, prefix)
	for i := 0; i < n; i += 1000 {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < min(i+1000, n); j++ {
				uuid := fmt.Sprintf("%08d-7f3a-4a55-9d3e-1c2b3a4d5e6f", j)
				status := "approved"
				if j%100 == 0 {
					status = "review"
				}
				a := map[string]any{"uuid": uuid, "name": "banner-" + strconv.Itoa(j) + ".jpg", "path": "/marketing/2026/summer",
					"size": 482133 + j, "mime_type": "image/jpeg", "cdn_url": "https://cdn.example.com/banner-" + strconv.Itoa(j) + ".jpg",
					"image": map[string]any{"width": 2400, "height": 1200}, "info": map[string]any{"title": "Summer banner", "description": "Hero image for the summer campaign"},
					"tags": []any{"summer", "hero"}, "meta": map[string]any{"custom": map[string]any{"status": status, "owner": "ana"}},
					"created_at": now.Add(-time.Duration(j) * time.Minute).Format(time.RFC3339)}
				raw, _ := json.Marshal(a)
				pp := st.PartitionPrefix(st.Partition(uuid, ""))
				p.Set(ctx, pp+":asset:"+uuid, raw, 0)
				if status == "review" && j%200 == 0 {
					p.HSet(ctx, pp+":since:"+uuid, "", now.Add(-10*24*time.Hour).UnixMilli(),
						"meta.custom.status", now.Add(-10*24*time.Hour).UnixMilli())
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchHook(b *testing.B, e *engine.Engine) int64 {
	b.Helper()
	c, err := actions.DecodeConfig(map[string]any{"http_url": "http://127.0.0.1:9/digest"})
	if err != nil {
		b.Fatal(err)
	}
	w := &engine.Webhook{Name: "digest", Triggers: []string{"ASSET_ADDED"}, WebhookConfig: c}
	if err := e.Webhooks().Create(context.Background(), w); err != nil {
		b.Fatal(err)
	}
	return w.ID
}

// peaks samples, while a tick runs, the Go heap in use, the resident size
// and the latency of a PING from a client of its own.
type peaks struct {
	heap0, heap uint64
	rss0, rss   uint64
	ping        time.Duration
}

func (p *peaks) watch(rdb redis.UniversalClient) (stop func()) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.heap0, p.heap = ms.HeapInuse, ms.HeapInuse
	p.rss0 = rss()
	p.rss = p.rss0
	opts := *rdb.(*redis.Client).Options()
	opts.PoolSize = 1
	pinger := redis.NewClient(&opts)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			p.heap = max(p.heap, ms.HeapInuse)
			p.rss = max(p.rss, rss())
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			start := time.Now()
			if pinger.Ping(context.Background()).Err() == nil {
				p.ping = max(p.ping, time.Since(start))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		pinger.Close()
	}
}

// cmdStats are Redis's own counts per command: calls and microseconds spent.
type cmdStats map[string]struct{ calls, usec int64 }

// commandStats reads INFO commandstats (cmdstat_scan:calls=…,usec=…,…).
func commandStats(b *testing.B, rdb redis.UniversalClient) cmdStats {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	out := cmdStats{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var st struct{ calls, usec int64 }
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				st.calls = n
			case "usec":
				st.usec = n
			}
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = st
	}
	return out
}

func (c cmdStats) minus(o cmdStats) cmdStats {
	out := cmdStats{}
	for k, v := range c {
		out[k] = struct{ calls, usec int64 }{v.calls - o[k].calls, v.usec - o[k].usec}
	}
	return out
}

func (c cmdStats) perCall(cmd string) float64 {
	if c[cmd].calls == 0 {
		return 0
	}
	return float64(c[cmd].usec) / float64(c[cmd].calls)
}

// rss is the process's resident size (VmRSS), 0 where /proc is missing.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
