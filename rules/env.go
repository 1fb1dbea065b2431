package rules

import (
	"strings"
	"sync"
	"time"

	"github.com/assethooks/assethooks/event"
)

// vars is the environment expr compiles against and runs on: the names a
// condition or template can use, and nothing else. Only exported fields are
// visible to expr; vars has no methods, so no Go method is reachable.
//
// Helpers are func-typed fields with signatures that expr calls directly
// (without reflection or argument slices), so that a call allocates nothing.
// Those that take a path or a value take any (expr has no direct call for
// func(string, any) bool); Compile checks their path arguments' types.
type vars struct {
	Event   map[string]any `expr:"event"`
	Asset   map[string]any `expr:"asset"`
	Old     map[string]any `expr:"old"`
	Changes []any          `expr:"changes"`

	Changed      func(string) bool                `expr:"changed"`
	ChangedTo    func(any, any) bool              `expr:"changedTo"`
	ChangedFrom  func(any, any) bool              `expr:"changedFrom"`
	InFolder     func(string) bool                `expr:"inFolder"`
	MovedFrom    func(string) bool                `expr:"movedFrom"`
	MovedTo      func(string) bool                `expr:"movedTo"`
	HasTag       func(string) bool                `expr:"hasTag"`
	TagAdded     func(string) bool                `expr:"tagAdded"`
	TagRemoved   func(string) bool                `expr:"tagRemoved"`
	HasLabel     func(string) bool                `expr:"hasLabel"`
	LabelAdded   func(string) bool                `expr:"labelAdded"`
	LabelRemoved func(string) bool                `expr:"labelRemoved"`
	HasMarker    func(string) bool                `expr:"hasMarker"`
	IsImage      func() bool                      `expr:"isImage"`
	IsVideo      func() bool                      `expr:"isVideo"`
	Now          func() time.Time                 `expr:"now"`
	Get          func(any) any                    `expr:"get"`
	OldGet       func(any) any                    `expr:"oldGet"`
	Ext          func() string                    `expr:"ext"`
	Since        func(string) time.Duration       `expr:"since"`
	Age          func(any) (time.Duration, error) `expr:"age"`

	// used counts the bytes of strings and lists that metered operations
	// produced during one evaluation (see meter.go).
	used int
}

// Env is what conditions and templates see for one event: the envelope, the
// asset (numbers normalized: int when integral, float64 otherwise), the
// previous snapshot, the changes, and the helpers bound to them. Build it
// once per event with NewEnv; it is read-only afterwards and may be shared by
// every rule (and goroutine) that evaluates that event.
type Env struct {
	// once builds v and what the helpers read, at the first evaluation:
	// routing an event to rules without conditions never pays for it.
	once   sync.Once
	old    map[string]any
	v      vars
	ev     *event.Event
	leaves []event.Change // changes expanded to leaf fields, normalized

	path          string // the asset's full path
	before, after string // where the asset was and is, for moves
	ext           string
	image, video  bool
	now           time.Time
	sinceFn       SinceFunc // what since() measures from (WithSince)
}

// NewEnv builds the environment of ev. ev.Changes should already be set by
// the caller (with Changes); when it is nil the changes are derived from old.
// old is the previous snapshot of the asset (ev.Previous when the event
// carries one) or nil; now is what now() returns, fixed for the event so
// that every rule sees the same time.
func NewEnv(ev *event.Event, old map[string]any, now time.Time) *Env {
	if ev == nil {
		ev = &event.Event{}
	}
	x := &Env{ev: ev, old: old, now: now}
	// What Rule.Match needs before any condition: the paths, from the raw
	// asset (they are strings, which normalizing leaves as they are).
	x.path = fullPath(ev.Asset)
	x.after = x.path
	if ev.Destination != "" {
		x.after = ev.Destination
		if strings.HasSuffix(x.after, "/") {
			name, _ := ev.Asset["name"].(string)
			x.after += name
		}
	}
	return x
}

// prepare builds what conditions and templates see, once.
func (x *Env) prepare() { x.once.Do(x.build) }

