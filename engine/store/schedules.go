package store

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every Redis call of the schedules (schedule*.go, since.go,
// housekeeping.go) is a method of scheduleStore, one command, pipeline or
// script per method, so that the feature moves into a storage layer whole.
// All keys share the prefix's hash tag:
//
//	<p>:schedules          hash: schedule id → schedule JSON
//	<p>:seq:schedule       counter: the last schedule id given
//	<p>:rev:schedules      counter: moves whenever a schedule changes
//	<p>:sched:runs         hash: schedule id → its last run JSON
//	<p>:sched:<id>:once    hash: asset uuid → digest of the snapshot last sent
//	<p>:since:<uuid>       hash: watched path → unix ms of its last change;
//	                       "" → unix ms the asset was first seen
//	<p>:tick:<job>:<ms>    string: the process that took one tick of a
//	                       schedule ("schedule:<id>") or housekeeping job
//	                       ("housekeeping:<name>"); expires after TickTTL
//	<p>:asset:<uuid>       the snapshots (Ingest's), scanned read-only

func (k keys) schedules() string    { return k.p + ":schedules" }
func (k keys) scheduleSeq() string  { return k.p + ":seq:schedule" }
func (k keys) scheduleRev() string  { return k.p + ":rev:schedules" }
func (k keys) scheduleRuns() string { return k.p + ":sched:runs" }
func (k keys) scheduleOnce(id int64) string {
	return k.p + ":sched:" + strconv.FormatInt(id, 10) + ":once"
}
func (k keys) since(uuid string) string { return k.p + ":since:" + uuid }
func (k keys) tick(job string, at time.Time) string {
	return k.p + ":tick:" + job + ":" + strconv.FormatInt(at.UnixMilli(), 10)
}

// sinceKey is an asset's change times, in its partition.
func (s *Store) sinceKey(uuid string) string { return s.parts[s.Partition(uuid, "")].since(uuid) }

// assetPattern is the SCAN pattern of every snapshot key in every partition.
func (s *Store) assetPattern() string {
	tag, rest := splitTag(s.k.p)
	if tag == "" {
		return globEscape(s.k.p) + "*:asset:*"
	}
	return "{" + globEscape(tag) + "[}:]*" + globEscape(rest) + ":asset:*"
}

// snapshotUUID is the uuid of a snapshot key SCAN returned, "" for a key
// that is not one of this deployment's snapshots.
func (s *Store) snapshotUUID(key string) string {
	_, rest := splitTag(s.k.p)
	end := strings.IndexByte(key, '}')
	if end < 0 {
		if u, ok := strings.CutPrefix(key, s.k.p+":asset:"); ok {
			return u
		}
		return ""
	}
	u, ok := strings.CutPrefix(key[end+1:], rest+":asset:")
	if !ok || s.parts[s.Partition(u, "")].asset(u) != key {
		return ""
	}
	return u
}

// SinceFirstSeen is the field of a since hash that holds when the asset was
// first seen (no path is empty).
const SinceFirstSeen = ""

// TickTTL is how long the mark of a taken tick is kept: longer than any
// process may be late for a tick (tickLookback) and than clocks drift.
const TickTTL = 10 * time.Minute

// NextScheduleID takes a new schedule id (INCR <p>:seq:schedule).
func (s *Store) NextScheduleID(ctx context.Context) (int64, error) {
	id, err := s.rdb.Incr(ctx, s.k.scheduleSeq()).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	return id, nil
}

// saveScheduleScript stores a schedule and moves the revision.
// KEYS[1] schedules hash, [2] revision counter; ARGV[1] id, [2] schedule
// JSON, [3] "1" when the schedule must exist already (an update). Returns
// 0 when it had to exist and does not, else 1.
var saveScheduleScript = redis.NewScript(`
if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
`)

// SaveSchedule stores raw as schedule id; with update, only over an existing
// one (false when there is none).
func (s *Store) SaveSchedule(ctx context.Context, id int64, raw []byte, update bool) (bool, error) {
	flag := "0"
	if update {
		flag = "1"
	}
	n, err := saveScheduleScript.Run(ctx, s.rdb, []string{s.k.schedules(), s.k.scheduleRev()}, id, raw, flag).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// deleteScheduleScript removes a schedule with its once marks and last run.
// KEYS[1] schedules hash, [2] revision counter, [3] its once hash, [4] runs
// hash; ARGV[1] id. Returns 0 when there was no such schedule.
var deleteScheduleScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('INCR', KEYS[2])
return 1
`)

// DeleteSchedule removes schedule id; false when there was none.
func (s *Store) DeleteSchedule(ctx context.Context, id int64) (bool, error) {
	n, err := deleteScheduleScript.Run(ctx, s.rdb,
		[]string{s.k.schedules(), s.k.scheduleRev(), s.k.scheduleOnce(id), s.k.scheduleRuns()}, id).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Schedule returns the JSON of schedule id (HGET), or ErrNotFound.
func (s *Store) Schedule(ctx context.Context, id int64) ([]byte, error) {
	raw, err := s.rdb.HGet(ctx, s.k.schedules(), itoa(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return raw, nil
}

// AllSchedules returns every schedule's JSON by id and the revision they
// are at, in one MULTI (GET revision, HGETALL schedules).
func (s *Store) AllSchedules(ctx context.Context) (map[string]string, int64, error) {
	var rev *redis.StringCmd
	var all *redis.MapStringStringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		rev = p.Get(ctx, s.k.scheduleRev())
		all = p.HGetAll(ctx, s.k.schedules())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, unavailable(err)
	}
	n, _ := strconv.ParseInt(rev.Val(), 10, 64)
	return all.Val(), n, nil
}

// ScheduleRevision reads the schedules' revision counter (GET).
func (s *Store) ScheduleRevision(ctx context.Context) (int64, error) {
	n, err := s.rdb.Get(ctx, s.k.scheduleRev()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// WebhooksExist reports, for each id, whether that webhook is stored
// (HMGET on the webhooks hash).
func (s *Store) WebhooksExist(ctx context.Context, ids []int64) ([]bool, error) {
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = itoa(id)
	}
	vals, err := s.rdb.HMGet(ctx, s.k.webhooks(), fields...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]bool, len(ids))
	for i, v := range vals {
		out[i] = v != nil
	}
	return out, nil
}

// ClaimTick takes one tick of a job for holder: SET <p>:tick:<job>:<ms>
// holder NX PX TickTTL. Only the first process to ask gets true.
func (s *Store) ClaimTick(ctx context.Context, job string, at time.Time, holder string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.k.tick(job, at), holder, TickTTL).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return ok, nil
}

// SaveRun records a schedule's last run (HSET <p>:sched:runs id JSON).
func (s *Store) SaveRun(ctx context.Context, id int64, raw []byte) error {
	if err := s.rdb.HSet(ctx, s.k.scheduleRuns(), itoa(id), raw).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// ScheduleRuns returns the last runs of schedules, nil where none ran (HMGET).
func (s *Store) ScheduleRuns(ctx context.Context, ids []int64) ([][]byte, error) {
	out := make([][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = itoa(id)
	}
	vals, err := s.rdb.HMGet(ctx, s.k.scheduleRuns(), fields...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[i] = []byte(str)
		}
	}
	return out, nil
}

// ScanSnapshots reads one bounded batch of stored asset snapshots: SCAN
// cursor MATCH <p>:asset:* COUNT count, then MGET of the keys it returned.
// It returns the snapshots by uuid and the cursor to go on from (0 when the
// walk is complete). SCAN costs Redis about count steps, so no call blocks
// it for long, and a key present for the whole walk is returned at least
// once (rarely twice, while Redis resizes its table). The pattern matches
// the snapshots of every partition. On a Redis Cluster the walk goes
// through every master in turn (the low 8 bits of the cursor name the
// master, in the order of their addresses; the rest is its SCAN cursor).
func (s *Store) ScanSnapshots(ctx context.Context, cursor uint64, count int) (map[string][]byte, uint64, error) {
	rdb := redis.Cmdable(s.rdb)
	node, nodeCursor := 0, cursor
	var masters []*redis.Client
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err := cc.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
			mu.Lock()
			masters = append(masters, m)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, 0, unavailable(err)
		}
		sort.Slice(masters, func(i, j int) bool { return masters[i].Options().Addr < masters[j].Options().Addr })
		node, nodeCursor = int(cursor&0xff), cursor>>8
		if node >= len(masters) {
			return map[string][]byte{}, 0, nil
		}
		rdb = masters[node]
	}
	keys, next, err := rdb.Scan(ctx, nodeCursor, s.assetPattern(), int64(count)).Result()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	if masters != nil {
		switch {
		case next != 0:
			next = next<<8 | uint64(node)
		case node+1 < len(masters):
			next = uint64(node + 1)
		}
	}
	out := make(map[string][]byte, len(keys))
	var uuids []string
	for _, k := range keys {
		if u := s.snapshotUUID(k); u != "" {
			uuids = append(uuids, u)
		}
	}
	if len(uuids) == 0 {
		return out, next, nil
	}
	// One MGET per partition (its keys share a slot).
	byPart := map[int][]string{}
	for _, u := range uuids {
		p := s.Partition(u, "")
		byPart[p] = append(byPart[p], u)
	}
	pipe := s.rdb.Pipeline()
	cmds := map[int]*redis.SliceCmd{}
	for p, us := range byPart {
		ks := make([]string, len(us))
		for i, u := range us {
			ks[i] = s.parts[p].asset(u)
		}
		cmds[p] = pipe.MGet(ctx, ks...)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, 0, unavailable(err)
	}
	for p, c := range cmds {
		for i, v := range c.Val() {
			if str, ok := v.(string); ok { // gone since the SCAN: skipped
				_, out[byPart[p][i]] = splitSnapshot([]byte(str))
			}
		}
	}
	return out, next, nil
}

// SinceTimes reads the recorded change times of paths (and the first-seen
// time) of several assets in one pipeline of HMGETs, in the order of uuids;
// an asset without a record has a nil map.
func (s *Store) SinceTimes(ctx context.Context, uuids, paths []string) ([]map[string]int64, error) {
	fields := append([]string{SinceFirstSeen}, paths...)
	cmds := make([]*redis.SliceCmd, len(uuids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, u := range uuids {
			cmds[i] = p.HMGet(ctx, s.sinceKey(u), fields...)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]map[string]int64, len(uuids))
	for i, c := range cmds {
		for j, v := range c.Val() {
			str, ok := v.(string)
			if !ok {
				continue
			}
			ms, err := strconv.ParseInt(str, 10, 64)
			if err != nil {
				continue
			}
			if out[i] == nil {
				out[i] = make(map[string]int64, len(fields))
			}
			out[i][fields[j]] = ms
		}
	}
	return out, nil
}

// MarkFirstSeen records that assets were first seen at (one pipeline of
// HSETNX <p>:since:<uuid> "" ms), for assets stored before any schedule read
// since(): their since() counts from the first scan that looked.
func (s *Store) MarkFirstSeen(ctx context.Context, uuids []string, at time.Time) error {
	if len(uuids) == 0 {
		return nil
	}
	ms := at.UnixMilli()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range uuids {
			p.HSetNX(ctx, s.sinceKey(u), SinceFirstSeen, ms)
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// SinceUpdate is what the router records for since() about one asset: the
// watched paths an event changed and when, its first-seen time, or its removal.
type SinceUpdate struct {
	UUID    string
	At      int64 // unix ms
	Paths   []string
	Removed bool
	Once    []int64 // for a removed asset: the schedules whose once marks it leaves
}

// WriteSince records the router's since() updates in one pipeline: for a
// removed asset its record and its once marks go; else the first-seen time
// is set once and the changed paths get the event's time. Every write is
// idempotent, so a batch routed twice does no harm.
func (s *Store) WriteSince(ctx context.Context, ups []SinceUpdate) error {
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, u := range ups {
			key := s.sinceKey(u.UUID)
			if u.Removed {
				pipe.Del(ctx, key)
				for _, id := range u.Once {
					pipe.HDel(ctx, s.k.scheduleOnce(id), u.UUID)
				}
				continue
			}
			pipe.HSetNX(ctx, key, SinceFirstSeen, u.At)
			if len(u.Paths) > 0 {
				args := make([]any, 0, 2*len(u.Paths))
				for _, p := range u.Paths {
					args = append(args, p, u.At)
				}
				pipe.HSet(ctx, key, args...)
			}
		}
		return nil
	})
	return unavailable(err)
}

// OnceMarks returns, in the order of uuids, the digest of the snapshot the
// Schedule last sent for each asset ("" for none): HMGET <p>:sched:<id>:once.
func (s *Store) OnceMarks(ctx context.Context, id int64, uuids []string) ([]string, error) {
	vals, err := s.rdb.HMGet(ctx, s.k.scheduleOnce(id), uuids...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]string, len(uuids))
	for i, v := range vals {
		out[i], _ = v.(string)
	}
	return out, nil
}

// SetOnceMarks records the digests of the snapshots a schedule sent, by
// uuid (HSET <p>:sched:<id>:once).
func (s *Store) SetOnceMarks(ctx context.Context, id int64, marks map[string]string) error {
	if len(marks) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(marks))
	for u, m := range marks {
		args = append(args, u, m)
	}
	if err := s.rdb.HSet(ctx, s.k.scheduleOnce(id), args...).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// trimIndexScript drops a webhook's deliveries created before a cutoff in
// one partition: their index entries and their records. It runs per
// partition (blockScript): KEYS[1] index, [2] records; ARGV[1] the cutoff
// (unix ms, exclusive), [2] the most to drop. Returns how many went.
var trimIndexScript = blockScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids == 0 then return 0 end
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
return #ids
`)

// TrimDeliveryIndexes drops, for every webhook, the deliveries created
// before cutoff (index entries and records) in every partition, in bounded
// steps (each step one block script call over the partitions that still
// have some to drop), and returns how many went.
func (s *Store) TrimDeliveryIndexes(ctx context.Context, cutoff time.Time) (int64, error) {
	ids, err := s.rdb.HKeys(ctx, s.k.webhooks()).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	const step = 1000
	var total int64
	for _, id := range ids {
		w, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			continue
		}
		blocks := make([]block, len(s.parts))
		for p, k := range s.parts {
			blocks[p] = block{part: p, keys: []string{k.index(w), k.records(w)}, args: []any{cutoff.UnixMilli(), step}}
		}
		for len(blocks) > 0 && ctx.Err() == nil {
			res, err := s.runBlocks(ctx, trimIndexScript, blocks)
			if err != nil {
				return total, err
			}
			more := blocks[:0]
			for i, r := range res {
				n, _ := r.(int64)
				total += n
				if n >= step {
					more = append(more, blocks[i])
				}
			}
			blocks = more
		}
	}
	return total, nil
}
