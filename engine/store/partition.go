package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// DefaultPartitions is how many partitions a store has unless told: enough
// that on a 3-master Redis Cluster every master holds four to seven of them.
const DefaultPartitions = 16

// MaxPartitions bounds ASSETHOOKS_PARTITIONS.
const MaxPartitions = 1024

// clusterSlots is the number of hash slots of Redis Cluster.
const clusterSlots = 16384

// partitionPrefixes returns the key prefix of each of n partitions of the
// deployment whose prefix is prefix ("{T}rest"). Partition 0 keeps the
// prefix itself (so a deployment made before partitions finds its keys in
// partition 0); partition i gets the tag "{T:p<i>.<k>}", k the smallest
// number that puts its slot in the i'th of n equal stretches of the slot
// space counted from partition 0's slot. A cluster whose masters hold
// contiguous ranges of slots (as redis-cli --cluster create makes them)
// therefore holds about n/masters partitions on each master.
func partitionPrefixes(prefix string, n int) []string {
	tag, rest := splitTag(prefix)
	out := make([]string, n)
	out[0] = prefix
	if tag == "" {
		for i := 1; i < n; i++ {
			out[i] = prefix + ":p" + strconv.Itoa(i)
		}
		return out
	}
	base := int(slot(tag))
	width := clusterSlots / n
	for i := 1; i < n; i++ {
		start := (base + i*clusterSlots/n) % clusterSlots
		for k := 0; ; k++ {
			t := tag + ":p" + strconv.Itoa(i) + "." + strconv.Itoa(k)
			if (int(slot(t))-start+clusterSlots)%clusterSlots < width {
				out[i] = "{" + t + "}" + rest
				break
			}
		}
	}
	return out
}

// splitTag splits "{T}rest" into T and rest; "" when prefix holds no tag.
func splitTag(prefix string) (tag, rest string) {
	if !strings.HasPrefix(prefix, "{") {
		return "", prefix
	}
	end := strings.IndexByte(prefix, '}')
	if end < 2 {
		return "", prefix
	}
	return prefix[1:end], prefix[end+1:]
}

// KeyPattern is a SCAN pattern matching every key of the deployment whose
// prefix is prefix, in every partition (for tests and tools that clean up).
func KeyPattern(prefix string) string {
	tag, _ := splitTag(prefix)
	if tag == "" {
		return globEscape(prefix) + "*"
	}
	return "{" + globEscape(tag) + "[}:]*"
}

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

// slot is the Redis Cluster hash slot of a hash tag's content (CRC16,
// XMODEM, modulo 16384).
func slot(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % clusterSlots
}

// ErrPartitions is CheckPartitions' error when the deployment runs with
// another number of partitions than this store.
var ErrPartitions = errors.New("store: the deployment runs another number of partitions")

// CheckPartitions records the store's number of partitions in the
// deployment (P:partitions, set once) and fails with ErrPartitions when
// the deployment was made with another: its events and records would be
// looked for in the wrong partitions.
func (s *Store) CheckPartitions(ctx context.Context) error {
	key := s.k.p + ":partitions"
	if err := s.rdb.SetNX(ctx, key, len(s.parts), 0).Err(); err != nil {
		return unavailable(err)
	}
	v, err := s.rdb.Get(ctx, key).Int()
	if err != nil {
		return unavailable(err)
	}
	if v != len(s.parts) {
		return fmt.Errorf("%w: this process has %d, the deployment (%s) %d; to change the number, let the queues drain, stop every process, DEL %s and start them all with the new one",
			ErrPartitions, len(s.parts), key, v, key)
	}
	return nil
}

// Partitions is how many partitions the store's streams are split into.
func (s *Store) Partitions() int { return len(s.parts) }

// Partition is the partition of an event: that of its asset, so that every
// event of one asset is routed in order, or, for an event with no asset,
// that of its id.
func (s *Store) Partition(assetID, eventID string) int {
	key := assetID
	if key == "" {
		key = eventID
	}
	if len(s.parts) == 1 {
		return 0
	}
	// FNV-1a, 32 bits.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(len(s.parts)))
}

// PartitionPrefix is the start of partition p's keys (partition 0's is the
// deployment's prefix), for tests and tools that look at Redis itself.
func (s *Store) PartitionPrefix(p int) string { return s.part(p).p }

// part returns partition p's keys (partition 0's for one out of range).
func (s *Store) part(p int) keys {
	if p < 0 || p >= len(s.parts) {
		return s.parts[0]
	}
	return s.parts[p]
}

// PartOf is the partition of a stream entry the store returned.
func PartOf(entry string) int {
	p, _ := splitEntry(entry)
	return p
}

// entry qualifies a stream entry id with its partition: "<p>/<id>". The
// engine keeps entries as opaque strings; the store splits them again.
func entry(p int, id string) string { return strconv.Itoa(p) + "/" + id }

// splitEntry splits a qualified entry into its partition and stream id; an
// unqualified one is partition 0's.
func splitEntry(e string) (int, string) {
	i := strings.IndexByte(e, '/')
	if i < 0 {
		return 0, e
	}
	p, err := strconv.Atoi(e[:i])
	if err != nil || p < 0 {
		return 0, e[i+1:]
	}
	return p, e[i+1:]
}

// block is one partition's share of a block script call: its KEYS and ARGV
// exactly as the script's body reads them.
type block struct {
	part int
	keys []string
	args []any
}

