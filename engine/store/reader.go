package store

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// streamKind names one of the two partitioned streams.
type streamKind int

const (
	streamEvents streamKind = iota
	streamDeliveries
)

func (k streamKind) group() string {
	if k == streamEvents {
		return GroupRouter
	}
	return GroupWorkers
}

func (k streamKind) stream(ks keys) string {
	if k == streamEvents {
		return ks.events()
	}
	return ks.deliveries()
}

// wait is the flag a reader leaves in a partition it found empty; the next
// writer to that stream deletes it and rings the doorbell.
func (k streamKind) wait(ks keys) string {
	if k == streamEvents {
		return ks.p + ":wait:e"
	}
	return ks.p + ":wait:d"
}

// ring is the doorbell message for partition p of the stream.
func (k streamKind) ring(p int) string {
	if k == streamEvents {
		return "e" + strconv.Itoa(p)
	}
	return "d" + strconv.Itoa(p)
}

// partMsgs are the messages read from one partition.
type partMsgs struct {
	part int
	msgs []redis.XMessage
}

// reader reads one stream's new entries across every partition.
//
// On a single Redis it is one XREADGROUP over every partition's stream,
// blocking: one command and one connection whatever the number of
// partitions. On a cluster a command's keys must share a slot, so each
// partition needs its own read; blocking reads would hold a connection per
// partition. Instead the reader polls, in one pipeline (a round trip per
// node), only the partitions that gave entries at its last read, with a
// script that leaves a wait flag in a partition it finds empty. A writer
// that adds to a stream deletes the flag in the same script and, when there
// was one, publishes the partition on the deployment's doorbell channel;
// the reader sleeps on the doorbell and polls the partitions that rang.
// Partitions are all polled at least every fullEvery, in case a message
// was lost (a node failed over while publishing).
type reader struct {
	s      *Store
	kind   streamKind
	names  map[string]int // stream key → partition
	mu     sync.Mutex
	active map[int]bool
	full   time.Time
}

// fullEvery is how often a cluster reader polls every partition.
const fullEvery = time.Second

func newReader(s *Store, kind streamKind) *reader {
	r := &reader{s: s, kind: kind, names: map[string]int{}, active: map[int]bool{}}
	for i, k := range s.parts {
		r.names[kind.stream(k)] = i
	}
	return r
}

// pollScript reads new entries of one partition's stream for a consumer
// and, finding none, leaves the wait flag.
// KEYS[1] stream, [2] wait flag; ARGV[1] group, [2] consumer, [3] count.
// (Leaving the flag as soon as a read drains the stream saves the empty
// poll that follows, but costs a doorbell message per event at a light
// load, which a cluster sends to every node: measured, it cost more Redis
// CPU per delivery than it saved.)
var pollScript = redis.NewScript(`
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
if not r then
  redis.call('SET', KEYS[2], '1')
  return {}
end
return r[1][2]
`)

// read reads up to about count new entries for consumer, waiting at most
// block when there are none; with no block (0 or less) it reads every
// partition once.
func (r *reader) read(ctx context.Context, consumer string, count int, block time.Duration) ([]partMsgs, error) {
	s := r.s
	if !s.cluster {
		n := len(s.parts)
		streams := make([]string, 2*n)
		for i, k := range s.parts {
			streams[i], streams[n+i] = r.kind.stream(k), ">"
		}
		res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: r.kind.group(), Consumer: consumer,
			Streams: streams, Count: int64(max((count+n-1)/n, 1)), Block: block}).Result()
		if err == redis.Nil || (err != nil && ctx.Err() != nil) {
			return nil, nil
		}
		if err != nil {
			return nil, unavailable(err)
		}
		out := make([]partMsgs, 0, len(res))
		for _, st := range res {
			out = append(out, partMsgs{part: r.names[st.Stream], msgs: st.Messages})
		}
		return out, nil
	}
	rang := s.bell.waiter()
	out, err := r.poll(ctx, consumer, count, block <= 0)
	if err != nil || len(out) > 0 || block <= 0 {
		return out, err
	}
	t := time.NewTimer(block)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, nil
	case <-t.C:
	case <-rang:
	}
	return r.poll(ctx, consumer, count, false)
}

