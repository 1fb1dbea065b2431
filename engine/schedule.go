package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones for schedules, whatever the host has installed

	"github.com/robfig/cron/v3"

	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// Schedules is the store of scheduled rules (SPEC §3.7) and their runs.
type Schedules struct{ e *Engine }

// Schedules returns the engine's schedules store.
func (e *Engine) Schedules() Schedules { return Schedules{e} }

// Schedule action types (SPEC §3.7).
const (
	// ScheduleEvents sends each matching asset an ASSET_SCHEDULED event,
	// routed like any event.
	ScheduleEvents = "events"
	// ScheduleDigest sends each of the action's webhooks one delivery per
	// run whose data holds the matching assets.
	ScheduleDigest = "digest"
)

// MaxDigest is the most assets one digest delivery holds; more matches set
// its truncated flag.
const MaxDigest = 1000

// Schedule is a stored scheduled rule: a cron expression in a time zone, a
// condition over every stored asset and what to do with the matches.
type Schedule struct {
	ID        int64          `json:"id"`
	Name      string         `json:"name"`
	Cron      string         `json:"cron"`
	Timezone  string         `json:"timezone"`
	Condition string         `json:"condition"`
	Action    ScheduleAction `json:"action"`
	Once      bool           `json:"once"`
	Disabled  bool           `json:"disabled"`
	CreatedAt Time           `json:"created_at"`
	UpdatedAt Time           `json:"updated_at"`
}

// ScheduleAction is what a schedule does with the assets its condition
// matches: Type ScheduleEvents (the default) or ScheduleDigest, which sends
// to WebhookIDs.
type ScheduleAction struct {
	Type       string  `json:"type"`
	WebhookIDs []int64 `json:"webhook_ids,omitempty"`
}

// ScheduleRun is what one run of a schedule did, as last_run shows it:
// when it ran (the tick), how many assets it sent (matched, and not held
// back by once), how long it took, and how many assets' conditions failed
// at run time.
type ScheduleRun struct {
	At         Time   `json:"at"`
	Matched    int    `json:"matched"`
	DurationMS int64  `json:"duration_ms"`
	Errors     int    `json:"errors"`
	Error      string `json:"error,omitempty"`
}

// cronParser reads SPEC §3.7's cron: 5 fields, or 6 with seconds first, or
// a descriptor (@every <duration>, @hourly, @daily, @weekly, @monthly…).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// schedCompiled is a schedule ready to run: its ticks in its zone, its
// condition, and the paths its condition passes to since().
type schedCompiled struct {
	s     *Schedule
	spec  cron.Schedule
	cond  *rules.Condition
	since []string
	raw   string // the stored JSON, to keep the compiled form while unchanged
}

// ParseCron reads a schedule's cron in the time zone loc. A TZ= or CRON_TZ=
// prefix is refused (the zone is the schedule's timezone; robfig/cron
// panics on some such prefixes, robfig#554 and #555), as is an @every
// shorter than a second or not in whole seconds, and an expression that
// never fires. Errors are 422s naming "cron".
func ParseCron(spec string, loc *time.Location) (sched cron.Schedule, err error) {
	bad := func(why string) error { return problem.Invalid("cron", spec, why) }
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, bad("Must be a cron expression")
	case len(spec) > 200:
		return nil, bad("At most 200 characters")
	case strings.Contains(strings.ToUpper(spec), "TZ="):
		return nil, bad("A TZ= or CRON_TZ= prefix is not accepted: set the schedule's timezone instead")
	}
	defer func() {
		if r := recover(); r != nil { // robfig/cron is unmaintained: never let it take the process down
			sched, err = nil, bad("Not a cron expression")
		}
	}()
	parsed, perr := cronParser.Parse(spec)
	if perr != nil {
		return nil, bad("Not a cron expression (5 fields, 6 with seconds first, or @every <duration>, @hourly, @daily, @weekly, @monthly): " + perr.Error())
	}
	switch s := parsed.(type) {
	case *cron.SpecSchedule:
		s.Location = loc // what a CRON_TZ prefix would set, from our own field
		sched = s
	case cron.ConstantDelaySchedule:
		d, derr := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every")))
		if derr != nil || d < time.Second || d%time.Second != 0 {
			return nil, bad("@every needs a duration of at least 1s in whole seconds")
		}
		sched = everySchedule{d}
	default:
		return nil, bad("Not a cron expression")
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, bad("Never fires")
	}
	return sched, nil
}

