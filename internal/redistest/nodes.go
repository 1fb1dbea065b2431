package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine/store"
)

// What a test or cmd/loadbench needs to look inside the cluster: which
// node is master of what, per-node keys, command counts and CPU, killing a
// master and waiting for its replica's promotion, and cleaning a prefix's
// keys off every master.

// Node is one cluster node as CLUSTER NODES describes it.
type Node struct {
	ID, Addr string
	// Master is true for a master, false for a replica.
	Master bool
	// MasterID is a replica's master (empty for a master).
	MasterID string
	// Failed is set when the node is flagged fail or fail? (PFAIL).
	Failed bool
	// Slots are the hash slot ranges a master serves, each [first, last].
	Slots [][2]int
}

// Serves reports whether the node is the master of slot.
func (n Node) Serves(slot int) bool {
	for _, r := range n.Slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// SlotCount is how many slots the node serves.
func (n Node) SlotCount() int {
	s := 0
	for _, r := range n.Slots {
		s += r[1] - r[0] + 1
	}
	return s
}

// URL is the ASSETHOOKS_REDIS_URL naming every node of the cluster
// (redis://first?addr=second&addr=…), which opens a Redis Cluster client.
func (c *Cluster) URL() string {
	q := url.Values{}
	for _, a := range c.Addrs[1:] {
		q.Add("addr", a)
	}
	return "redis://" + c.Addrs[0] + "?" + q.Encode()
}

// live returns the addresses of the nodes not killed.
func (c *Cluster) live() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for i, a := range c.Addrs {
		if !c.dead[i] {
			out = append(out, a)
		}
	}
	return out
}

// node returns a client of one node, created once and closed by Stop.
func (c *Cluster) node(addr string) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients == nil {
		c.clients = map[string]*redis.Client{}
	}
	if cl := c.clients[addr]; cl != nil {
		return cl
	}
	cl := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 4, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 10 * time.Second, ContextTimeoutEnabled: true})
	c.clients[addr] = cl
	return cl
}

// closeClients closes the clients node made.
func (c *Cluster) closeClients() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		cl.Close()
	}
	c.clients = nil
}

// Nodes returns the cluster as the first live node that answers sees it.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	var first error
	for _, a := range c.live() {
		text, err := c.node(a).ClusterNodes(ctx).Result()
		if err != nil {
			first = cmpOr(first, err)
			continue
		}
		return parseNodes(text)
	}
	return nil, fmt.Errorf("redistest: no cluster node answered CLUSTER NODES: %v", first)
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// parseNodes reads the text of CLUSTER NODES.
func parseNodes(text string) ([]Node, error) {
	var out []Node
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("redistest: CLUSTER NODES line %q", sc.Text())
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := Node{ID: f[0], Addr: addr}
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "master":
				n.Master = true
			case "fail", "fail?":
				n.Failed = true
			}
		}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated
				continue
			}
			lo, hi, rng := strings.Cut(s, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, fmt.Errorf("redistest: CLUSTER NODES slot %q", s)
			}
			b := a
			if rng {
				if b, err = strconv.Atoi(hi); err != nil {
					return nil, fmt.Errorf("redistest: CLUSTER NODES slot %q", s)
				}
			}
			n.Slots = append(n.Slots, [2]int{a, b})
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Node) int { return firstSlot(a) - firstSlot(b) })
	return out, nil
}

func firstSlot(n Node) int {
	if len(n.Slots) == 0 {
		return math.MaxInt32
	}
	return n.Slots[0][0]
}

