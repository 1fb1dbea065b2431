package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
)

// Assets is the store of asset snapshots: the last known representation of
// every asset the engine has seen, from which changes are derived and by
// which markers are offered.
type Assets struct{ e *Engine }

// Assets returns the engine's asset snapshots.
func (e *Engine) Assets() Assets { return Assets{e} }

// Get returns the last known representation of an asset, or nil when the
// engine has not seen it (or it was removed).
func (x Assets) Get(ctx context.Context, uuid string) (map[string]any, error) {
	e := x.e
	raw, err := e.st.Snapshot(ctx, uuid)
	if err != nil || raw == nil {
		return nil, err
	}
	var m map[string]any
	if err := event.UnmarshalJSONNumber(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// Put replaces the stored snapshots of several assets at once,
// keyed by uuid. Ingest stores the snapshot of an event's asset itself; this
// is for what Ingest does not see, such as the assets of a batch marker
// event. An asset with a "markers" member stores them as its kept flags.
func (x Assets) Put(ctx context.Context, assets map[string]map[string]any) error {
	e := x.e
	ups := make([]store.SnapshotUpdate, 0, len(assets))
	for uuid, a := range assets {
		b, err := event.EncodeJSON(a)
		if err != nil {
			return fmt.Errorf("engine: encode snapshot %s: %w", uuid, err)
		}
		u := store.SnapshotUpdate{UUID: uuid, Asset: b}
		if m, ok := a["markers"]; ok {
			u.HasFlags = true
			u.Flags, _ = json.Marshal(m)
			if m == nil {
				u.Flags = []byte("[]")
			}
		}
		ups = append(ups, u)
	}
	return e.st.PutSnapshots(ctx, ups)
}

// GetMany returns the stored snapshots of several assets in one round
// trip, in the order of uuids; an asset the engine has not seen is nil.
func (x Assets) GetMany(ctx context.Context, uuids []string) ([]map[string]any, error) {
	e := x.e
	raws, err := e.st.Snapshots(ctx, uuids)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(uuids))
	for i, raw := range raws {
		if raw == nil {
			continue
		}
		var m map[string]any
		if err := event.UnmarshalJSONNumber(raw, &m); err != nil {
			return nil, fmt.Errorf("engine: stored snapshot %s: %w", uuids[i], err)
		}
		out[i] = m
	}
	return out, nil
}
