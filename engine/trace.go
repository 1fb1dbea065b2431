package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// Routing traces (SPEC §3.8) are recorded by the router as it routes, one
// line per event, kept beside the event in the history (store.HistoryEvent):
//
//	v1 <routed ms> <roster id>[ o][ <item>…][ @"<path>"[ >"<destination>"]]
//
// The roster (the webhooks of the routing state: ids, names, triggers,
// scopes, disabled) is stored once per state, not per event. An item is
// written only for a webhook the router looked at beyond its triggers (a
// candidate of the event's type, or one a marker fires): its id, one letter
// for where it ended (the codes below), "+" when a marker bound it and "*"
// when a schedule's digest named it, with the
// run-time error quoted after a colon ("12e:\"…\""). Every other webhook of
// the roster ended at its triggers, or was disabled. "o" says the router had
// the asset's previous snapshot (backtests rebuild it from the changes), the
// path and destination are what a folder scope was matched against.
//
// Writing a trace costs a few bytes per candidate and no evaluation the
// router does not do anyway; events nobody subscribes to get the header
// alone.

const traceVersion = "v1"

// Item letters: where a webhook's match ended.
const (
	codeMatched   = 'm' // matched, no condition
	codeTrue      = 't' // matched, the condition true
	codeDisabled  = 'd'
	codeSelf      = 's'
	codeProject   = 'p'
	codeUsers     = 'u'
	codeFolder    = 'f'
	codeFalse     = 'c' // the condition false
	codeError     = 'e' // the condition failed at run time
	maxTraceError = 300 // bytes of a run-time error kept in a trace
)

// tracer writes the traces of one router batch into one buffer.
type tracer struct {
	buf        []byte
	start      int
	path, dest string
	folder     bool
}

// begin starts the trace of one event.
func (t *tracer) begin(routed time.Time, roster string, old bool) {
	t.start, t.folder, t.path, t.dest = len(t.buf), false, "", ""
	t.buf = append(t.buf, traceVersion...)
	t.buf = append(t.buf, ' ')
	t.buf = strconv.AppendInt(t.buf, routed.UnixMilli(), 10)
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, roster...)
	if old {
		t.buf = append(t.buf, " o"...)
	}
}

// add records where one webhook's match ended.
func (t *tracer) add(id int64, st rules.Stage, viaMarker, hasCondition bool, err error, env *rules.Env) {
	var c byte
	switch st {
	case rules.StageMatched:
		c = codeMatched
		if hasCondition {
			c = codeTrue
		}
	case rules.StageDisabled:
		c = codeDisabled
	case rules.StageSelf:
		c = codeSelf
	case rules.StageProject:
		c = codeProject
	case rules.StageUsers:
		c = codeUsers
	case rules.StageFolder:
		c = codeFolder
		if !t.folder {
			t.folder, t.path, t.dest = true, env.Path(), env.Destination()
		}
	case rules.StageCondition:
		c = codeFalse
		if err != nil {
			c = codeError
		}
	default:
		return
	}
	t.buf = append(t.buf, ' ')
	t.buf = strconv.AppendInt(t.buf, id, 10)
	t.buf = append(t.buf, c)
	if viaMarker {
		t.buf = append(t.buf, '+')
	}
	if c == codeError {
		msg := err.Error()
		if len(msg) > maxTraceError {
			msg = msg[:maxTraceError]
		}
		t.buf = append(t.buf, ':')
		t.buf = strconv.AppendQuote(t.buf, msg)
	}
}

// digest marks the event as a schedule's digest, which goes only to the
// webhooks it names (addTarget).
func (t *tracer) digest() { t.buf = append(t.buf, " g"...) }

// addTarget records a webhook a schedule's digest names directly.
func (t *tracer) addTarget(id int64) {
	t.buf = append(t.buf, ' ')
	t.buf = strconv.AppendInt(t.buf, id, 10)
	t.buf = append(t.buf, codeMatched, '*')
}

