package main

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/internal/redistest"
)

// TestSmoke runs the real binary on the real Redis with a few hundred
// events through every scenario and checks that each arrived exactly once
// and that the table has a row per scenario.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the engine")
	}
	addr := redistest.Addr()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if redistest.Required() {
			t.Fatalf("REQUIRE_REDIS=1 but no Redis at %s: %v", addr, err)
		}
		t.Skipf("no Redis at %s (set REQUIRE_REDIS=1 to make this a failure): %v", addr, err)
	}
	conn.Close()

	cfg, err := parseFlags([]string{"-redis", addr, "-events", "300", "-clients", "8", "-batch-size", "50", "-batch-clients", "2",
		"-rate", "300", "-duration", "1s", "-wait", "20s", "-timeout", "2m"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, progress bytes.Buffer
	rows, err := run(ctx, cfg, &out, &progress)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s\noutput:\n%s", err, &progress, &out)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3:\n%s", len(rows), &out)
	}
	for i, name := range []string{"single", "batch", "latency"} {
		r := rows[i]
		if r.name != name || r.events != 300 || r.delivered != 300 || r.lost != 0 || r.dup != 0 || r.refused != 0 {
			t.Errorf("row %d = %+v, want %s with 300 events delivered once each", i, r, name)
		}
		if r.deliveriesPerSec <= 0 || r.engineCPU <= 0 || r.commands <= 0 || r.rssKB <= 0 || r.p50 <= 0 || r.p99 < r.p50 || r.max < r.p99 {
			t.Errorf("row %d has an implausible figure: %+v", i, r)
		}
		if !strings.Contains(out.String(), "| "+name+" | 300 |") {
			t.Errorf("no table row for %s:\n%s", name, &out)
		}
	}
	for _, want := range []string{"- machine: ", "- commit: ", "- redis: ", "| scenario | events | deliveries/s |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	_, rest, _ := strings.Cut(out.String(), "key prefix ")
	prefix, _, _ := strings.Cut(rest, ",")
	if !strings.HasPrefix(prefix, "{bench") {
		t.Fatalf("no key prefix in the header:\n%s", &out)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	left := 0
	iter := rdb.Scan(ctx, 0, redistest.Pattern(prefix), 1000).Iterator()
	for iter.Next(ctx) {
		left++
	}
	if left > 0 || iter.Err() != nil {
		t.Errorf("keys left under %s: %d (%v)", prefix, left, iter.Err())
	}
}

// TestSmokeCluster runs the real binary with two processes on a Redis
// Cluster loadbench starts itself, a few hundred events through two
// scenarios: each arrives exactly once, and the shares table names the
// three masters with shares adding up to the whole.
func TestSmokeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the engine on a cluster")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if redistest.Required() {
			t.Fatal("REQUIRE_REDIS=1 but no redis-server")
		}
		t.Skip("no redis-server (set REQUIRE_REDIS=1 to make this a failure)")
	}
	cfg, err := parseFlags([]string{"-cluster", "-procs", "2", "-events", "300", "-clients", "8", "-batch-size", "50", "-batch-clients", "2",
		"-scenarios", "single,batch", "-wait", "30s", "-timeout", "2m"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, progress bytes.Buffer
	rows, err := run(ctx, cfg, &out, &progress)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s\noutput:\n%s", err, &progress, &out)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2:\n%s", len(rows), &out)
	}
	for _, r := range rows {
		if r.events != 300 || r.delivered != 300 || r.lost != 0 || r.dup != 0 || r.refused != 0 || r.commands <= 0 || r.redisCPU <= 0 {
			t.Errorf("row %+v, want 300 events delivered once each", r)
		}
		var keys, cmds float64
		for _, m := range r.masters {
			keys += m.keysPct
			cmds += m.cmdsPct
		}
		if len(r.masters) != 3 || keys < 99.9 || keys > 100.1 || cmds < 99.9 || cmds > 100.1 {
			t.Errorf("%s: shares %+v, want three masters adding up to 100%%", r.name, r.masters)
		}
	}
	for _, want := range []string{"- redis: Redis Cluster ", "| scenario | master | keys at the end |", "-cluster -events 300"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
}