func (x *Env) build() {
	ev, old := x.ev, x.old
	changes := ev.Changes
	if changes == nil {
		changes = Changes(ev, old)
	}
	asset := normalizeMap(ev.Asset)
	if asset == nil {
		asset = map[string]any{}
	}
	x.v.Asset = asset
	x.v.Old = normalizeMap(old)
	x.v.Changes = make([]any, len(changes))
	for i, c := range changes {
		x.v.Changes[i] = map[string]any{"field": c.Field, "old": normalize(c.Old), "new": normalize(c.New)}
	}
	x.leaves = leaves(changes)
	x.v.Event = eventMap(ev)

	switch {
	case x.v.Old != nil && fullPath(x.v.Old) != "":
		x.before = fullPath(x.v.Old)
	case x.changedLeaf("path") || x.changedLeaf("name"):
		p, _ := x.oldValue("path").(string)
		n, _ := x.oldValue("name").(string)
		x.before = joinPath(p, n)
	case ev.Destination != "":
		x.before = x.path
	}
	x.ext = extension(asset)
	x.image, x.video = kind(asset)

	x.v.Changed = x.changed
	x.v.ChangedTo = x.changedTo
	x.v.ChangedFrom = x.changedFrom
	x.v.InFolder = x.inFolder
	x.v.MovedFrom = x.movedFrom
	x.v.MovedTo = x.movedTo
	x.v.HasTag = func(t string) bool { return hasName(asset["tags"], t) }
	x.v.TagAdded = func(t string) bool { return x.added("tags", t) }
	x.v.TagRemoved = func(t string) bool { return x.removed("tags", t) }
	x.v.HasLabel = func(l string) bool { return hasName(asset["labels"], l) }
	x.v.LabelAdded = func(l string) bool { return x.added("labels", l) }
	x.v.LabelRemoved = func(l string) bool { return x.removed("labels", l) }
	x.v.HasMarker = func(m string) bool { return m != "" && (ev.Marker == m || hasName(asset["markers"], m)) }
	x.v.IsImage = func() bool { return x.image }
	x.v.IsVideo = func() bool { return x.video }
	x.v.Now = func() time.Time { return x.now }
	x.v.Get = func(p any) any { s, _ := p.(string); return lookup(asset, s) }
	x.v.OldGet = x.oldGet
	x.v.Ext = func() string { return x.ext }
	x.v.Since = x.since
	x.v.Age = x.age
}

// Event is the event the environment was built for.
func (x *Env) Event() *event.Event { return x.ev }

// Path is the asset's full path (asset.path, with asset.name joined when the
// path does not already end with it): what inFolder and Rule.Folder match.
func (x *Env) Path() string { return x.path }