// end finishes the event's trace and returns it (valid while the batch is
// written: later traces are appended after it, never over it).
func (t *tracer) end() []byte {
	if t.folder {
		t.buf = append(t.buf, " @"...)
		t.buf = strconv.AppendQuote(t.buf, t.path)
		if t.dest != t.path {
			t.buf = append(t.buf, " >"...)
			t.buf = strconv.AppendQuote(t.buf, t.dest)
		}
	}
	return t.buf[t.start:len(t.buf):len(t.buf)]
}

// rosterEntry is one webhook of a roster: what a trace's reasons need.
type rosterEntry struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Kind      string   `json:"kind,omitempty"`
	Triggers  []string `json:"trigger_events"`
	ProjectID string   `json:"project_id,omitempty"`
	Folder    string   `json:"folder,omitempty"`
	Users     []string `json:"webhook_users,omitempty"`
	Disabled  bool     `json:"disabled,omitempty"`
}

// buildRoster is the roster of a routing state, with its id (a digest of
// its content, so that processes with the same webhooks share one).
func buildRoster(hooks map[int64]*hook) *store.Roster {
	out := make([]rosterEntry, 0, len(hooks))
	for _, h := range hooks {
		w := h.w
		out = append(out, rosterEntry{ID: w.ID, Name: w.Name, Kind: w.Kind, Triggers: w.Triggers,
			ProjectID: w.ProjectID, Folder: w.Folder, Users: w.Users, Disabled: w.Disabled})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	b, _ := json.Marshal(out)
	return &store.Roster{ID: hashID(string(b))[:16], Value: b}
}

// rosterDue reports whether this batch should store the roster (again):
// the first batch of a state, then every store.RosterRefresh.
func (e *Engine) rosterDue(st *state, now time.Time) bool {
	last, _ := e.rosterSaved.Load().(rosterMark)
	if last.id == st.roster.ID && now.Sub(last.at) < store.RosterRefresh {
		return false
	}
	e.rosterSaved.Store(rosterMark{id: st.roster.ID, at: now})
	return true
}

// rosterMark is when this process last stored a roster.
type rosterMark struct {
	id string
	at time.Time
}

// parsedTrace is a trace line read back.
type parsedTrace struct {
	routed     time.Time
	roster     string
	old        bool
	digest     bool
	items      []traceItem
	path, dest string
}

type traceItem struct {
	id          int64
	code        byte
	viaMarker   bool
	viaSchedule bool
	err         string
}

var errBadTrace = errors.New("engine: malformed trace")

func parseTrace(b []byte) (parsedTrace, error) {
	var p parsedTrace
	s := string(b)
	head, rest, _ := strings.Cut(s, " ")
	if head != traceVersion {
		return p, errBadTrace
	}
	ms, rest, _ := strings.Cut(rest, " ")
	t, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return p, errBadTrace
	}
	p.routed = time.UnixMilli(t).UTC()
	p.roster, rest, _ = strings.Cut(rest, " ")
	p.dest = "\x00"
	for rest != "" {
		var tok string
		switch rest[0] {
		case '@', '>':
			q, err := strconv.QuotedPrefix(rest[1:])
			if err != nil {
				return p, errBadTrace
			}
			v, _ := strconv.Unquote(q)
			if rest[0] == '@' {
				p.path = v
			} else {
				p.dest = v
			}
			rest = strings.TrimPrefix(rest[1+len(q):], " ")
			continue
		case 'o', 'g':
			p.old = p.old || rest[0] == 'o'
			p.digest = p.digest || rest[0] == 'g'
			_, rest, _ = strings.Cut(rest, " ")
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		id, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || i >= len(rest) {
			return p, errBadTrace
		}
		it := traceItem{id: id, code: rest[i]}
		tok = rest[i+1:]
		switch {
		case strings.HasPrefix(tok, "+"):
			it.viaMarker, tok = true, tok[1:]
		case strings.HasPrefix(tok, "*"):
			it.viaSchedule, tok = true, tok[1:]
		}
		if strings.HasPrefix(tok, ":") {
			q, err := strconv.QuotedPrefix(tok[1:])
			if err != nil {
				return p, errBadTrace
			}
			it.err, _ = strconv.Unquote(q)
			tok = tok[1+len(q):]
		}
		p.items = append(p.items, it)
		rest = strings.TrimPrefix(tok, " ")
	}
	if p.dest == "\x00" {
		p.dest = p.path
	}
	return p, nil
}

// Trace is an event's routing trace as the API answers it (SPEC §3.8).
type Trace struct {
	Event    TraceEvent   `json:"event"`
	RoutedAt Time         `json:"routed_at"` // null: not routed yet
	Webhooks []TraceEntry `json:"webhooks"`
}

// TraceEvent names the traced event.
type TraceEvent struct {
	ID      string  `json:"id"`
	Type    string  `json:"type"`
	AssetID *string `json:"asset_id"`
}

// TraceEntry is what became of the event for one webhook or REST hook that
// existed when it was routed.
type TraceEntry struct {
	WebhookID int64  `json:"webhook_id"`
	Name      string `json:"name"`
	Kind      string `json:"kind"` // "webhook" or "hook"
	// Verdict is "matched" or "skipped"; Stage where it ended: "matched",
	// or "disabled", "trigger", "self", "project", "users", "folder",
	// "condition". Via says how a matched one subscribed: "trigger",
	// "marker", or "schedule" (a schedule's digest names it).
	Verdict        string            `json:"verdict"`
	Stage          string            `json:"stage"`
	Via            string            `json:"via,omitempty"`
	Reason         string            `json:"reason"`
	Condition      *ConditionOutcome `json:"condition"`
	DeliveryID     *string           `json:"delivery_id"`
	DeliveryStatus *string           `json:"delivery_status"`
}

// ConditionOutcome is what a webhook's condition gave: Result true or
// false, or null with the run-time Error.
type ConditionOutcome struct {
	Result *bool   `json:"result"`
	Error  *string `json:"error"`
}

// traceEvent is the part of a stored event that reasons quote.
type traceEvent struct {
	Type      string      `json:"type"`
	ProjectID string      `json:"project_id"`
	Actor     event.Actor `json:"actor"`
	Marker    string      `json:"marker"`
	Schedule  *struct {
		Name string `json:"name"`
	} `json:"schedule"`
}

// explain turns a parsed trace into one entry per webhook of the roster
// (and of the items, should the roster have expired), by webhook id.
func explain(p parsedTrace, roster []rosterEntry, ev traceEvent, eventID string) []TraceEntry {
	items := make(map[int64]traceItem, len(p.items))
	for _, it := range p.items {
		items[it.id] = it
	}
	known := make(map[int64]rosterEntry, len(roster))
	for _, r := range roster {
		known[r.ID] = r
	}
	for id := range items {
		if _, ok := known[id]; !ok {
			roster = append(roster, rosterEntry{ID: id})
		}
	}
	sort.Slice(roster, func(i, j int) bool { return roster[i].ID < roster[j].ID })
	out := make([]TraceEntry, 0, len(roster))
	for _, r := range roster {
		te := TraceEntry{WebhookID: r.ID, Name: r.Name, Kind: "webhook", Verdict: "skipped"}
		if r.Kind == KindHook {
			te.Kind = "hook"
		}
		it, tried := items[r.ID]
		switch {
		case tried:
			explainItem(&te, it, r, p, ev, eventID)
		case r.Disabled:
			te.Stage, te.Reason = rules.StageDisabled.String(), "the webhook is disabled"
		case p.digest:
			te.Stage = rules.StageTrigger.String()
			te.Reason = fmt.Sprintf("the digest of schedule %sgoes only to the webhooks it names", scheduleName(ev))
		default:
			te.Stage = rules.StageTrigger.String()
			te.Reason = fmt.Sprintf("trigger_events %s do not include %s", list(r.Triggers), ev.Type)
		}
		out = append(out, te)
	}
	return out
}

func explainItem(te *TraceEntry, it traceItem, r rosterEntry, p parsedTrace, ev traceEvent, eventID string) {
	yes, no := true, false
	bound := ""
	if it.viaMarker {
		bound = fmt.Sprintf("marker %s fires it directly, but ", ev.Marker)
	}
	switch it.code {
	case codeMatched, codeTrue:
		te.Verdict, te.Stage, te.Via = "matched", rules.StageMatched.String(), "trigger"
		te.Reason = fmt.Sprintf("trigger_events %s include %s", list(r.Triggers), ev.Type)
		switch {
		case it.viaMarker:
			te.Via = "marker"
			te.Reason = fmt.Sprintf("marker %s fires it directly", ev.Marker)
		case it.viaSchedule:
			te.Via = "schedule"
			te.Reason = fmt.Sprintf("the digest of schedule %sgoes to it directly, whatever its triggers, scopes and condition",
				scheduleName(ev))
		}
		switch {
		case it.viaSchedule:
		case it.code == codeTrue:
			te.Condition = &ConditionOutcome{Result: &yes}
			te.Reason += ", every scope held and the condition was true"
		default:
			te.Reason += " and every scope held"
		}
		id := deliveryID(eventID, r.ID)
		te.DeliveryID = &id
	case codeDisabled:
		te.Stage, te.Reason = rules.StageDisabled.String(), bound+"the webhook is disabled"
	case codeSelf:
		te.Stage = rules.StageSelf.String()
		te.Reason = bound + fmt.Sprintf("%s is about this webhook itself, and a webhook never receives its own operational events", ev.Type)
	case codeProject:
		te.Stage = rules.StageProject.String()
		if ev.ProjectID == "" {
			te.Reason = bound + fmt.Sprintf("project_id %s is set and the event has no project", r.ProjectID)
		} else {
			te.Reason = bound + fmt.Sprintf("project_id %s is not the event's project %s", r.ProjectID, ev.ProjectID)
		}
	case codeUsers:
		te.Stage = rules.StageUsers.String()
		if ev.Actor.Username == "" {
			te.Reason = bound + fmt.Sprintf("webhook_users %s are set and the event names no user", list(r.Users))
		} else {
			te.Reason = bound + fmt.Sprintf("webhook_users %s do not include %s", list(r.Users), ev.Actor.Username)
		}
	case codeFolder:
		te.Stage = rules.StageFolder.String()
		where := p.path
		if where == "" {
			where = "no path (the asset has neither path nor name)"
		}
		te.Reason = bound + fmt.Sprintf("folder %s does not hold %s", r.Folder, where)
		if p.dest != p.path && p.dest != "" {
			te.Reason += fmt.Sprintf(" nor its destination %s", p.dest)
		}
	case codeFalse:
		te.Stage, te.Reason = rules.StageCondition.String(), bound+"the condition was false"
		te.Condition = &ConditionOutcome{Result: &no}
	case codeError:
		msg := it.err
		te.Stage, te.Reason = rules.StageCondition.String(), bound+"the condition failed at run time: "+msg
		te.Condition = &ConditionOutcome{Error: &msg}
	default:
		te.Stage, te.Reason = "unknown", "this trace was written by a newer version"
	}
}

// scheduleName is the name of the schedule an event comes from, and a
// space; "" when it names none.
func scheduleName(ev traceEvent) string {
	if ev.Schedule == nil || ev.Schedule.Name == "" {
		return ""
	}
	return ev.Schedule.Name + " "
}

// list shows a list as the API's JSON would, without quotes: [a, b].
func list(v []string) string { return "[" + strings.Join(v, ", ") + "]" }

// decodeRoster reads a stored roster.
func decodeRoster(b []byte) []rosterEntry {
	var out []rosterEntry
	_ = gojson.Unmarshal(b, &out)
	return out
}