// everySchedule is @every <d>, its ticks anchored to the clock (multiples of d
// since Go's zero time) rather than to each process's start, so that every
// process sharing one Redis agrees on when a tick is.
type everySchedule struct{ d time.Duration }

// Next implements cron.Schedule.
func (e everySchedule) Next(t time.Time) time.Time { return t.Truncate(e.d).Add(e.d) }

// tickLookback bounds how late a process may run a tick: a cron job that
// starts later than this after its tick (an overloaded machine) finds no
// tick and skips it, as if every process had been down.
const tickLookback = time.Minute

// lastTick is the latest tick of sched at or before now, if one lies within
// tickLookback: the tick a cron job that fires now is running.
func lastTick(sched cron.Schedule, now time.Time) (time.Time, bool) {
	var last time.Time
	for t := sched.Next(now.Add(-tickLookback)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		last = t
	}
	return last, !last.IsZero()
}

// LoadZone reads a schedule's timezone: an IANA name ("Europe/Paris"); ""
// is UTC. "Local" is refused: the host's zone is no property of a schedule.
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, problem.Invalid("timezone", name, "Unknown time zone (an IANA name such as Europe/Paris)")
	}
	return loc, nil
}

// compileSchedule checks and builds a schedule; errors are 422s naming the
// field. It fills in the defaults (timezone UTC, action events).
func compileSchedule(s *Schedule) (*schedCompiled, error) {
	if strings.TrimSpace(s.Name) == "" || len(s.Name) > 255 {
		return nil, problem.Invalid("name", s.Name, "Must be a non-empty String of at most 255 characters")
	}
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if s.Action.Type == "" {
		s.Action.Type = ScheduleEvents
	}
	if _, ok := scheduleSinks[s.Action.Type]; !ok {
		return nil, problem.Invalid("action.type", s.Action.Type, "Must be one of "+strings.Join(sinkNames(), ", "))
	}
	switch {
	case s.Action.Type == ScheduleDigest && len(s.Action.WebhookIDs) == 0:
		return nil, problem.Invalid("action.webhook_ids", nil, "Must be a non-empty Array of webhook ids")
	case s.Action.Type != ScheduleDigest && len(s.Action.WebhookIDs) > 0:
		return nil, problem.Invalid("action.webhook_ids", s.Action.WebhookIDs, "Only with type digest (send null to remove it)")
	case len(s.Action.WebhookIDs) > 100:
		return nil, problem.Invalid("action.webhook_ids", s.Action.WebhookIDs, "At most 100 webhooks")
	}
	loc, err := LoadZone(s.Timezone)
	if err != nil {
		return nil, err
	}
	spec, err := ParseCron(s.Cron, loc)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(s.Condition) == "" {
		return nil, problem.Invalid("condition", s.Condition, "Must be a non-empty String")
	}
	cond, err := rules.Compile(s.Condition)
	if err != nil {
		return nil, compileProblem("condition", err)
	}
	return &schedCompiled{s: s, spec: spec, cond: cond, since: rules.SincePaths(cond)}, nil
}

// Check validates a schedule as the engine would run it: cron,
// timezone, condition and action, whose webhooks must exist. Errors are
// 422s naming the field, as "action.webhook_ids[1]". It fills in defaults.
func (x Schedules) Check(ctx context.Context, s *Schedule) error {
	e := x.e
	if _, err := compileSchedule(s); err != nil {
		return err
	}
	if len(s.Action.WebhookIDs) == 0 {
		return nil
	}
	ok, err := e.st.WebhooksExist(ctx, s.Action.WebhookIDs)
	if err != nil {
		return err
	}
	for i, found := range ok {
		if !found {
			return problem.Invalid("action.webhook_ids["+strconv.Itoa(i)+"]", s.Action.WebhookIDs[i], "Unknown webhook")
		}
	}
	s.Action.WebhookIDs = slices.Compact(slices.Sorted(slices.Values(s.Action.WebhookIDs)))
	return nil
}

// Create checks and stores a new schedule, giving it an id and
// times. Every process runs it from its next tick (this one at once, the
// others within Config.RevisionEvery).
func (x Schedules) Create(ctx context.Context, s *Schedule) error {
	e := x.e
	if err := e.Schedules().Check(ctx, s); err != nil {
		return err
	}
	id, err := e.st.NextScheduleID(ctx)
	if err != nil {
		return err
	}
	now := At(e.now())
	s.ID, s.CreatedAt, s.UpdatedAt = id, now, now
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := e.st.SaveSchedule(ctx, id, raw, false); err != nil {
		return err
	}
	return e.sched.reload(ctx)
}

