package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
)

// Marker modes.
const (
	MarkerFlag   = "flag"   // stays on the asset (asset.markers) until cleared
	MarkerAction = "action" // a one-shot button; nothing is kept on the asset
)

// Marker is a stored marker definition (SPEC §3.3). The router reads its
// WebhookIDs to fire bound webhooks; the markers package validates and
// serves the rest.
type Marker struct {
	Name        string  `json:"name"`
	Label       string  `json:"label"`
	Description string  `json:"description"`
	Mode        string  `json:"mode"`
	Batch       bool    `json:"batch"`
	Condition   string  `json:"condition"`
	WebhookIDs  []int64 `json:"webhook_ids"`
	CreatedAt   Time    `json:"created_at"`
	UpdatedAt   Time    `json:"updated_at"`
}

// updateMarkerScript replaces a marker only when it exists, keeping its
// created_at: KEYS[1] markers hash; ARGV[1] name, ARGV[2] marker JSON.
// Returns 0 when the marker does not exist, else 1.
var updateMarkerScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// CreateMarker stores a new marker, stamping its times; a name already taken
// is a 409. Routing sees it at once in this process and within
// Config.RevisionEvery in the others.
func (e *Engine) CreateMarker(ctx context.Context, m *Marker) error {
	now := At(e.now())
	m.CreatedAt, m.UpdatedAt = now, now
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ok, err := e.rdb.HSetNX(ctx, e.k.markers(), m.Name, b).Result()
	if err != nil {
		return unavailable(err)
	}
	if !ok {
		return problem.New(http.StatusConflict, "marker %s exists already", m.Name)
	}
	return e.bump(ctx)
}

// UpdateMarker replaces a stored marker (it does not create one: ErrNotFound),
// keeping its creation time.
func (e *Engine) UpdateMarker(ctx context.Context, m *Marker) error {
	old, err := e.GetMarker(ctx, m.Name)
	if err != nil {
		return err
	}
	m.CreatedAt, m.UpdatedAt = old.CreatedAt, At(e.now())
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	n, err := updateMarkerScript.Run(ctx, e.rdb, []string{e.k.markers()}, m.Name, b).Int64()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return e.bump(ctx)
}

// GetMarker returns a stored marker, or ErrNotFound.
func (e *Engine) GetMarker(ctx context.Context, name string) (*Marker, error) {
	raw, err := e.rdb.HGet(ctx, e.k.markers(), name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, unavailable(err)
	}
	var m Marker
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("engine: stored marker %s: %w", name, err)
	}
	return &m, nil
}

// Markers returns every stored marker, by name.
func (e *Engine) Markers(ctx context.Context) ([]*Marker, error) {
	all, err := e.rdb.HGetAll(ctx, e.k.markers()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]*Marker, 0, len(all))
	for name, raw := range all {
		var m Marker
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			e.cfg.Logger.Error("engine: stored marker does not decode", "marker", name, "err", err)
			continue
		}
		out = append(out, &m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteMarker removes a marker, or answers ErrNotFound. The flags already
// set on assets stay in their snapshots.
func (e *Engine) DeleteMarker(ctx context.Context, name string) error {
	n, err := e.rdb.HDel(ctx, e.k.markers(), name).Result()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return e.bump(ctx)
}

// StoreSnapshots replaces the stored snapshots of several assets at once
// (one MSET; the keys share the prefix's hash tag), keyed by uuid. Ingest
// stores the snapshot of an event's asset itself; this is for what Ingest
// does not see, such as the assets of a batch marker event.
func (e *Engine) StoreSnapshots(ctx context.Context, assets map[string]map[string]any) error {
	if len(assets) == 0 {
		return nil
	}
	pairs := make([]any, 0, 2*len(assets))
	for uuid, a := range assets {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("engine: encode snapshot %s: %w", uuid, err)
		}
		pairs = append(pairs, e.k.asset(uuid), b)
		if m, ok := a["markers"]; ok {
			fb, _ := json.Marshal(m)
			if m == nil {
				fb = []byte("[]")
			}
			pairs = append(pairs, e.k.flags(uuid), fb)
		}
	}
	if err := e.rdb.MSet(ctx, pairs...).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Snapshots returns the stored snapshots of several assets in one round
// trip, in the order of uuids; an asset the engine has not seen is nil.
func (e *Engine) Snapshots(ctx context.Context, uuids []string) ([]map[string]any, error) {
	out := make([]map[string]any, len(uuids))
	if len(uuids) == 0 {
		return out, nil
	}
	ks := make([]string, len(uuids))
	for i, u := range uuids {
		ks[i] = e.k.asset(u)
	}
	vals, err := e.rdb.MGet(ctx, ks...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var m map[string]any
		if err := event.UnmarshalJSONNumber([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("engine: stored snapshot %s: %w", uuids[i], err)
		}
		out[i] = m
	}
	return out, nil
}