// poll reads, on a cluster, the partitions that are active or rang (all of
// them with full, and every fullEvery).
func (r *reader) poll(ctx context.Context, consumer string, count int, full bool) ([]partMsgs, error) {
	s := r.s
	r.mu.Lock()
	for _, p := range s.bell.take(r.kind) {
		r.active[p] = true
	}
	var parts []int
	if now := time.Now(); full || now.Sub(r.full) >= fullEvery {
		r.full = now
		for i := range s.parts {
			parts = append(parts, i)
		}
	} else {
		for p := range r.active {
			parts = append(parts, p)
		}
	}
	r.mu.Unlock()
	if len(parts) == 0 {
		return nil, nil
	}
	per := max((count+len(parts)-1)/len(parts), 1)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(parts))
	for i, p := range parts {
		k := s.parts[p]
		cmds[i] = pollScript.EvalSha(ctx, pipe, []string{r.kind.stream(k), r.kind.wait(k)}, r.kind.group(), consumer, per)
	}
	_, _ = pipe.Exec(ctx)
	var out []partMsgs
	var firstErr error
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, c := range cmds {
		p := parts[i]
		v, err := c.Result()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			k := s.parts[p]
			v, err = pollScript.Run(ctx, s.rdb, []string{r.kind.stream(k), r.kind.wait(k)}, r.kind.group(), consumer, per).Result()
		}
		if err != nil {
			if firstErr == nil && ctx.Err() == nil {
				firstErr = unavailable(err)
			}
			continue
		}
		msgs := scriptMessages(v)
		if len(msgs) == 0 {
			delete(r.active, p)
			continue
		}
		r.active[p] = true
		out = append(out, partMsgs{part: p, msgs: msgs})
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, firstErr
}

// scriptMessages converts stream entries a script returned.
func scriptMessages(v any) []redis.XMessage {
	list, _ := v.([]any)
	out := make([]redis.XMessage, 0, len(list))
	for _, e := range list {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			continue
		}
		id, _ := pair[0].(string)
		fields, _ := pair[1].([]any)
		vals := make(map[string]any, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			f, _ := fields[i].(string)
			vals[f] = fields[i+1]
		}
		out = append(out, redis.XMessage{ID: id, Values: vals})
	}
	return out
}

// bell is the doorbell of a cluster deployment: one subscription to its
// channel, whose messages name the partitions that were written to while
// a reader waited for them.
type bell struct {
	ps     *redis.PubSub
	mu     sync.Mutex
	ch     chan struct{}
	rung   [2]map[int]bool
	closed chan struct{}
}

func newBell(rdb redis.UniversalClient, channel string) *bell {
	b := &bell{ps: rdb.Subscribe(context.Background(), channel), ch: make(chan struct{}),
		rung: [2]map[int]bool{{}, {}}, closed: make(chan struct{})}
	go b.run()
	return b
}

func (b *bell) run() {
	defer close(b.closed)
	for m := range b.ps.Channel(redis.WithChannelSize(1024)) {
		if len(m.Payload) < 2 {
			continue
		}
		p, err := strconv.Atoi(m.Payload[1:])
		if err != nil {
			continue
		}
		kind := streamEvents
		if m.Payload[0] == 'd' {
			kind = streamDeliveries
		}
		b.mu.Lock()
		b.rung[kind][p] = true
		close(b.ch)
		b.ch = make(chan struct{})
		b.mu.Unlock()
	}
}

// waiter returns a channel closed at the next ring.
func (b *bell) waiter() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

// take returns and forgets the partitions of a stream that rang.
func (b *bell) take(kind streamKind) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for p := range b.rung[kind] {
		out = append(out, p)
		delete(b.rung[kind], p)
	}
	return out
}

func (b *bell) close() {
	_ = b.ps.Close()
	<-b.closed
}

// ringArgs are the ARGV a writing script needs to ring the doorbell: the
// channel ("" on a single Redis, where readers block instead) and the
// message.
func (s *Store) ringArgs(kind streamKind, p int) (channel, msg string) {
	if !s.cluster {
		return "", ""
	}
	return s.k.bell(), kind.ring(p)
}
