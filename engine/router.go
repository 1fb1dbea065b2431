package engine

import (
	"bytes"
	"context"
	"encoding/json"

	"errors"
	"fmt"
	gojson "github.com/goccy/go-json"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

func (e *Engine) routeLoop(ctx context.Context) {
	ev := rules.NewEvaluator()
	var fails int
	for ctx.Err() == nil {
		res, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: groupRouter, Consumer: e.cfg.Consumer,
			Streams: []string{e.k.events(), ">"}, Count: int64(e.cfg.BatchSize), Block: e.cfg.Block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			fails = 0
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fails++
			e.trouble(ctx, "router: read events", err, fails)
			continue
		}
		if fails > 0 {
			// A read whose reply was lost left entries in our own pending
			// list: route them now rather than after ClaimIdle.
			e.ownPending(ctx, e.k.events(), groupRouter, nil, func(msgs []redis.XMessage) { e.route(ctx, ev, msgs) })
		}
		fails = 0
		for _, s := range res {
			e.route(ctx, ev, s.Messages)
		}
	}
}

// ownPending hands this consumer's pending entries of a stream to handle,
// in batches, skipping those skip reports as still in hand.
func (e *Engine) ownPending(ctx context.Context, stream, group string, skip func(id string) bool, handle func([]redis.XMessage)) {
	start := "0"
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		res, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: e.cfg.Consumer,
			Streams: []string{stream, start}, Count: int64(e.cfg.BatchSize), Block: -1}).Result()
		if err != nil || len(res) == 0 || len(res[0].Messages) == 0 {
			return
		}
		msgs := res[0].Messages
		start = msgs[len(msgs)-1].ID
		var todo []redis.XMessage
		for _, m := range msgs {
			if m.Values != nil && (skip == nil || !skip(m.ID)) {
				todo = append(todo, m)
			}
		}
		if len(todo) > 0 {
			e.cfg.Logger.Info("engine: resuming own unacknowledged entries", "stream", group, "count", len(todo))
			handle(todo)
		}
	}
}

// trouble logs a Redis failure, recreates the consumer groups when Redis lost
// them (a restart without persistence) and backs off, up to a second.
func (e *Engine) trouble(ctx context.Context, what string, err error, fails int) {
	if fails == 1 || fails%50 == 0 {
		e.cfg.Logger.Warn("engine: redis trouble, retrying", "what", what, "err", err)
	}
	if isNoGroup(err) {
		_ = e.ensureGroups(ctx)
	}
	d := time.Duration(min(fails, 10)) * 100 * time.Millisecond
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

type routed struct {
	hook *hook
	data json.RawMessage
}

// route matches a batch of events and writes their deliveries and acks in one
// MULTI. On failure the events stay pending and are routed again, yielding
// the same delivery ids.
func (e *Engine) route(ctx context.Context, evaluator *rules.Evaluator, msgs []redis.XMessage) {
	if len(msgs) == 0 {
		return
	}
	st := e.state.Load()
	now := e.now()
	type out struct {
		ev      *event.Event
		body    []byte
		matched []routed
	}
	var outs []out
	var since []sinceUpdate // schedules: change times for since()
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.ID)
		if t, _ := m.Values["t"].(string); t != "" && !st.wanted(t) && !e.schedulesRead(t) { // schedules: since() and once marks read asset events
			e.cfg.Metrics.EventsRouted.Inc()
			continue // nobody subscribes to this type: acknowledged unread
		}
		ev, old, err := decodeEntry(m)
		if err != nil {
			e.cfg.Logger.Error("engine: undecodable event entry dropped", "entry", m.ID, "err", err)
			continue
		}
		e.cfg.Metrics.EventsRouted.Inc()
		ev.Changes = rules.Changes(ev, old)
		since = e.noteSince(since, ev, now) // schedules
		env := rules.NewEnv(ev, old, now)
		matched := e.match(st, evaluator, ev, env)
		if len(matched) == 0 {
			continue
		}
		body, err := storedEvent(ev)
		if err != nil {
			e.cfg.Logger.Error("engine: event does not encode", "event", ev.ID, "err", err)
			continue
		}
		outs = append(outs, out{ev, body, matched})
	}
	write := func(pipe redis.Pipeliner) error {
		e.schedStore().writeSince(ctx, pipe, since) // schedules
		for _, o := range outs {
			pipe.Set(ctx, e.k.event(o.ev.ID), o.body, e.cfg.RecordTTL)
			for _, r := range o.matched {
				e.queueDelivery(ctx, pipe, o.ev, r.hook.w.ID, r.data, now)
			}
		}
		sampled := map[string]bool{}
		for i := len(outs) - 1; i >= 0; i-- { // the newest event of each type is kept as a sample
			if t := outs[i].ev.Type; !sampled[t] {
				sampled[t] = true
				b := outs[i].body
				pipe.LPush(ctx, e.k.sample(t), b[bytes.IndexByte(b, '\n')+1:]) // the event, without its body
				pipe.LTrim(ctx, e.k.sample(t), 0, samplesKept-1)
			}
		}
		pipe.XAck(ctx, e.k.events(), groupRouter, ids...)
		pipe.XDel(ctx, e.k.events(), ids...)
		return nil
	}
	for fails := 1; ; fails++ {
		_, err := e.rdb.TxPipelined(context.WithoutCancel(ctx), write)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return // stays pending; reclaimed later
		}
		e.trouble(ctx, "router: write deliveries", err, fails)
	}
}

