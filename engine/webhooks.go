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

// Webhooks is the store of webhooks and REST-hook subscriptions: their
// documents (secrets sealed at rest), their live figures and the test send.
type Webhooks struct{ e *Engine }

// Webhooks returns the engine's webhooks store.
func (e *Engine) Webhooks() Webhooks { return Webhooks{e} }

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
func (x Webhooks) Check(w *Webhook) error {
	e := x.e
	_, err := e.compile(w)
	return err
}

// Create stores a new webhook (secrets sealed), giving it an id and
// timestamps, and returns it with secrets open.
func (x Webhooks) Create(ctx context.Context, w *Webhook) error {
	e := x.e
	if err := e.Webhooks().Check(w); err != nil {
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

// Update replaces a stored webhook, keeping its id, kind, owner and
// creation time.
func (x Webhooks) Update(ctx context.Context, w *Webhook) error {
	e := x.e
	old, err := e.Webhooks().Get(ctx, w.ID)
	if err != nil {
		return err
	}
	if err := e.Webhooks().Check(w); err != nil {
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

// Get returns a stored webhook with its secrets open.
func (x Webhooks) Get(ctx context.Context, id int64) (*Webhook, error) {
	e := x.e
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

// List returns every stored webhook of a kind, by ascending id.
func (x Webhooks) List(ctx context.Context, kind string) ([]*Webhook, error) {
	e := x.e
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

// Delete removes a webhook and its logs; its queued deliveries are
// dropped when they come up.
func (x Webhooks) Delete(ctx context.Context, id int64) error {
	e := x.e
	if err := e.st.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	return e.Reload(ctx)
}

// Rotate gives a webhook a new signing secret (generated when empty);
// the previous one keeps signing beside it for 24 hours.
func (x Webhooks) Rotate(ctx context.Context, id int64, secret string) (*Webhook, error) {
	e := x.e
	w, err := e.Webhooks().Get(ctx, id)
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
func (x Webhooks) Stats(ctx context.Context, ids []int64) (map[int64]Stats, error) {
	e := x.e
	figs, err := e.st.Figures(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]Stats, len(figs))
	for id, f := range figs {
		s := Stats{QueueLength: f.Queued, RetryQueueLength: f.Retrying, RuleErrors: RuleErrors{Count: f.RuleErrors.Count}}
		if f.RuleErrors.Last != nil {
			var last RuleError
			if json.Unmarshal(f.RuleErrors.Last, &last) == nil {
				s.RuleErrors.Last = &last
			}
		}
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

// Ping reports whether Redis answers within a second.
func (e *Engine) Ping(ctx context.Context) error { return e.st.Ping(ctx) }
