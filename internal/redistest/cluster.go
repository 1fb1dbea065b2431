package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters and three replicas on
// loopback, started by StartCluster for one test.
type Cluster struct {
	// Addrs are the six nodes' host:port, in the order they were started
	// (redis-cli made the first three masters, but a failover changes that:
	// ask Masters).
	Addrs []string
	procs []*exec.Cmd
	dir   string

	mu   sync.Mutex
	dead []bool // per node: killed by Kill
	// held are the listeners that keep a killed node's ports (client and
	// cluster bus) from being taken by another test's server, whose data
	// the engines would then read as theirs: each closes every connection.
	held    []net.Listener
	clients map[string]*redis.Client // per node, made by node
}

// StartCluster starts six redis-server processes with cluster mode on free
// loopback ports (three masters, one replica each, made with redis-cli
// --cluster create) and waits until the cluster is ready; they are stopped
// and their files removed when the test ends. Without redis-server and
// redis-cli the test is skipped, unless REQUIRE_REDIS=1 makes it fail.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := NewCluster()
	if err == errNoServer {
		if Required() {
			t.Fatalf("REQUIRE_REDIS=1 but redis-server or redis-cli is missing")
		}
		t.Skip("no redis-server/redis-cli: the Redis Cluster tests are skipped (REQUIRE_REDIS=1 makes this a failure)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// errNoServer is NewCluster's answer when redis-server or redis-cli is missing.
var errNoServer = errors.New("redistest: redis-server or redis-cli not found")

// NoServer reports whether err says redis-server or redis-cli is missing.
func NoServer(err error) bool { return err == errNoServer }

// NewCluster starts a cluster as StartCluster does, for a TestMain; the
// caller stops it with Stop.
func NewCluster() (*Cluster, error) {
	server, err1 := exec.LookPath("redis-server")
	cli, err2 := exec.LookPath("redis-cli")
	if err1 != nil || err2 != nil {
		return nil, errNoServer
	}
	dir, err := os.MkdirTemp("", "assethooks-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	fail := func(err error) (*Cluster, error) { c.Stop(); return nil, err }
	for i := range 6 {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		node := filepath.Join(dir, strconv.Itoa(port))
		if err := os.MkdirAll(node, 0o755); err != nil {
			return fail(err)
		}
		cmd := exec.Command(server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
			"--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", node, "--logfile", filepath.Join(node, "log"))
		cmd.SysProcAttr = nodeProcAttr()
		if err := cmd.Start(); err != nil {
			return fail(fmt.Errorf("redistest: start cluster node %d: %w", i, err))
		}
		c.procs = append(c.procs, cmd)
		c.dead = append(c.dead, false)
		c.Addrs = append(c.Addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	for _, a := range c.Addrs {
		if err := waitPing(a); err != nil {
			return fail(err)
		}
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("redistest: redis-cli --cluster create: %v\n%s", err, out))
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer cc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := cc.ClusterInfo(ctx).Result()
		ready := err == nil && strings.Contains(info, "cluster_state:ok") &&
			cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() }) == nil &&
			c.replicasInSync(ctx)
		cancel()
		if ready {
			return c, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("redistest: the cluster at %v was not ready within 30s", c.Addrs))
		}
		time.Sleep(50 * time.Millisecond) // polling the cluster's own state, with a deadline
	}
}

// replicasInSync reports whether there are three replicas, each has
// finished its first synchronisation with its master (a replica that never
// synchronised refuses to take over: Kill needs them in sync), and every
// node sees them as replicas (until gossip has told it, a node lists a
// replica as a master without slots).
func (c *Cluster) replicasInSync(ctx context.Context) bool {
	n := 0
	for _, a := range c.Addrs {
		info, err := c.node(a).Info(ctx, "replication").Result()
		if err != nil {
			return false
		}
		text, err := c.node(a).ClusterNodes(ctx).Result()
		if err != nil {
			return false
		}
		nodes, err := parseNodes(text)
		if err != nil {
			return false
		}
		masters := 0
		for _, n := range nodes {
			if n.Master {
				masters++
			}
		}
		if len(nodes) != len(c.Addrs) || masters != len(c.Addrs)/2 {
			return false
		}
		if strings.Contains(info, "role:slave") {
			if !strings.Contains(info, "master_link_status:up") || strings.Contains(info, "master_sync_in_progress:1") {
				return false
			}
			n++
		}
	}
	return n == len(c.Addrs)/2
}

// Client returns a cluster client of c, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, PoolSize: 64, ContextTimeoutEnabled: true})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// Stop ends the cluster's processes and removes their files.
func (c *Cluster) Stop() {
	c.closeClients()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.held {
		_ = l.Close()
	}
	c.held = nil
	for i, p := range c.procs {
		if p.Process != nil && !c.dead[i] {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
	c.procs = nil
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

// hold keeps a dead node's client and bus ports: a listener on each that
// closes every connection at once, as a host whose server died would
// refuse it, so that no other server starts there meanwhile.
func (c *Cluster) hold(addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	n, _ := strconv.Atoi(port)
	for _, a := range []string{addr, net.JoinHostPort(host, strconv.Itoa(n+10000))} {
		for range 50 { // the dying process may still hold it a moment
			l, err := net.Listen("tcp", a)
			if err == nil {
				c.mu.Lock()
				c.held = append(c.held, l)
				c.mu.Unlock()
				go func() {
					for {
						conn, err := l.Accept()
						if err != nil {
							return
						}
						_ = conn.Close()
					}
				}()
				break
			}
			time.Sleep(10 * time.Millisecond) // retrying a bind, with a bound
		}
	}
}

// freePort is a loopback TCP port that was free a moment ago, with its
// cluster bus port (port + 10000) free too.
func freePort() (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("redistest: no free port pair for a cluster node")
}

func waitPing(addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: redis-server at %s did not answer: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a starting server, with a deadline
	}
}
