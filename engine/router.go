package engine

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// The router reads events in batches, matches each against the rule index
// and writes the batch's deliveries, stored events and acknowledgement in
// one script call (store.Route), which writes only for entries still
// pending: a batch routed twice queues nothing twice.
//
// An event is decoded here once, and its asset only when something needs
// it: a condition, a folder scope or a template of a candidate webhook, a
// previous snapshot to derive changes from, or marker flags to merge. Else
// the default json body is assembled from the asset's stored bytes.

func (e *Engine) routeLoop(ctx context.Context) {
	ev := rules.NewEvaluator()
	var fails int
	for ctx.Err() == nil {
		entries, err := e.st.ReadEvents(ctx, e.cfg.Consumer, e.cfg.BatchSize, e.cfg.Block)
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
			e.ownPendingEvents(ctx, func(es []store.EventEntry) { e.route(ctx, ev, es) })
		}
		fails = 0
		e.route(ctx, ev, entries)
	}
}

// ownPendingEvents hands this consumer's pending events to handle, in batches.
func (e *Engine) ownPendingEvents(ctx context.Context, handle func([]store.EventEntry)) {
	start := "0"
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		es, next, err := e.st.OwnPendingEvents(ctx, e.cfg.Consumer, start, e.cfg.BatchSize)
		if err != nil || next == "" {
			return
		}
		start = next
		if len(es) > 0 {
			e.cfg.Logger.Info("engine: resuming own unacknowledged events", "count", len(es))
			handle(es)
		}
	}
}

// trouble logs a Redis failure, recreates the consumer groups when Redis lost
// them (a restart without persistence) and backs off, up to a second.
func (e *Engine) trouble(ctx context.Context, what string, err error, fails int) {
	if fails == 1 || fails%50 == 0 {
		e.cfg.Logger.Warn("engine: redis trouble, retrying", "what", what, "err", err)
	}
	if store.IsNoGroup(err) {
		_ = e.st.EnsureGroups(ctx)
	}
	d := time.Duration(min(fails, 10)) * 100 * time.Millisecond
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

type routed struct {
	hook *hook
	data json.RawMessage // a template's result
}

// route matches a batch of events and writes their deliveries and acks in one
// script call. On failure the events stay pending and are routed again,
// yielding the same delivery ids.
func (e *Engine) route(ctx context.Context, evaluator *rules.Evaluator, entries []store.EventEntry) {
	if len(entries) == 0 {
		return
	}
	st := e.state.Load()
	now := e.now()
	b := &store.RouteBatch{Consumer: e.cfg.Consumer, Minute: store.Minute(now), Retention: e.cfg.EventRetention,
		SampleCap: samplesKept, HistoryCap: e.cfg.EventCap, HistoryRetention: e.cfg.EventRetention, Now: now}
	// The minute's hash of stored events gets its expiry from this
	// process's first batch of the minute in each partition: the store
	// keeps track.
	if rand.IntN(16) == 0 { // keep the indexes bounded without a trim per batch
		b.IndexCap = e.cfg.IndexCap
	}
	if e.rosterDue(st, now) {
		b.Roster = st.roster
	}
	rc := &routing{b: b, now: now, roster: st.roster.ID}
	for _, m := range entries {
		b.Entries = append(b.Entries, m.Entry)
		e.cfg.Metrics.EventsRouted.Inc()
		// schedules: since() and once marks read asset events
		if m.Type != "" && !st.wanted(m.Type) && !e.schedulesRead(m.Type) && rc.keepUnread(m) {
			continue // nobody subscribes to this type: kept in the history unread
		}
		if err := e.routeOne(st, evaluator, m, rc); err != nil {
			e.cfg.Logger.Error("engine: undecodable event entry dropped", "entry", m.Entry, "err", err)
		}
	}
	sinceDone := len(rc.since) == 0
	for fails := 1; ; fails++ {
		// schedules: change times for since(), written before the batch is
		// acknowledged, so that whoever sees the events routed sees them
		// too; idempotent, so a batch routed again writes the same.
		err := error(nil)
		if !sinceDone {
			if err = e.st.WriteSince(context.WithoutCancel(ctx), rc.since); err == nil {
				sinceDone = true
			}
		}
		if err == nil {
			_, err = e.st.Route(context.WithoutCancel(ctx), b)
		}
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return // stays pending; reclaimed later
		}
		e.trouble(ctx, "router: write deliveries", err, fails)
	}
}

