package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// monitor is loadbench's own connection to Redis: INFO before and after
// each scenario, and SCAN+DEL of the run's keys at the end. It counts the
// commands it sends, so that they can be taken out of the server's totals.
type monitor struct {
	rdb  *redis.Client
	sent atomic.Int64
}

// countHook counts every command a client sends.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

var _ redis.Hook = countHook{}

// checkLoopback refuses an address whose host is not a loopback IP or
// localhost: loadbench sends traffic to this machine only.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-redis %q: want host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-redis %q: loadbench only talks to loopback addresses (127.0.0.1, ::1, localhost)", addr)
	}
	return nil
}

// openMonitor connects to the Redis at addr and returns its version.
func openMonitor(ctx context.Context, addr string) (*monitor, string, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, "", err
	}
	m := &monitor{rdb: redis.NewClient(&redis.Options{Addr: addr, PoolSize: 2, ReadTimeout: 10 * time.Second, ContextTimeoutEnabled: true})}
	m.rdb.AddHook(countHook{n: &m.sent})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := m.rdb.Info(ctx, "server").Result()
	if err != nil {
		m.rdb.Close()
		return nil, "", fmt.Errorf("redis at %s: %w (start one with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no)", addr, err)
	}
	version := "?"
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			version = v
		}
	}
	return m, version, nil
}

// stats reads INFO cpu and commandstats in one call. The timeout is
// generous: on a 2-core machine under load the answer may be slow to be read.
func (m *monitor) stats(ctx context.Context) (redisStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	text, err := m.rdb.Info(ctx, "cpu", "commandstats").Result()
	if err != nil {
		return redisStats{}, fmt.Errorf("redis info: %w", err)
	}
	return parseInfo(text)
}

// clean deletes every key under prefix, by SCAN and DEL; it never flushes.
func (m *monitor) clean(prefix string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deleted := 0
	iter := m.rdb.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := m.rdb.Del(ctx, batch...).Result()
		deleted += int(n)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return deleted, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return deleted, err
	}
	return deleted, flush()
}

// globEscape escapes the characters SCAN MATCH treats as pattern syntax.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (m *monitor) close() { m.rdb.Close() }
