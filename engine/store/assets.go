package store

import (
	"bytes"
	"context"

	"github.com/redis/go-redis/v9"
)

// splitSnapshot parses a stored snapshot "<kept flags>\n<asset JSON>" (a
// value without a newline is a bare asset).
func splitSnapshot(v []byte) (flags, asset []byte) {
	if i := bytes.IndexByte(v, '\n'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return nil, v
}

// assetKey is an asset's snapshot, in its partition.
func (s *Store) assetKey(uuid string) string { return s.parts[s.Partition(uuid, "")].asset(uuid) }

// Snapshot returns an asset's last known JSON, nil when unknown or removed.
func (s *Store) Snapshot(ctx context.Context, uuid string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, s.assetKey(uuid)).Bytes()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	_, a := splitSnapshot(b)
	return a, nil
}

// Snapshots returns several assets' JSON in one round trip, in the order of
// uuids; an unknown asset is nil.
func (s *Store) Snapshots(ctx context.Context, uuids []string) ([][]byte, error) {
	out := make([][]byte, len(uuids))
	if len(uuids) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(uuids))
	for i, u := range uuids {
		cmds[i] = pipe.Get(ctx, s.assetKey(u))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, unavailable(err)
	}
	for i, c := range cmds {
		if b, err := c.Bytes(); err == nil {
			_, out[i] = splitSnapshot(b)
		}
	}
	return out, nil
}

// SnapshotUpdate is one asset to store outside ingest: its JSON and, when
// HasFlags, its markers as the kept flags.
type SnapshotUpdate struct {
	UUID     string
	Asset    []byte
	Flags    []byte
	HasFlags bool
}

// putSnapshotsScript stores snapshots; an update without flags keeps the
// stored ones. It runs per partition (blockScript): KEYS the snapshots;
// ARGV per key: asset JSON, "1" when the flags are given, the flags.
var putSnapshotsScript = blockScript(`
for i = 1, #KEYS do
  local a, has, f = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if has ~= '1' then
    f = ''
    local old = redis.call('GET', KEYS[i])
    if old then
      local nl = string.find(old, '\n', 1, true)
      if nl then f = string.sub(old, 1, nl - 1) end
    end
  end
  if f == '[]' then f = '' end
  redis.call('SET', KEYS[i], f .. '\n' .. a)
end
return #KEYS
`)

// PutSnapshots stores several snapshots at once (for what ingest does not
// see, such as the assets of a batch marker event).
func (s *Store) PutSnapshots(ctx context.Context, ups []SnapshotUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	blocks := map[int]*block{}
	var order []int
	for _, u := range ups {
		p := s.Partition(u.UUID, "")
		b := blocks[p]
		if b == nil {
			b = &block{part: p}
			blocks[p] = b
			order = append(order, p)
		}
		has := "0"
		if u.HasFlags {
			has = "1"
		}
		b.keys = append(b.keys, s.parts[p].asset(u.UUID))
		b.args = append(b.args, u.Asset, has, u.Flags)
	}
	all := make([]block, len(order))
	for i, p := range order {
		all[i] = *blocks[p]
	}
	_, err := s.runBlocks(ctx, putSnapshotsScript, all)
	return err
}