// blockScript wraps a script body that works on one partition (its KEYS
// and ARGV) so that one call runs it for several: ARGV[1] is the number of
// blocks and each block is "nkeys nargs args…" with its nkeys keys in
// turn in KEYS. It returns the body's result per block. On a single Redis
// the store sends every partition's block in one call; on a cluster, one
// call per partition (each in its own slot), pipelined.
func blockScript(body string) *redis.Script {
	return redis.NewScript(`local function body(KEYS, ARGV)
` + body + `
end
local out, ko, ao = {}, 0, 1
for b = 1, tonumber(ARGV[1]) do
  local nk, na = tonumber(ARGV[ao + 1]), tonumber(ARGV[ao + 2])
  local k, a = {}, {}
  for i = 1, nk do k[i] = KEYS[ko + i] end
  for i = 1, na do a[i] = ARGV[ao + 2 + i] end
  out[b] = body(k, a)
  ko, ao = ko + nk, ao + 2 + na
end
return out
`)
}

// runBlocks runs a block script over blocks and returns each block's
// result, in the blocks' order; any block's failure fails the call.
func (s *Store) runBlocks(ctx context.Context, sc *redis.Script, blocks []block) ([]any, error) {
	res, errs := s.runBlocksEach(ctx, sc, blocks)
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// runBlocksEach runs a block script over blocks and returns each block's
// result or error: on a cluster one partition's master may fail while the
// others' calls went through.
func (s *Store) runBlocksEach(ctx context.Context, sc *redis.Script, blocks []block) ([]any, []error) {
	out, errs := make([]any, len(blocks)), make([]error, len(blocks))
	if len(blocks) == 0 {
		return out, errs
	}
	pack := func(bs []block) ([]string, []any) {
		nk, na := 0, 1
		for _, b := range bs {
			nk += len(b.keys)
			na += 2 + len(b.args)
		}
		keys, args := make([]string, 0, nk), make([]any, 0, na)
		args = append(args, len(bs))
		for _, b := range bs {
			keys = append(keys, b.keys...)
			args = append(args, len(b.keys), len(b.args))
			args = append(args, b.args...)
		}
		return keys, args
	}
	fail := func(err error) ([]any, []error) {
		for i := range errs {
			errs[i] = err
		}
		return out, errs
	}
	if !s.cluster || len(blocks) == 1 {
		keys, args := pack(blocks)
		res, err := sc.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return fail(unavailable(err))
		}
		if len(res) != len(blocks) {
			return fail(fmt.Errorf("store: a script answered %d results for %d blocks", len(res), len(blocks)))
		}
		return res, errs
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(blocks))
	for i := range blocks {
		keys, args := pack(blocks[i : i+1])
		cmds[i] = sc.EvalSha(ctx, pipe, keys, args...)
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			keys, args := pack(blocks[i : i+1])
			res, err = sc.Run(ctx, s.rdb, keys, args...).Slice()
		}
		switch {
		case err != nil:
			errs[i] = unavailable(err)
		case len(res) != 1:
			errs[i] = fmt.Errorf("store: a script answered %d results for 1 block", len(res))
		default:
			out[i] = res[0]
		}
	}
	return out, errs
}

// byPartition groups a call's items into one block per partition,
// remembering each item's place, for the scripts whose results are one per
// item (ingest, outcomes, requeue, replay).
type byPartition struct {
	blocks map[int]*block
	index  map[int][]int
	order  []int
	// count is the ARGV position of each block's item count.
	count int
}

func newByPartition(countArg int) *byPartition {
	return &byPartition{blocks: map[int]*block{}, index: map[int][]int{}, count: countArg}
}

// add returns partition p's block for item i, made by start on its first
// item (its leading KEYS and ARGV, the count's place among them left 0).
func (g *byPartition) add(p, i int, start func() block) *block {
	b := g.blocks[p]
	if b == nil {
		nb := start()
		b = &nb
		g.blocks[p] = b
		g.order = append(g.order, p)
	}
	g.index[p] = append(g.index[p], i)
	return b
}

// list sets each block's item count and returns the blocks in order.
func (g *byPartition) list() []block {
	out := make([]block, len(g.order))
	for j, p := range g.order {
		b := g.blocks[p]
		b.args[g.count] = len(g.index[p])
		out[j] = *b
	}
	return out
}

// each hands every item's result to f: results are the blocks' results
// in list's order (nil for a block that failed), what names the script in
// an error.
func (g *byPartition) each(what string, results []any, f func(i int, r int64)) error {
	for j, p := range g.order {
		if results[j] == nil {
			continue
		}
		r, _ := results[j].([]any)
		if len(r) != len(g.index[p]) {
			return fmt.Errorf("store: %s answered %d results for %d items", what, len(r), len(g.index[p]))
		}
		for x, i := range g.index[p] {
			v, _ := r[x].(int64)
			f(i, v)
		}
	}
	return nil
}

// txEach runs fn's commands for every partition in MULTI: one transaction
// for all on a single Redis, one per partition on a cluster (where a
// transaction's keys must share a slot).
func (s *Store) txEach(ctx context.Context, fn func(p redis.Pipeliner, k keys)) error {
	if !s.cluster {
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range s.parts {
				fn(p, k)
			}
			return nil
		})
		return unavailable(err)
	}
	for _, k := range s.parts {
		if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { fn(p, k); return nil }); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// eachPart runs one command per partition in one pipeline (one round trip
// per node) and hands each partition's command to read, in order.
func eachPart[C redis.Cmder](ctx context.Context, s *Store, cmd func(p redis.Pipeliner, k keys) C, read func(part int, c C) error) error {
	pipe := s.rdb.Pipeline()
	cmds := make([]C, len(s.parts))
	for i, k := range s.parts {
		cmds[i] = cmd(pipe, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return unavailable(err)
	}
	for i, c := range cmds {
		if err := read(i, c); err != nil {
			return err
		}
	}
	return nil
}
