package engine

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// History is the store of routed events (SPEC §3.8): every event the router
// routed within Config.EventRetention (at most the newest Config.EventCap),
// matched or not, as it was routed, with the changes derived then and its
// routing trace. It answers the admin's event list, each event and its
// trace, backtests of a rule over the stored events, rule tests on a stored
// event, and the asset paths recent events carried.
type History struct{ e *Engine }

// History returns the engine's history of routed events.
func (e *Engine) History() History { return History{e} }

// RuleErrors are a webhook's run-time rule errors, counted at routing, as
// its view shows them ("rule_errors").
type RuleErrors struct {
	Count int64      `json:"count"`
	Last  *RuleError `json:"last"`
}

// RuleError is one run-time rule error: when, what, and for which event.
type RuleError struct {
	At      Time   `json:"at"`
	Error   string `json:"error"`
	EventID string `json:"event_id"`
}

// EventSummary is a stored event as the admin's list shows it.
type EventSummary struct {
	ID         string      `json:"id"`
	Type       string      `json:"type"`
	OccurredAt Time        `json:"occurred_at"`
	ReceivedAt Time        `json:"received_at"`
	AssetID    *string     `json:"asset_id"`
	ProjectID  *string     `json:"project_id"`
	Actor      event.Actor `json:"actor"`
}

// EventQuery selects stored events, newest first.
type EventQuery struct {
	AssetID string
	Type    string
	// Before is an event id: the list starts below it.
	Before string
	Limit  int
}

// oldest is the start of the retention window: nothing received before it
// is shown, even before the router's next batch trims it.
func (x History) oldest() time.Time { return x.e.now().Add(-x.e.cfg.EventRetention) }

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// List lists stored events newest first. An unknown (or expired) Before is
// a 422 naming it.
func (x History) List(ctx context.Context, q EventQuery) ([]EventSummary, error) {
	recs, err := x.e.st.History(ctx, store.HistoryQuery{AssetID: q.AssetID, Type: q.Type, Before: q.Before,
		Since: x.oldest(), Limit: q.Limit})
	if errors.Is(err, ErrNotFound) {
		return nil, problem.Invalid("before", q.Before, "Unknown event id")
	}
	if err != nil {
		return nil, err
	}
	out := make([]EventSummary, 0, len(recs))
	for _, r := range recs {
		var head struct {
			OccurredAt time.Time   `json:"occurred_at"`
			ProjectID  string      `json:"project_id"`
			Actor      event.Actor `json:"actor"`
		}
		_ = gojson.Unmarshal(r.Event, &head)
		out = append(out, EventSummary{ID: r.ID, Type: r.Type, OccurredAt: At(head.OccurredAt), ReceivedAt: At(r.Received),
			AssetID: optional(r.AssetID), ProjectID: optional(head.ProjectID), Actor: head.Actor})
	}
	return out, nil
}

// Event returns a stored event as routed, its changes included (an empty
// list when there were none), as a JSON object. An event accepted but not
// yet routed is answered as it was queued, with the changes its DAM sent.
// ErrNotFound for an unknown or expired id.
func (x History) Event(ctx context.Context, id string) (map[string]any, error) {
	raw, err := x.raw(ctx, id)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := event.UnmarshalJSONNumber(raw, &m); err != nil {
		return nil, err
	}
	if m["changes"] == nil {
		m["changes"] = []any{}
	}
	return m, nil
}

