package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/assethooks/assethooks/engine/store"
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
	ok, err := e.st.CreateMarker(ctx, m.Name, b)
	if err != nil {
		return err
	}
	if !ok {
		return problem.New(problem.KindConflict, "marker %s exists already", m.Name)
	}
	return e.Reload(ctx)
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
	if err := e.st.UpdateMarker(ctx, m.Name, b); err != nil {
		return err
	}
	return e.Reload(ctx)
}

// GetMarker returns a stored marker, or ErrNotFound.
func (e *Engine) GetMarker(ctx context.Context, name string) (*Marker, error) {
	raw, err := e.st.Marker(ctx, name)
	if err != nil {
		return nil, err
	}
	var m Marker
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("engine: stored marker %s: %w", name, err)
	}
	return &m, nil
}

// Markers returns every stored marker, by name.
func (e *Engine) Markers(ctx context.Context) ([]*Marker, error) {
	all, err := e.st.Markers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Marker, 0, len(all))
	for name, raw := range all {
		var m Marker
		if err := json.Unmarshal(raw, &m); err != nil {
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
	if err := e.st.DeleteMarker(ctx, name); err != nil {
		return err
	}
	return e.Reload(ctx)
}

// StoreSnapshots replaces the stored snapshots of several assets at once,
// keyed by uuid. Ingest stores the snapshot of an event's asset itself; this
// is for what Ingest does not see, such as the assets of a batch marker
// event. An asset with a "markers" member stores them as its kept flags.
func (e *Engine) StoreSnapshots(ctx context.Context, assets map[string]map[string]any) error {
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

// Snapshots returns the stored snapshots of several assets in one round
// trip, in the order of uuids; an asset the engine has not seen is nil.
func (e *Engine) Snapshots(ctx context.Context, uuids []string) ([]map[string]any, error) {
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