func eventMap(ev *event.Event) map[string]any {
	m := map[string]any{
		"id":          ev.ID,
		"type":        ev.Type,
		"occurred_at": "",
		"project_id":  ev.ProjectID,
		"actor":       map[string]any{"username": ev.Actor.Username, "interface": ev.Actor.Interface},
		"destination": ev.Destination,
		"target":      ev.Target,
		"marker":      ev.Marker,
		"object":      normalizeMap(ev.Object),
	}
	if !ev.OccurredAt.IsZero() {
		m["occurred_at"] = ev.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	if ev.Webhook != nil {
		m["webhook"] = normalizeMap(ev.Webhook)
	}
	if ev.Delivery != nil {
		m["delivery"] = normalizeMap(ev.Delivery)
	}
	if ev.Assets != nil {
		m["assets"] = normalize(ev.Assets)
	}
	if ev.Schedule != nil {
		m["schedule"] = map[string]any{"id": ev.Schedule.ID, "name": ev.Schedule.Name}
	}
	return m
}

func fullPath(m map[string]any) string {
	p, _ := m["path"].(string)
	n, _ := m["name"].(string)
	if p == "" && n == "" {
		return ""
	}
	return joinPath(p, n)
}

// kind tells whether an asset is an image and whether it is a video: by its
// mime_type (image/…, video/…, case-insensitive) when it has one, and only
// when it has none by the presence of an image / video object, so that a
// PDF with preview dimensions is no image.
func kind(asset map[string]any) (image, video bool) {
	if mime, _ := asset["mime_type"].(string); strings.TrimSpace(mime) != "" {
		mime = strings.ToLower(strings.TrimSpace(mime))
		return strings.HasPrefix(mime, "image/"), strings.HasPrefix(mime, "video/")
	}
	_, image = asset["image"].(map[string]any)
	_, video = asset["video"].(map[string]any)
	return image, video
}

func extension(asset map[string]any) string {
	n, _ := asset["name"].(string)
	if n == "" {
		p, _ := asset["path"].(string)
		n = p[strings.LastIndexByte(p, '/')+1:]
	}
	i := strings.LastIndexByte(n, '.')
	if i < 0 {
		return ""
	}
	return strings.ToLower(n[i+1:])
}

// rel is how a changed field relates to a path pattern.
type rel int

const (
	relNone  rel = iota
	relExact     // the field is the pattern (or under a trailing "*")
	relUnder     // the field is below a pattern without a trailing "*"
	relAbove     // the field is an ancestor of the pattern
)

// relate compares a dotted pattern, in which a "*" segment matches any one
// segment and a trailing "*" anything below, with a changed field.
func relate(pattern, field string) rel {
	if pattern == "" || field == "" {
		return relNone
	}
	for {
		pseg, prest := cutDot(pattern)
		fseg, frest := cutDot(field)
		if pseg == "*" && prest == "" {
			return relExact
		}
		if pseg != "*" && pseg != fseg {
			return relNone
		}
		switch {
		case prest == "" && frest == "":
			return relExact
		case prest == "":
			return relUnder
		case frest == "":
			return relAbove
		}
		pattern, field = prest, frest
	}
}

func cutDot(s string) (head, rest string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func wildcard(p string) bool { return p == "*" || strings.Contains(p, "*") }

// changed: any change at path, below it, or (for a wildcard path) matching it.
func (x *Env) changed(path string) bool {
	for i := range x.leaves {
		c := &x.leaves[i]
		switch relate(path, c.Field) {
		case relExact, relUnder:
			return true
		case relAbove:
			if wildcard(path) {
				return true
			}
			rest := path[len(c.Field)+1:]
			if !equal(lookup(c.Old, rest), lookup(c.New, rest)) {
				return true
			}
		}
	}
	return false
}

func (x *Env) changedLeaf(field string) bool {
	for i := range x.leaves {
		if x.leaves[i].Field == field {
			return true
		}
	}
	return false
}

// changedTo: path changed and its new value equals v. For a wildcard path,
// any matching field that changed to v.
func (x *Env) changedTo(p, v any) bool { return x.changedSide(p, v, true) }

// changedFrom: path changed and its old value equals v.
func (x *Env) changedFrom(p, v any) bool { return x.changedSide(p, v, false) }

func (x *Env) changedSide(p, v any, toNew bool) bool {
	path, ok := p.(string)
	if !ok {
		return false
	}
	under := false
	for i := range x.leaves {
		c := &x.leaves[i]
		side := c.Old
		if toNew {
			side = c.New
		}
		switch relate(path, c.Field) {
		case relExact:
			if equal(side, v) {
				return true
			}
		case relUnder:
			under = true
		case relAbove:
			if wildcard(path) {
				continue
			}
			rest := path[len(c.Field)+1:]
			o, n := lookup(c.Old, rest), lookup(c.New, rest)
			if !equal(o, n) && ((toNew && equal(n, v)) || (!toNew && equal(o, v))) {
				return true
			}
		}
	}
	if under && !wildcard(path) {
		if toNew {
			return equal(lookup(x.v.Asset, path), v)
		}
		return equal(x.oldValue(path), v)
	}
	return false
}

// oldValue is the value at path before the event: from the changes when they
// name it, else from the previous snapshot, else from the asset itself (the
// path did not change).
func (x *Env) oldValue(path string) any {
	for i := range x.leaves {
		if x.leaves[i].Field == path {
			return x.leaves[i].Old
		}
	}
	if x.v.Old != nil {
		return lookup(x.v.Old, path)
	}
	return lookup(x.v.Asset, path)
}

func (x *Env) oldGet(p any) any {
	s, _ := p.(string)
	if x.v.Old == nil {
		return nil
	}
	return lookup(x.v.Old, s)
}

func (x *Env) inFolder(glob string) bool { return matchGlob(glob, x.path) }

func (x *Env) moved() bool { return x.before != "" && x.before != x.after }

func (x *Env) movedFrom(glob string) bool { return x.moved() && matchGlob(glob, x.before) }

func (x *Env) movedTo(glob string) bool { return x.moved() && matchGlob(glob, x.after) }

// lists returns a list field before and after the event, and whether that is
// known: from a change of the field, else the previous snapshot, else (for a
// new asset) nothing before.
func (x *Env) lists(field string) (before, after any, known bool) {
	for i := range x.leaves {
		if x.leaves[i].Field == field {
			return x.leaves[i].Old, x.leaves[i].New, true
		}
	}
	if x.v.Old != nil {
		return x.v.Old[field], x.v.Asset[field], true
	}
	if x.ev.Type == "ASSET_ADDED" {
		return nil, x.v.Asset[field], true
	}
	return nil, nil, false
}

func (x *Env) added(field, name string) bool {
	before, after, ok := x.lists(field)
	return ok && hasName(after, name) && !hasName(before, name)
}

func (x *Env) removed(field, name string) bool {
	before, after, ok := x.lists(field)
	return ok && hasName(before, name) && !hasName(after, name)
}

// hasName reports whether list (tags, labels, markers) holds name, as a
// string or as an object whose "name" or "label" is name.
func hasName(list any, name string) bool {
	l, ok := list.([]any)
	if !ok {
		return false
	}
	for _, e := range l {
		switch t := e.(type) {
		case string:
			if t == name {
				return true
			}
		case map[string]any:
			if s, ok := t["name"].(string); ok && s == name {
				return true
			}
			if s, ok := t["label"].(string); ok && s == name {
				return true
			}
		}
	}
	return false
}
