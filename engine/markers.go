package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/assethooks/assethooks/internal/problem"
)

// Markers is the store of marker definitions (SPEC §3.3).
type Markers struct{ e *Engine }

// Markers returns the engine's markers store.
func (e *Engine) Markers() Markers { return Markers{e} }

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

// Create stores a new marker, stamping its times; a name already taken
// is a 409. Routing sees it at once in this process and within
// Config.RevisionEvery in the others.
func (x Markers) Create(ctx context.Context, m *Marker) error {
	e := x.e
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

// Update replaces a stored marker (it does not create one: ErrNotFound),
// keeping its creation time.
func (x Markers) Update(ctx context.Context, m *Marker) error {
	e := x.e
	old, err := e.Markers().Get(ctx, m.Name)
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

// Get returns a stored marker, or ErrNotFound.
func (x Markers) Get(ctx context.Context, name string) (*Marker, error) {
	e := x.e
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

// List returns every stored marker, by name.
func (x Markers) List(ctx context.Context) ([]*Marker, error) {
	e := x.e
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

// Delete removes a marker, or answers ErrNotFound. The flags already
// set on assets stay in their snapshots.
func (x Markers) Delete(ctx context.Context, name string) error {
	e := x.e
	if err := e.st.DeleteMarker(ctx, name); err != nil {
		return err
	}
	return e.Reload(ctx)
}
