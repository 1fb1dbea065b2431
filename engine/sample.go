package engine

import (
	"context"
	"strings"
	"time"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// Samples returns recent events of a type (newest first), or a synthetic one
// when none was seen: what a "test" button or a Zapier sample shows.
func (e *Engine) Samples(ctx context.Context, typ string) ([]*event.Event, error) {
	raws, err := e.st.Samples(ctx, typ, samplesKept)
	if err != nil {
		return nil, err
	}
	var out []*event.Event
	for _, raw := range raws {
		var ev event.Event
		if event.UnmarshalJSONNumber([]byte(raw), &ev) == nil {
			out = append(out, &ev)
		}
	}
	if len(out) == 0 {
		out = append(out, Synthetic(typ, e.now()))
	}
	return out, nil
}

// Synthetic is a sample event of a type with a made-up asset (or object).
func Synthetic(typ string, now time.Time) *event.Event {
	ev := &event.Event{ID: "evt_sample_" + strings.ToLower(typ), Type: typ, OccurredAt: now.UTC().Truncate(time.Second),
		Actor: event.Actor{Username: "sample-user", Interface: "web"}, Changes: []event.Change{}}
	if event.IsAssetType(typ) {
		ev.Asset = map[string]any{
			"uuid": "00000000-0000-4000-8000-000000000000", "name": "sample.jpg", "path": "/samples/sample.jpg",
			"size": 102400, "mime_type": "image/jpeg", "cdn_url": "https://cdn.example.com/samples/sample.jpg",
			"info":  map[string]any{"title": "Sample asset", "description": "A sample sent by assethooks"},
			"tags":  []any{"sample"},
			"image": map[string]any{"width": 1920, "height": 1080},
			"meta":  map[string]any{"custom": map[string]any{"status": "approved"}},
		}
	} else {
		ev.Object = map[string]any{"id": "sample", "name": "Sample"}
	}
	return ev
}

// Test sends a sample event to a webhook now (the latest real event of
// a type it subscribes to, else a synthetic one) and returns what came back.
func (x Webhooks) Test(ctx context.Context, w *Webhook) (actions.Result, error) {
	e := x.e
	h, err := e.compile(w)
	if err != nil {
		return actions.Result{}, err
	}
	typ := event.Types()[0]
	for _, t := range w.Triggers {
		if event.Known(t) {
			typ = t
			break
		}
		if t == "*" || strings.HasSuffix(t, "*") {
			typ = "ASSET_ADDED"
			if p := strings.TrimSuffix(t, "*"); !strings.HasPrefix(typ, p) {
				for _, k := range event.Types() {
					if strings.HasPrefix(k, p) {
						typ = k
						break
					}
				}
			}
			break
		}
	}
	evs, err := e.Samples(ctx, typ)
	if err != nil {
		return actions.Result{}, err
	}
	ev := evs[0]
	d := &actions.Delivery{ID: "msg_test_" + NewEventID(e.now())[4:], Attempt: 1, Event: ev}
	if h.tmpl != nil {
		env := rules.NewEnv(ev, ev.Previous, e.now())
		if data, err := rules.NewEvaluator().Render(h.tmpl, env); err == nil {
			d.Data = data
		}
	}
	// The attempt has its own timeout (timeout_seconds); it is not cut short
	// by the caller's deadline for storage calls.
	return h.action.Execute(context.WithoutCancel(ctx), d), nil
}