// Update replaces a stored schedule (ErrNotFound when there is
// none), keeping its id and creation time; its once marks stay.
func (x Schedules) Update(ctx context.Context, s *Schedule) error {
	e := x.e
	old, err := e.Schedules().Get(ctx, s.ID)
	if err != nil {
		return err
	}
	if err := e.Schedules().Check(ctx, s); err != nil {
		return err
	}
	s.CreatedAt, s.UpdatedAt = old.CreatedAt, At(e.now())
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	ok, err := e.st.SaveSchedule(ctx, s.ID, raw, true)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	return e.sched.reload(ctx)
}

// Get returns a stored schedule, or ErrNotFound.
func (x Schedules) Get(ctx context.Context, id int64) (*Schedule, error) {
	e := x.e
	raw, err := e.st.Schedule(ctx, id)
	if err != nil {
		return nil, err
	}
	var s Schedule
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("engine: stored schedule %d: %w", id, err)
	}
	return &s, nil
}

// List returns every stored schedule, by ascending id.
func (x Schedules) List(ctx context.Context) ([]*Schedule, error) {
	e := x.e
	all, _, err := e.st.AllSchedules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Schedule, 0, len(all))
	for id, raw := range all {
		var s Schedule
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			e.cfg.Logger.Error("engine: stored schedule does not decode", "schedule", id, "err", err)
			continue
		}
		out = append(out, &s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Delete removes a schedule, its once marks and its last run, or
// answers ErrNotFound.
func (x Schedules) Delete(ctx context.Context, id int64) error {
	e := x.e
	ok, err := e.st.DeleteSchedule(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	return e.sched.reload(ctx)
}

// Runs returns the last runs of schedules by id (absent: never ran).
func (x Schedules) Runs(ctx context.Context, ids []int64) (map[int64]*ScheduleRun, error) {
	e := x.e
	raws, err := e.st.ScheduleRuns(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*ScheduleRun, len(ids))
	for i, raw := range raws {
		var r ScheduleRun
		if raw != nil && json.Unmarshal(raw, &r) == nil {
			out[ids[i]] = &r
		}
	}
	return out, nil
}

// NextRun is the next tick of a schedule after now, in its timezone; the
// zero Time (null) when it is disabled or does not compile.
func NextRun(s *Schedule, now time.Time) Time {
	if s.Disabled {
		return Time{}
	}
	loc, err := LoadZone(s.Timezone)
	if err != nil {
		return Time{}
	}
	spec, err := ParseCron(s.Cron, loc)
	if err != nil {
		return Time{}
	}
	return At(spec.Next(now))
}

// Run runs a schedule now, outside its ticks (an admin's "run"),
// whether or not it is disabled, and returns what the run did.
func (x Schedules) Run(ctx context.Context, id int64) (*ScheduleRun, error) {
	e := x.e
	c, err := e.loadedSchedule(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.runSchedule(ctx, c, e.now())
}

// RunTick runs the tick at of a schedule unless a process sharing the
// Redis has taken that tick already, in which case it returns nil: the
// cron-independent entry point of a tick (the cron jobs call it with the
// tick they fire for; tests call it with any time). A disabled schedule
// does not run.
func (x Schedules) RunTick(ctx context.Context, id int64, at time.Time) (*ScheduleRun, error) {
	e := x.e
	c, err := e.loadedSchedule(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.s.Disabled {
		return nil, nil
	}
	ok, err := e.st.ClaimTick(ctx, "schedule:"+itoa64(id), at, e.cfg.Consumer)
	if err != nil || !ok {
		return nil, err
	}
	return e.runSchedule(ctx, c, at)
}

// loadedSchedule is the loaded form of schedule id, or it compiled anew
// from Redis when this process has not loaded it yet.
func (e *Engine) loadedSchedule(ctx context.Context, id int64) (*schedCompiled, error) {
	if c := e.sched.current.Load().byID[id]; c != nil {
		return c, nil
	}
	s, err := e.Schedules().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := compileSchedule(s)
	if err != nil {
		return nil, problem.New(problem.KindConflict, "stored schedule %d does not compile: %v", id, err)
	}
	return c, nil
}
