package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// ErrNotFound is returned for an unknown webhook, project, marker or delivery.
var ErrNotFound = store.ErrNotFound

// compileProblem turns a rules compile error into a 422 naming field, with
// the line and column.
func compileProblem(field string, err error) error {
	var ce *rules.CompileError
	if errors.As(err, &ce) {
		return &problem.Error{Kind: problem.KindInvalid, Field: field,
			Msg:   fmt.Sprintf("Invalid parameter '%s': %s (line %d, column %d)", field, ce.Msg, ce.Line, ce.Column),
			Extra: map[string]any{"line": ce.Line, "column": ce.Column}}
	}
	return err
}

// ParseSchedule reads a retry_schedule: Go durations, at most 20, each
// positive and at most 48 hours.
func ParseSchedule(s []string) ([]time.Duration, error) {
	if len(s) > 20 {
		return nil, problem.Invalid("retry_schedule", nil, "At most 20 entries")
	}
	out := make([]time.Duration, len(s))
	for i, v := range s {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 48*time.Hour {
			return nil, problem.Invalid("retry_schedule["+strconv.Itoa(i)+"]", v, "Must be a positive duration of at most 48h")
		}
		out[i] = d
	}
	return out, nil
}

// Check compiles a webhook as the engine would run it, so that a bad
// condition, template or schedule is refused before anything is stored.
func (e *Engine) Check(w *Webhook) error {
	_, err := e.compile(w)
	return err
}

// CreateWebhook stores a new webhook (secrets sealed), giving it an id and
// timestamps, and returns it with secrets open.
func (e *Engine) CreateWebhook(ctx context.Context, w *Webhook) error {
	if err := e.Check(w); err != nil {
		return err
	}
	id, err := e.st.NextWebhookID(ctx)
	if err != nil {
		return err
	}
	now := At(e.now())
	w.ID, w.CreatedAt, w.UpdatedAt, w.Action = id, now, now, w.actionType()
	return e.save(ctx, w)
}

// UpdateWebhook replaces a stored webhook, keeping its id, kind, owner and
// creation time.
func (e *Engine) UpdateWebhook(ctx context.Context, w *Webhook) error {
	old, err := e.GetWebhook(ctx, w.ID)
	if err != nil {
		return err
	}
	if err := e.Check(w); err != nil {
		return err
	}
	w.CreatedAt, w.Kind, w.Owner, w.Action = old.CreatedAt, old.Kind, old.Owner, old.actionType()
	w.UpdatedAt = At(e.now())
	return e.save(ctx, w)
}

func (e *Engine) save(ctx context.Context, w *Webhook) error {
	sealed := *w
	sealed.WebhookConfig = cloneConfig(w.WebhookConfig)
	if err := sealed.Seal(e.cfg.Box); err != nil {
		return err
	}
	b, err := json.Marshal(&sealed)
	if err != nil {
		return err
	}
	if err := e.st.PutWebhook(ctx, w.ID, b); err != nil {
		return err
	}
	return e.Reload(ctx)
}

// actionType is the registered action type that runs the webhook.
func (w *Webhook) actionType() string {
	if w.Action == "" {
		return actions.TypeWebhook
	}
	return w.Action
}

// GetWebhook returns a stored webhook with its secrets open.
func (e *Engine) GetWebhook(ctx context.Context, id int64) (*Webhook, error) {
	raw, err := e.st.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.decodeWebhook(raw)
}

func (e *Engine) decodeWebhook(raw []byte) (*Webhook, error) {
	var w Webhook
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("engine: stored webhook: %w", err)
	}
	if err := w.Open(e.cfg.Box); err != nil {
		return nil, fmt.Errorf("engine: open webhook %d secrets: %w", w.ID, err)
	}
	return &w, nil
}

// ListWebhooks returns every stored webhook of a kind, by ascending id.
func (e *Engine) ListWebhooks(ctx context.Context, kind string) ([]*Webhook, error) {
	all, err := e.st.Webhooks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Webhook, 0, len(all))
	for _, raw := range all {
		w, err := e.decodeWebhook(raw)
		if err != nil {
			return nil, err
		}
		if w.Kind == kind {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteWebhook removes a webhook and its logs; its queued deliveries are
// dropped when they come up.
func (e *Engine) DeleteWebhook(ctx context.Context, id int64) error {
	if err := e.st.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	return e.Reload(ctx)
}

// RotateSecret gives a webhook a new signing secret (generated when empty);
// the previous one keeps signing beside it for 24 hours.
func (e *Engine) RotateSecret(ctx context.Context, id int64, secret string) (*Webhook, error) {
	w, err := e.GetWebhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if secret == "" {
		secret = actions.GenerateSecret()
	}
	w.Rotate(secret, e.now())
	w.UpdatedAt = At(e.now())
	if err := e.save(ctx, w); err != nil {
		return nil, err
	}
	return w, nil
}

// Stats returns the live figures of webhooks, in one round trip.
func (e *Engine) Stats(ctx context.Context, ids []int64) (map[int64]Stats, error) {
	figs, err := e.st.Figures(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]Stats, len(figs))
	for id, f := range figs {
		s := Stats{QueueLength: f.Queued, RetryQueueLength: f.Retrying}
		if f.Latest != nil {
			var lr LatestRun
			if json.Unmarshal(f.Latest, &lr) == nil {
				s.LatestRun = &lr
			}
		}
		out[id] = s
	}
	return out, nil
}

// CreateProject stores a project under the given id (a new one when empty)
// and returns it; an id already taken is a conflict.
func (e *Engine) CreateProject(ctx context.Context, id, name string) (*Project, error) {
	if id == "" {
		id = "prj_" + NewEventID(e.now())[4:]
	}
	p := &Project{ID: id, Name: name, CreatedAt: At(e.now())}
	b, _ := json.Marshal(p)
	ok, err := e.st.CreateProject(ctx, p.ID, b)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, problem.New(problem.KindConflict, "project %s exists already", id)
	}
	return p, nil
}

// Projects lists the projects by creation time.
func (e *Engine) Projects(ctx context.Context) ([]Project, error) {
	all, err := e.st.Projects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Project, 0, len(all))
	for _, raw := range all {
		var p Project
		if json.Unmarshal(raw, &p) == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt.Time) })
	return out, nil
}

// ProjectExists reports whether a project id is known.
func (e *Engine) ProjectExists(ctx context.Context, id string) (bool, error) {
	return e.st.ProjectExists(ctx, id)
}

// Ping reports whether Redis answers within a second.
func (e *Engine) Ping(ctx context.Context) error { return e.st.Ping(ctx) }
