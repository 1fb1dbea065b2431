package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/internal/redistest"
)

// monitor is loadbench's own connection to Redis: INFO before and after
// each scenario, and SCAN+DEL of the run's keys at the end. It counts the
// commands it sends to the nodes whose commands it sums (the masters), so
// that they can be taken out of the server's totals. On a single Redis it
// has one node; on a cluster (-cluster) every node, masters first.
type monitor struct {
	nodes   []monNode
	cluster *redistest.Cluster // nil on a single Redis
	sent    atomic.Int64
}

// monNode is one Redis server the monitor reads.
type monNode struct {
	addr   string
	master bool
	rdb    *redis.Client
}

// countHook counts every command a client sends.
type countHook struct{ n *atomic.Int64 }

// DialHook leaves dialling alone.
func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts one command.
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts a pipeline's commands.
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
	m := &monitor{}
	m.add(addr, true)
	version, err := m.version(ctx)
	if err != nil {
		m.close()
		return nil, "", fmt.Errorf("redis at %s: %w (start one with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no)", addr, err)
	}
	return m, version, nil
}

// openClusterMonitor connects to every node of the cluster and returns the
// Redis version and the addresses of its masters.
func openClusterMonitor(ctx context.Context, cl *redistest.Cluster) (*monitor, string, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	m := &monitor{cluster: cl}
	var masters []string
	for _, master := range []bool{true, false} {
		for _, n := range nodes {
			if (n.Master && len(n.Slots) > 0) == master {
				if err := checkLoopback(n.Addr); err != nil {
					m.close()
					return nil, "", nil, err
				}
				m.add(n.Addr, master)
				if master {
					masters = append(masters, n.Addr)
				}
			}
		}
	}
	version, err := m.version(ctx)
	if err != nil {
		m.close()
		return nil, "", nil, err
	}
	return m, version, masters, nil
}

// add connects to one node; the commands sent to a master are counted.
func (m *monitor) add(addr string, master bool) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 2, ReadTimeout: 10 * time.Second, ContextTimeoutEnabled: true})
	if master {
		rdb.AddHook(countHook{n: &m.sent})
	}
	m.nodes = append(m.nodes, monNode{addr: addr, master: master, rdb: rdb})
}

// version is the first node's redis_version.
func (m *monitor) version(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := m.nodes[0].rdb.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	version := "?"
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			version = strings.TrimSpace(v)
		}
	}
	return version, nil
}

// stats reads INFO cpu and commandstats of every node: the CPU is summed
// over every node (replicas included: they replay what their masters
// write), the calls over the masters only (a replica's are its master's
// again), and each master's calls are kept apart too. The timeout is
// generous: on a 2-core machine under load the answer may be slow to be
// read.
func (m *monitor) stats(ctx context.Context) (redisStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sum := redisStats{calls: map[string]int64{}, perMaster: map[string]int64{}}
	for _, n := range m.nodes {
		text, err := n.rdb.Info(ctx, "cpu", "commandstats").Result()
		if err != nil {
			return redisStats{}, fmt.Errorf("redis info at %s: %w", n.addr, err)
		}
		s, err := parseInfo(text)
		if err != nil {
			return redisStats{}, fmt.Errorf("%s: %w", n.addr, err)
		}
		sum.cpu += s.cpu
		if !n.master {
			continue
		}
		for k, v := range s.calls {
			sum.calls[k] += v
		}
		sum.perMaster[n.addr] = s.total() - s.calls["info"]
	}
	return sum, nil
}

// keysPerMaster counts the run's keys on each master (SCAN MATCH); on a
// single Redis, its one entry is every key of the run.
func (m *monitor) keysPerMaster(ctx context.Context, prefix string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if m.cluster != nil {
		return m.cluster.KeysPerMaster(ctx, redistest.Pattern(prefix))
	}
	n := 0
	iter := m.nodes[0].rdb.Scan(ctx, 0, redistest.Pattern(prefix), 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return map[string]int{m.nodes[0].addr: n}, iter.Err()
}

// clean deletes every key of the run, in every partition (by SCAN and DEL;
// on a cluster, on every master); it never flushes.
func (m *monitor) clean(prefix string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if m.cluster != nil {
		return m.cluster.Clean(ctx, redistest.Pattern(prefix))
	}
	rdb := m.nodes[0].rdb
	deleted := 0
	iter := rdb.Scan(ctx, 0, redistest.Pattern(prefix), 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := rdb.Del(ctx, batch...).Result()
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

func (m *monitor) close() {
	for _, n := range m.nodes {
		n.rdb.Close()
	}
}
