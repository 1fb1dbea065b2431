package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// CreateMarker stores a new marker document and moves the revision; false
// when the name is taken.
func (s *Store) CreateMarker(ctx context.Context, name string, doc []byte) (bool, error) {
	ok, err := s.rdb.HSetNX(ctx, s.k.markers(), name, doc).Result()
	if err != nil || !ok {
		return false, unavailable(err)
	}
	return true, s.Bump(ctx)
}

// updateMarkerScript replaces a marker only when it exists and moves the
// revision: KEYS[1] markers, [2] revision; ARGV[1] name, [2] document.
// Returns 0 when the marker does not exist, else 1.
var updateMarkerScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
`)

// UpdateMarker replaces a stored marker; ErrNotFound when there is none.
func (s *Store) UpdateMarker(ctx context.Context, name string, doc []byte) error {
	n, err := updateMarkerScript.Run(ctx, s.rdb, []string{s.k.markers(), s.k.rev()}, name, doc).Int()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Marker returns a marker's document, or ErrNotFound.
func (s *Store) Marker(ctx context.Context, name string) ([]byte, error) {
	b, err := s.rdb.HGet(ctx, s.k.markers(), name).Bytes()
	if err == redis.Nil {
		return nil, ErrNotFound
	}
	return b, unavailable(err)
}

// Markers returns every marker's document by name.
func (s *Store) Markers(ctx context.Context) (map[string][]byte, error) {
	return s.hashAll(ctx, s.k.markers())
}

// DeleteMarker removes a marker and moves the revision; ErrNotFound when
// there is none.
func (s *Store) DeleteMarker(ctx context.Context, name string) error {
	n, err := s.rdb.HDel(ctx, s.k.markers(), name).Result()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return s.Bump(ctx)
}

// CreateProject stores a new project document; false when the id is taken.
func (s *Store) CreateProject(ctx context.Context, id string, doc []byte) (bool, error) {
	ok, err := s.rdb.HSetNX(ctx, s.k.projects(), id, doc).Result()
	return ok, unavailable(err)
}

// Projects returns every project's document by id.
func (s *Store) Projects(ctx context.Context) (map[string][]byte, error) {
	return s.hashAll(ctx, s.k.projects())
}

// ProjectExists reports whether a project id is known.
func (s *Store) ProjectExists(ctx context.Context, id string) (bool, error) {
	ok, err := s.rdb.HExists(ctx, s.k.projects(), id).Result()
	return ok, unavailable(err)
}

func (s *Store) hashAll(ctx context.Context, key string) (map[string][]byte, error) {
	all, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make(map[string][]byte, len(all))
	for k, v := range all {
		out[k] = []byte(v)
	}
	return out, nil
}