// queueDelivery adds one new delivery to a MULTI: the stream entry, its
// counter, its record and its place in the webhook's index.
func (e *Engine) queueDelivery(ctx context.Context, pipe redis.Pipeliner, ev *event.Event, webhookID int64, data json.RawMessage, now time.Time) {
	msg := message{D: deliveryID(ev.ID, webhookID), W: webhookID, E: ev.ID, T: ev.Type, C: now.UnixMilli(), X: data}
	mb, _ := gojson.Marshal(msg)
	rec, _ := gojson.Marshal(Delivery{ID: msg.D, EventID: ev.ID, EventType: ev.Type, WebhookID: webhookID,
		Status: StatusPending, CreatedAt: At(now)})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: e.k.deliveries(), Values: []any{"j", mb}})
	pipe.HIncrBy(ctx, e.k.qlen(), itoa64(webhookID), 1)
	pipe.Set(ctx, e.k.delivery(msg.D), rec, e.cfg.RecordTTL)
	pipe.ZAdd(ctx, e.k.index(webhookID), redis.Z{Score: float64(now.UnixMilli()), Member: msg.D})
	if rand.IntN(16) == 0 { // keep the index bounded without a trim per delivery
		pipe.ZRemRangeByRank(ctx, e.k.index(webhookID), 0, int64(-e.cfg.IndexCap-1))
	}
}

// storedEvent is how a routed event is kept for its deliveries: its default
// json body, encoded here once for all of them, a newline, then the event.
func storedEvent(ev *event.Event) ([]byte, error) {
	def, err := actions.DefaultJSON(ev)
	if err != nil {
		return nil, err
	}
	body, err := gojson.Marshal(ev)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(def)+1+len(body))
	out = append(append(append(out, def...), '\n'), body...)
	return out, nil
}

func decodeEntry(m redis.XMessage) (*event.Event, map[string]any, error) {
	raw, _ := m.Values["e"].(string)
	var ev event.Event
	if err := event.UnmarshalJSONNumber([]byte(raw), &ev); err != nil {
		return nil, nil, err
	}
	if f, _ := m.Values["m"].(string); f != "" && ev.Asset != nil {
		if _, has := ev.Asset["markers"]; !has { // the flags users set, which the DAM does not know
			var flags []any
			if event.UnmarshalJSONNumber([]byte(f), &flags) == nil {
				ev.Asset["markers"] = flags
			}
		}
	}
	old := ev.Previous
	if old == nil {
		if o, _ := m.Values["o"].(string); o != "" {
			if err := event.UnmarshalJSONNumber([]byte(o), &old); err != nil {
				return nil, nil, fmt.Errorf("snapshot: %w", err)
			}
		}
	}
	return &ev, old, nil
}

// wanted reports whether any webhook may receive events of type t: one
// whose triggers cover it, or, for marker events, one a marker fires.
func (st *state) wanted(t string) bool {
	if len(st.index.Candidates(t)) > 0 {
		return true
	}
	return (t == event.MarkerSelected || t == event.MarkerCleared) && len(st.markers) > 0
}

// match returns the webhooks an event goes to: those whose rule matches, and
// for marker events the webhooks the marker fires directly (whose condition
// still applies). A webhook never receives the engine's events about itself.
func (e *Engine) match(st *state, evaluator *rules.Evaluator, ev *event.Event, env *rules.Env) []routed {
	if len(ev.Targets) > 0 { // schedules: a digest goes to exactly its webhooks
		return e.matchTargets(st, evaluator, ev, env)
	}
	var self int64 = -1
	if ev.Webhook != nil {
		self = asInt64(ev.Webhook["id"])
	}
	var out []routed
	add := func(h *hook) {
		for _, r := range out {
			if r.hook == h {
				return
			}
		}
		r := routed{hook: h}
		if h.tmpl != nil {
			data, err := evaluator.Render(h.tmpl, env)
			if err != nil {
				e.ruleError(h.w.ID, "template", err)
			} else if b, err := json.Marshal(data); err == nil {
				r.data = b
			}
		}
		out = append(out, r)
	}
	for _, r := range st.index.Candidates(ev.Type) {
		if r.ID == self {
			continue
		}
		ok, err := r.Match(evaluator, env)
		if err != nil {
			e.ruleError(r.ID, "condition", err)
			continue
		}
		if ok {
			add(st.hooks[r.ID])
		}
	}
	if ev.Marker != "" && (ev.Type == event.MarkerSelected || ev.Type == event.MarkerCleared) {
		for _, id := range st.markers[ev.Marker] {
			h := st.hooks[id]
			if h == nil || h.w.Disabled || id == self {
				continue
			}
			if h.rule.Condition != nil {
				ok, err := evaluator.Eval(h.rule.Condition, env)
				if err != nil {
					e.ruleError(id, "condition", err)
					continue
				}
				if !ok {
					continue
				}
			}
			add(h)
		}
	}
	return out
}

// ruleError counts a run-time rule error and logs it once per burst (10 s).
func (e *Engine) ruleError(webhookID int64, what string, err error) {
	e.cfg.Metrics.RuleErrors.WithLabelValues(itoa64(webhookID)).Inc()
	now := time.Now()
	if last, ok := e.ruleLogged.Load(webhookID); ok && now.Sub(last.(time.Time)) < 10*time.Second {
		return
	}
	e.ruleLogged.Store(webhookID, now)
	e.cfg.Logger.Warn("engine: rule error at run time (no match)", "webhook", webhookID, "in", what, "err", err)
}