// Masters returns the masters serving slots that are not failed, by their
// first slot.
func (c *Cluster) Masters(ctx context.Context) ([]Node, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var out []Node
	for _, n := range nodes {
		if n.Master && !n.Failed && len(n.Slots) > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

// MasterOf returns the address of the master serving key.
func (c *Cluster) MasterOf(ctx context.Context, key string) (string, error) {
	return c.MasterOfSlot(ctx, Slot(key))
}

// MasterOfSlot returns the address of the master serving slot.
func (c *Cluster) MasterOfSlot(ctx context.Context, slot int) (string, error) {
	ms, err := c.Masters(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.Serves(slot) {
			return m.Addr, nil
		}
	}
	return "", fmt.Errorf("redistest: no live master serves slot %d", slot)
}

// Slot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash
// tag (the text between the first { and the next }, when not empty), or of
// the whole key, modulo 16384.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}

// Failover is what Kill saw: the master it killed, the replica that took
// over its slots, and when.
type Failover struct {
	Killed, Promoted string
	KilledAt         time.Time
	// PromotedAt is when every live node first answered cluster_state:ok
	// with the killed master's slots served by Promoted.
	PromotedAt time.Time
}

// Took is the time from the kill to the promotion.
func (f Failover) Took() time.Duration { return f.PromotedAt.Sub(f.KilledAt) }

// Kill sends SIGKILL to the master at addr (a process this cluster
// started) and waits, up to within, until one of its replicas serves its
// slots and every live node answers cluster_state:ok again. The killed
// node stays down.
func (c *Cluster) Kill(ctx context.Context, addr string, within time.Duration) (Failover, error) {
	f := Failover{Killed: addr}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return f, err
	}
	var slots [][2]int
	for _, n := range nodes {
		if n.Addr == addr {
			if !n.Master || len(n.Slots) == 0 {
				return f, fmt.Errorf("redistest: %s is not a master serving slots", addr)
			}
			slots = n.Slots
		}
	}
	i := slices.Index(c.Addrs, addr)
	if i < 0 || slots == nil {
		return f, fmt.Errorf("redistest: %s is not a node of this cluster", addr)
	}
	c.mu.Lock()
	if c.dead[i] {
		c.mu.Unlock()
		return f, fmt.Errorf("redistest: %s was killed already", addr)
	}
	c.dead[i] = true
	p := c.procs[i]
	c.mu.Unlock()
	if err := p.Process.Signal(syscall.SIGKILL); err != nil {
		return f, err
	}
	f.KilledAt = time.Now()
	_ = p.Wait()
	c.hold(addr)

	deadline := time.Now().Add(within)
	for {
		if promoted, ok := c.promoted(ctx, slots); ok {
			f.Promoted, f.PromotedAt = promoted, time.Now()
			return f, nil
		}
		if time.Now().After(deadline) {
			return f, fmt.Errorf("redistest: no replica of %s promoted with cluster_state:ok within %s", addr, within)
		}
		select {
		case <-ctx.Done():
			return f, ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling the cluster's own state, with a deadline
		}
	}
}

// promoted reports whether every live node answers cluster_state:ok and
// sees one live master serving every one of slots, and which.
func (c *Cluster) promoted(ctx context.Context, slots [][2]int) (string, bool) {
	owner := ""
	live := c.live()
	for _, a := range live {
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		info, err := c.node(a).ClusterInfo(ctx).Result()
		var text string
		if err == nil {
			text, err = c.node(a).ClusterNodes(ctx).Result()
		}
		cancel()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return "", false
		}
		nodes, err := parseNodes(text)
		if err != nil {
			return "", false
		}
		for _, r := range slots {
			found := ""
			for _, n := range nodes {
				if n.Master && !n.Failed && n.Serves(r[0]) && n.Serves(r[1]) && slices.Contains(live, n.Addr) {
					found = n.Addr
				}
			}
			if found == "" || (owner != "" && found != owner) {
				return "", false
			}
			owner = found
		}
	}
	return owner, owner != ""
}

// NodeStats is one node's figures from DBSIZE and INFO.
type NodeStats struct {
	Addr   string
	Master bool
	// Keys is DBSIZE: every key the node holds (a replica holds its
	// master's).
	Keys int64
	// Calls per command (INFO commandstats, the commands scripts run
	// included) since the last ResetStats.
	Calls map[string]int64
	// CPU is used_cpu_sys + used_cpu_user of the server so far (not reset
	// by ResetStats).
	CPU time.Duration
}

// Commands is the sum of Calls less the test's own INFO and CONFIG calls.
func (s NodeStats) Commands() int64 {
	var n int64
	for k, v := range s.Calls {
		if k == "info" || strings.HasPrefix(k, "config") {
			continue
		}
		n += v
	}
	return n
}