// routeOne matches one event and adds what it yields to the batch: its
// history record with its trace, and its deliveries.
func (e *Engine) routeOne(st *state, evaluator *rules.Evaluator, m store.EventEntry, rc *routing) error {
	now, b := rc.now, rc.b
	var ev event.Event
	if err := event.UnmarshalJSONNumber([]byte(m.Envelope), &ev); err != nil {
		return err
	}
	decoded := false
	var old map[string]any
	if m.Asset != "" && (m.Old != "" || m.Flags != "" || ev.Previous != nil || st.needsAsset(&ev) || e.schedulesRead(ev.Type)) {
		if err := decodeAsset(&ev, m); err != nil {
			return err
		}
		decoded = true
		old = ev.Previous
		if old == nil && m.Old != "" {
			if err := event.UnmarshalJSONNumber([]byte(m.Old), &old); err != nil {
				return err
			}
		}
	}
	ev.Changes = rules.Changes(&ev, old)
	rc.since = e.noteSince(rc.since, &ev, now) // schedules
	env := rules.NewEnv(&ev, old, now)
	rc.entry, rc.eventID = m.Entry, ev.ID
	rc.tr.begin(now, rc.roster, old != nil)
	matched := e.match(st, evaluator, &ev, env, rc)
	hist := store.HistoryEvent{Entry: m.Entry, Order: m.Order, ID: ev.ID, Type: ev.Type, AssetID: m.AssetID, Trace: rc.tr.end()}
	if hist.AssetID == "" {
		hist.AssetID = ev.AssetID()
	}
	var body, full []byte
	var err error
	if len(matched) == 0 {
		switch {
		case decoded || m.Asset == "":
			hist.Event, err = gojson.Marshal(&ev)
		default:
			hist.Event = withAsset([]byte(m.Envelope), m.Asset)
		}
		if err == nil {
			b.History = append(b.History, hist)
		}
		return err
	}
	if decoded || m.Asset == "" {
		if body, err = actions.DefaultJSON(&ev); err == nil {
			full, err = gojson.Marshal(&ev)
		}
	} else {
		if body, err = actions.DefaultJSONWith(&ev, []byte(m.Asset)); err == nil {
			full = withAsset([]byte(m.Envelope), m.Asset)
		}
	}
	if err != nil {
		return err
	}
	stored := make([]byte, 0, len(body)+1+len(full))
	stored = append(append(append(stored, body...), '\n'), full...)
	b.Events = append(b.Events, store.StoredEvent{Entry: m.Entry, ID: ev.ID, Value: stored})
	hist.Event = full
	b.History = append(b.History, hist)
	if e.sampleDue(ev.Type, now) {
		b.Samples = append(b.Samples, store.Sample{Entry: m.Entry, Order: m.Order, Type: ev.Type, Value: full})
	}
	for _, r := range matched {
		msg := message{D: deliveryID(ev.ID, r.hook.w.ID), W: r.hook.w.ID, E: ev.ID, T: ev.Type, C: now.UnixMilli(), X: r.data}
		mb, _ := gojson.Marshal(&msg)
		rec, _ := gojson.Marshal(&Delivery{ID: msg.D, EventID: ev.ID, EventType: ev.Type, WebhookID: msg.W,
			Status: StatusPending, CreatedAt: At(now)})
		d := store.NewDelivery{Entry: m.Entry, WebhookID: msg.W, DeliveryID: msg.D, Message: mb, Record: rec, Created: msg.C}
		if r.hook.sendsDefault() && len(r.data) == 0 {
			d.Body = body
		}
		b.Deliveries = append(b.Deliveries, d)
	}
	return nil
}

// routing is what the router carries through one batch: the batch, its
// time and roster, the traces, and the event being routed.
type routing struct {
	b              *store.RouteBatch
	now            time.Time
	roster         string
	tr             tracer
	entry, eventID string
	since          []store.SinceUpdate // schedules: change times for since()
}

// keepUnread keeps an event nobody subscribes to in the history without
// decoding it, when routing it would derive nothing (no previous snapshot
// that differs, no previous in the envelope, no kept flags): its trace is
// the header alone, every webhook having ended at its triggers. It reports
// false when the event must be decoded (routeOne then keeps it).
func (rc *routing) keepUnread(m store.EventEntry) bool {
	if m.ID == "" || m.Flags != "" || (m.Old != "" && m.Old != m.Asset) || strings.Contains(m.Envelope, `"previous":`) {
		return false
	}
	rc.tr.begin(rc.now, rc.roster, m.Old != "")
	ev := []byte(m.Envelope)
	if m.Asset != "" {
		ev = withAsset(ev, m.Asset)
	}
	rc.b.History = append(rc.b.History, store.HistoryEvent{Entry: m.Entry, Order: m.Order, ID: m.ID, Type: m.Type, AssetID: m.AssetID,
		Trace: rc.tr.end(), Event: ev})
	return true
}

// ruleError adds a run-time rule error of the event being routed to the
// batch, for the webhook's rule_errors.
func (rc *routing) ruleError(webhookID int64, what string, err error) {
	msg := err.Error()
	if what != "condition" {
		msg = what + ": " + msg
	}
	last, _ := gojson.Marshal(&RuleError{At: At(rc.now), Error: msg, EventID: rc.eventID})
	rc.b.RuleErrors = append(rc.b.RuleErrors, store.RuleError{Entry: rc.entry, WebhookID: webhookID, Last: last})
}

