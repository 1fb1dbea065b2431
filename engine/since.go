package engine

import (
	"encoding/json"
	"time"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// The router's share of the schedules: change times for since(), and the
// targeted events of a digest.
//
// since(path) in a schedule's condition reads when the value at path last
// changed. The router records it, for the paths that saved schedule
// conditions pass to since() only (scheduler.watched), in a hash per asset
// (<p>:since:<uuid>: path → unix ms, "" → first seen), written in the same
// MULTI as the event's deliveries and ack: one HSETNX and at most one HSET
// per event, nothing at all while no schedule reads since(). The time is the
// event's occurred_at (not later than now). A removed asset's record goes
// with it, and so do its once marks (one HDEL per schedule with once).

// noteSince appends what ev means for since() (and, for a removed asset,
// for the once marks) to ups.
func (e *Engine) noteSince(ups []store.SinceUpdate, ev *event.Event, now time.Time) []store.SinceUpdate {
	set := e.sched.current.Load()
	uuid := ev.AssetID()
	if uuid == "" || ev.Type == event.AssetScheduled {
		return ups
	}
	if ev.Type == event.AssetRemoved {
		if len(set.watched) == 0 && len(set.once) == 0 {
			return ups
		}
		return append(ups, store.SinceUpdate{UUID: uuid, Removed: true, Once: set.once})
	}
	watched := set.watched
	if len(watched) == 0 {
		return ups
	}
	at := ev.OccurredAt
	if at.IsZero() || at.After(now) {
		at = now
	}
	return append(ups, store.SinceUpdate{UUID: uuid, At: at.UnixMilli(), Paths: rules.Touched(ev.Changes, watched)})
}

// schedulesRead reports whether the schedules need to see events of type t
// that no webhook subscribes to: every asset event while a saved condition
// reads since(), and removals while a schedule has once marks to drop.
func (e *Engine) schedulesRead(t string) bool {
	set := e.sched.current.Load()
	return len(set.watched) > 0 || (t == event.AssetRemoved && len(set.once) > 0)
}

// matchTargets routes an event that names its webhooks (a schedule's
// digest) to exactly those that exist and are enabled, whatever their
// triggers, scopes and conditions; their templates still apply.
func (e *Engine) matchTargets(st *state, evaluator *rules.Evaluator, ev *event.Event, env *rules.Env) []routed {
	var out []routed
	seen := map[int64]bool{}
	for _, id := range ev.Targets {
		h := st.hooks[id]
		if h == nil || h.w.Disabled || seen[id] {
			continue
		}
		seen[id] = true
		r := routed{hook: h}
		if h.tmpl != nil {
			data, err := evaluator.Render(h.tmpl, env)
			if err != nil {
				e.ruleError(id, "template", err)
			} else if b, err := json.Marshal(data); err == nil {
				r.data = b
			}
		}
		out = append(out, r)
	}
	return out
}