// Stats returns the figures of every live node, masters first by their
// first slot, then the replicas.
func (c *Cluster) Stats(ctx context.Context) ([]NodeStats, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	live := c.live()
	var out []NodeStats
	for _, master := range []bool{true, false} {
		for _, n := range nodes {
			if n.Master != master || !slices.Contains(live, n.Addr) || (master && len(n.Slots) == 0) {
				continue
			}
			cl := c.node(n.Addr)
			size, err := cl.DBSize(ctx).Result()
			if err != nil {
				return nil, fmt.Errorf("redistest: DBSIZE at %s: %w", n.Addr, err)
			}
			text, err := cl.Info(ctx, "cpu", "commandstats").Result()
			if err != nil {
				return nil, fmt.Errorf("redistest: INFO at %s: %w", n.Addr, err)
			}
			s := NodeStats{Addr: n.Addr, Master: n.Master, Keys: size}
			s.Calls, s.CPU = parseInfo(text)
			out = append(out, s)
		}
	}
	return out, nil
}

// parseInfo reads the commandstats calls and the CPU of an INFO answer.
func parseInfo(text string) (map[string]int64, time.Duration) {
	calls := map[string]int64{}
	var cpu float64
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_sys" || k == "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		case strings.HasPrefix(k, "cmdstat_"):
			for _, kv := range strings.Split(v, ",") {
				if n, ok := strings.CutPrefix(kv, "calls="); ok {
					calls[strings.TrimPrefix(k, "cmdstat_")], _ = strconv.ParseInt(n, 10, 64)
				}
			}
		}
	}
	return calls, time.Duration(cpu * float64(time.Second))
}

// ResetStats sets every live node's command statistics back to zero
// (CONFIG RESETSTAT).
func (c *Cluster) ResetStats(ctx context.Context) error {
	for _, a := range c.live() {
		if err := c.node(a).ConfigResetStat(ctx).Err(); err != nil {
			return fmt.Errorf("redistest: CONFIG RESETSTAT at %s: %w", a, err)
		}
	}
	return nil
}

// KeysPerMaster counts, on every live master, the keys matching pattern
// (SCAN MATCH).
func (c *Cluster) KeysPerMaster(ctx context.Context, pattern string) (map[string]int, error) {
	ms, err := c.Masters(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range ms {
		n := 0
		iter := c.node(m.Addr).Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		if err := iter.Err(); err != nil {
			return nil, fmt.Errorf("redistest: SCAN at %s: %w", m.Addr, err)
		}
		out[m.Addr] = n
	}
	return out, nil
}

// Clean deletes, on every live master, the keys matching pattern (SCAN
// and one DEL per key, since a node refuses a DEL across slots) and
// returns how many it deleted. Pass store.KeyPattern(prefix) to clean a
// deployment's keys in every partition, or Pattern(prefix).
func (c *Cluster) Clean(ctx context.Context, pattern string) (int, error) {
	ms, err := c.Masters(ctx)
	if err != nil {
		return 0, err
	}
	var (
		mu    sync.Mutex
		total int
		errs  []error
		wg    sync.WaitGroup
	)
	for _, m := range ms {
		wg.Go(func() {
			n, err := cleanNode(ctx, c.node(m.Addr), pattern)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				errs = append(errs, fmt.Errorf("redistest: clean %s: %w", m.Addr, err))
			}
		})
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

func cleanNode(ctx context.Context, rdb *redis.Client, pattern string) (int, error) {
	n := 0
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		pipe := rdb.Pipeline()
		for _, k := range batch {
			pipe.Del(ctx, k)
		}
		_, err := pipe.Exec(ctx)
		n += len(batch)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 500 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// Pattern is a SCAN pattern matching every key of the deployment whose
// prefix is prefix ("{T}rest"), in every partition: the keys whose hash tag
// is T itself or starts with "T:" (the partitions' tags, "{T:p3.17}").
// It is store.KeyPattern, for the tests' and loadbench's convenience.
func Pattern(prefix string) string { return store.KeyPattern(prefix) }