// decodeAsset decodes an entry's asset into ev, with the kept marker flags
// merged in when the DAM's asset carries none.
func decodeAsset(ev *event.Event, m store.EventEntry) error {
	if err := event.UnmarshalJSONNumber([]byte(m.Asset), &ev.Asset); err != nil {
		return err
	}
	if m.Flags != "" && ev.Asset != nil {
		if _, has := ev.Asset["markers"]; !has { // the flags users set, which the DAM does not know
			var flags []any
			if event.UnmarshalJSONNumber([]byte(m.Flags), &flags) == nil {
				ev.Asset["markers"] = flags
			}
		}
	}
	return nil
}

// withAsset splices an asset's JSON into an event's JSON that lacks it.
func withAsset(envelope []byte, asset string) []byte {
	if len(envelope) < 2 || envelope[len(envelope)-1] != '}' {
		return envelope
	}
	out := make([]byte, 0, len(envelope)+len(asset)+10)
	out = append(out, envelope[:len(envelope)-1]...)
	if len(envelope) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"asset":`...)
	out = append(out, asset...)
	return append(out, '}')
}

// samplesKept is how many recent events of each type are kept as samples.
const samplesKept = 3

// sampleDue reports whether this process should keep an event of type t as
// a sample now: at most one a second per type.
func (e *Engine) sampleDue(t string, now time.Time) bool {
	if v, ok := e.sampled.Load(t); ok && now.Sub(v.(time.Time)) < time.Second {
		return false
	}
	e.sampled.Store(t, now)
	return true
}

// wanted reports whether any webhook may receive events of type t: one
// whose triggers cover it, or, for marker events, one a marker fires.
func (st *state) wanted(t string) bool {
	if len(st.index.Candidates(t)) > 0 {
		return true
	}
	return (t == event.MarkerSelected || t == event.MarkerCleared) && len(st.markers) > 0
}

// needsAsset reports whether matching an event reads its asset: a
// candidate webhook's condition, folder scope or template.
func (st *state) needsAsset(ev *event.Event) bool {
	need := func(h *hook) bool {
		return h != nil && (h.rule.Condition != nil || h.rule.Folder != "" || h.tmpl != nil)
	}
	for _, r := range st.index.Candidates(ev.Type) {
		if need(st.hooks[r.ID]) {
			return true
		}
	}
	if ev.Marker != "" {
		for _, id := range st.markers[ev.Marker] {
			if need(st.hooks[id]) {
				return true
			}
		}
	}
	return false
}

// match returns the webhooks an event goes to: those whose rule matches, and
// for marker events the webhooks the marker fires directly (whatever their
// triggers; their project, folder, user scopes and condition still apply).
// A webhook never receives the engine's events about itself. Where each
// webhook it looks at ended goes to the event's trace, and run-time rule
// errors to the batch.
func (e *Engine) match(st *state, evaluator *rules.Evaluator, ev *event.Event, env *rules.Env, rc *routing) []routed {
	if len(ev.Targets) > 0 { // schedules: a digest goes to exactly its webhooks
		rc.tr.digest()
		out := e.matchTargets(st, evaluator, ev, env)
		for _, r := range out {
			rc.tr.addTarget(r.hook.w.ID)
		}
		return out
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
				rc.ruleError(h.w.ID, "template", err)
			} else if b, err := json.Marshal(data); err == nil {
				r.data = b
			}
		}
		out = append(out, r)
	}
	try := func(h *hook, viaMarker bool) {
		if h == nil {
			return
		}
		if h.w.ID == self {
			rc.tr.add(h.w.ID, rules.StageSelf, viaMarker, false, nil, env)
			return
		}
		stage, err := h.rule.Check(evaluator, env)
		if err != nil {
			e.ruleError(h.w.ID, "condition", err)
			rc.ruleError(h.w.ID, "condition", err)
		}
		rc.tr.add(h.w.ID, stage, viaMarker, h.rule.Condition != nil, err, env)
		if stage == rules.StageMatched {
			add(h)
		}
	}
	for _, r := range st.index.Candidates(ev.Type) {
		try(st.hooks[r.ID], false)
	}
	if ev.Marker != "" && (ev.Type == event.MarkerSelected || ev.Type == event.MarkerCleared) {
		for _, id := range st.markers[ev.Marker] {
			h := st.hooks[id]
			if h != nil && !h.rule.Disabled && h.rule.Covers(ev.Type) {
				continue // a candidate already: tried above, with the same outcome
			}
			try(h, true)
		}
	}
	return out
}

// ruleError counts a run-time rule error and logs it once per burst.
func (e *Engine) ruleError(webhookID int64, what string, err error) {
	e.cfg.Metrics.RuleErrors.WithLabelValues(itoa64(webhookID)).Inc()
	now := time.Now()
	if last, ok := e.ruleLogged.Load(webhookID); ok && now.Sub(last.(time.Time)) < 10*time.Second {
		return
	}
	e.ruleLogged.Store(webhookID, now)
	e.cfg.Logger.Warn("engine: rule error at run time (no match)", "webhook", webhookID, "in", what, "err", err)
}