// raw is a stored event's JSON, or an unrouted one's.
func (x History) raw(ctx context.Context, id string) ([]byte, error) {
	r, err := x.e.st.HistoryEvent(ctx, id, x.oldest())
	if err == nil {
		return r.Event, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	m, err := x.unrouted(ctx, id)
	if errors.Is(err, errRoutedMeanwhile) {
		return x.raw(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	if m.Asset == "" {
		return []byte(m.Envelope), nil
	}
	return withAsset([]byte(m.Envelope), m.Asset), nil
}

// unrouted finds an accepted event the router has not routed yet; it looks
// in the history again afterwards, for one routed in between.
func (x History) unrouted(ctx context.Context, id string) (store.EventEntry, error) {
	m, err := x.e.st.Unrouted(ctx, id)
	if errors.Is(err, ErrNotFound) {
		if _, again := x.e.st.HistoryEvent(ctx, id, x.oldest()); again == nil {
			return m, errRoutedMeanwhile
		}
	}
	return m, err
}

var errRoutedMeanwhile = errors.New("engine: the event was routed meanwhile")

// Trace returns an event's routing trace: one entry for every webhook and
// REST hook that existed when it was routed, by webhook id, each with its
// live delivery status. An event not routed yet has no RoutedAt and no
// entries; ErrNotFound for an unknown or expired id.
func (x History) Trace(ctx context.Context, id string) (*Trace, error) {
	r, err := x.e.st.HistoryEvent(ctx, id, x.oldest())
	if errors.Is(err, ErrNotFound) {
		m, uerr := x.unrouted(ctx, id)
		if errors.Is(uerr, errRoutedMeanwhile) {
			return x.Trace(ctx, id)
		}
		if uerr != nil {
			return nil, uerr
		}
		return &Trace{Event: TraceEvent{ID: id, Type: m.Type, AssetID: optional(m.AssetID)}, Webhooks: []TraceEntry{}}, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := parseTrace(r.Trace)
	if err != nil {
		return nil, err
	}
	var roster []rosterEntry
	if b, err := x.e.st.RosterOf(ctx, p.roster); err == nil {
		roster = decodeRoster(b)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var tev traceEvent
	_ = gojson.Unmarshal(r.Event, &tev)
	tev.Type = r.Type
	t := &Trace{Event: TraceEvent{ID: r.ID, Type: r.Type, AssetID: optional(r.AssetID)}, RoutedAt: At(p.routed),
		Webhooks: explain(p, roster, tev, r.ID)}
	var refs []store.RecordRef
	var at []int
	for i, w := range t.Webhooks {
		if w.DeliveryID != nil {
			refs = append(refs, store.RecordRef{WebhookID: w.WebhookID, DeliveryID: *w.DeliveryID})
			at = append(at, i)
		}
	}
	recs, err := x.e.st.RecordsOf(ctx, refs)
	if err != nil {
		return nil, err
	}
	for i, raw := range recs {
		var d Delivery
		if raw != nil && json.Unmarshal(raw, &d) == nil && d.Status != "" {
			s := d.Status
			t.Webhooks[at[i]].DeliveryStatus = &s
		}
	}
	return t, nil
}

// routedEvent is a stored event decoded for a rule: the event with its
// changes as routed, the previous snapshot the router had, and when it was
// routed (what now() returned).
type routedEvent struct {
	ev     event.Event
	old    map[string]any
	routed time.Time
}

func decodeRouted(r store.HistoryRecord) (*routedEvent, error) {
	p, err := parseTrace(r.Trace)
	if err != nil {
		return nil, err
	}
	x := &routedEvent{routed: p.routed}
	if err := event.UnmarshalJSONNumber(r.Event, &x.ev); err != nil {
		return nil, err
	}
	if x.ev.Changes == nil {
		x.ev.Changes = []event.Change{}
	}
	switch {
	case x.ev.Previous != nil:
		x.old = x.ev.Previous
	case p.old:
		x.old = rules.Before(x.ev.Asset, x.ev.Changes)
	}
	return x, nil
}

// TestRule evaluates a condition on a stored event as the router saw it:
// the changes derived then, the previous snapshot rebuilt from them and
// now() at its routing time. ErrNotFound for an unknown or expired id.
func (x History) TestRule(ctx context.Context, cond *rules.Condition, id string) (bool, []event.Change, error) {
	r, err := x.e.st.HistoryEvent(ctx, id, x.oldest())
	if err != nil {
		return false, nil, err
	}
	re, err := decodeRouted(r)
	if err != nil {
		return false, nil, err
	}
	ok, err := rules.NewEvaluator().Eval(cond, rules.NewEnv(&re.ev, re.old, re.routed))
	if err != nil {
		return false, re.ev.Changes, problem.New(problem.KindInvalid, "condition failed at run time: %v", err)
	}
	return ok, re.ev.Changes, nil
}

// BacktestRule is the rule a backtest evaluates.
type BacktestRule struct {
	Rule *rules.Rule
	// Markers are the markers that fire the webhook directly, whatever its
	// triggers (a stored webhook's bindings).
	Markers []string
	// Self is the webhook's id: its own operational events never match
	// (0 for none).
	Self int64
}

// WebhookRule is a stored webhook's current rule for a backtest: its
// triggers, scopes and condition (disabled or not) and the markers bound to
// it. ErrNotFound for an unknown webhook.
func (x History) WebhookRule(ctx context.Context, id int64) (BacktestRule, error) {
	st := x.e.state.Load()
	h := st.hooks[id]
	if h == nil {
		w, err := x.e.Webhooks().Get(ctx, id)
		if err != nil {
			return BacktestRule{}, err
		}
		if h, err = x.e.compile(w); err != nil {
			return BacktestRule{}, err
		}
	}
	br := BacktestRule{Rule: h.rule, Self: id}
	for name, ids := range st.markers {
		for _, w := range ids {
			if w == id {
				br.Markers = append(br.Markers, name)
			}
		}
	}
	return br, nil
}

// Backtest is what a rule would have matched among the stored events.
type Backtest struct {
	Scanned int             `json:"scanned"`
	Matched []BacktestMatch `json:"matched"`
	Errors  []BacktestError `json:"errors"`
}

// BacktestMatch is a stored event the rule matches, with the changes as
// the router derived them.
type BacktestMatch struct {
	EventID    string         `json:"event_id"`
	Type       string         `json:"type"`
	OccurredAt Time           `json:"occurred_at"`
	AssetID    *string        `json:"asset_id"`
	Changes    []event.Change `json:"changes"`
}

// BacktestError is a stored event on which the rule's condition failed at
// run time (it does not match).
type BacktestError struct {
	EventID string `json:"event_id"`
	Error   string `json:"error"`
}

// backtestPage is how many stored events a backtest reads at once.
const backtestPage = 500

// Backtest evaluates a rule over the newest limit stored events received
// since (and within the retention), newest first, as the router would
// route them now: triggers (or a marker binding), the webhook's own events
// left out, scopes and condition, with the changes and the previous
// snapshot as they were at routing. The rule's disabled flag is ignored.
// It sends nothing.
func (x History) Backtest(ctx context.Context, br BacktestRule, limit int, since time.Time) (*Backtest, error) {
	oldest := x.oldest()
	if since.After(oldest) {
		oldest = since
	}
	rule := *br.Rule
	rule.Disabled = false
	out := &Backtest{Matched: []BacktestMatch{}, Errors: []BacktestError{}}
	ev := rules.NewEvaluator()
	before := ""
	for out.Scanned < limit {
		n := min(backtestPage, limit-out.Scanned)
		recs, err := x.e.st.History(ctx, store.HistoryQuery{Before: before, Since: oldest, Limit: n})
		if errors.Is(err, ErrNotFound) && before != "" {
			break // the last one read was trimmed meanwhile: the rest is older still
		}
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			out.Scanned++
			x.backtestOne(ev, &rule, br, r, out)
		}
		if len(recs) < n {
			break
		}
		before = recs[len(recs)-1].ID
	}
	return out, nil
}

func (x History) backtestOne(evaluator *rules.Evaluator, rule *rules.Rule, br BacktestRule, r store.HistoryRecord, out *Backtest) {
	subscribed := rule.Covers(r.Type)
	if !subscribed && (r.Type == event.MarkerSelected || r.Type == event.MarkerCleared) && len(br.Markers) > 0 {
		var m struct {
			Marker string `json:"marker"`
		}
		_ = gojson.Unmarshal(r.Event, &m)
		for _, name := range br.Markers {
			subscribed = subscribed || name == m.Marker
		}
	}
	if !subscribed {
		return
	}
	re, err := decodeRouted(r)
	if err != nil {
		out.Errors = append(out.Errors, BacktestError{EventID: r.ID, Error: "the stored event does not decode"})
		return
	}
	if br.Self != 0 && re.ev.Webhook != nil && asInt64(re.ev.Webhook["id"]) == br.Self {
		return
	}
	stage, err := rule.Check(evaluator, rules.NewEnv(&re.ev, re.old, re.routed))
	if err != nil {
		out.Errors = append(out.Errors, BacktestError{EventID: r.ID, Error: err.Error()})
		return
	}
	if stage == rules.StageMatched {
		out.Matched = append(out.Matched, BacktestMatch{EventID: r.ID, Type: r.Type, OccurredAt: At(re.ev.OccurredAt),
			AssetID: optional(r.AssetID), Changes: re.ev.Changes})
	}
}

// PathSample is how many of the newest stored events KnownPaths reads.
const PathSample = 1000

// pathsFresh is how long KnownPaths reuses what it read.
const pathsFresh = 10 * time.Second

// pathCache holds the asset paths of the newest stored events for a while.
type pathCache struct {
	mu    sync.Mutex
	at    time.Time
	paths map[string]bool
}

// KnownPaths returns every asset path (dotted, "meta.custom.status") that
// at least one of the newest PathSample stored events carried, read at most
// every ten seconds.
func (x History) KnownPaths(ctx context.Context) (map[string]bool, error) {
	c := &x.e.paths
	c.mu.Lock()
	defer c.mu.Unlock()
	now := x.e.now()
	if c.paths != nil && now.Sub(c.at) < pathsFresh && !now.Before(c.at) {
		return c.paths, nil
	}
	recs, err := x.e.st.History(ctx, store.HistoryQuery{Since: x.oldest(), Limit: PathSample})
	if err != nil {
		return nil, err
	}
	paths := map[string]bool{}
	for _, r := range recs {
		var ev struct {
			Asset map[string]any `json:"asset"`
		}
		if gojson.Unmarshal(r.Event, &ev) == nil {
			rules.CollectPaths(ev.Asset, paths)
		}
	}
	c.at, c.paths = now, paths
	return paths, nil
}
