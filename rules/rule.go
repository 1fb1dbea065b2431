package rules

import (
	"slices"
	"strconv"
	"strings"

	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
)

// Rule is the match of one webhook (or marker, or subscription) against
// events: the scopes of SPEC §3.1 and an optional compiled condition. A Rule
// is plain data; build it when the owner is saved or loaded, never per event.
type Rule struct {
	// ID is the owner's id (a webhook id); opaque to rules, it orders
	// Index.Candidates.
	ID int64
	// Triggers are event types: catalogue types, "*" for all, or prefix
	// wildcards such as "ASSET_*".
	Triggers []string
	// ProjectID, when set, must equal the event's project_id.
	ProjectID string
	// Folder, when set, is a glob the asset's full path (or, for a move or
	// copy, its destination) must match; see ValidateFolder.
	Folder string
	// Users, when not empty, are the only usernames whose actions match.
	Users []string
	// Disabled rules match nothing and are left out of an Index.
	Disabled bool
	// Condition is the compiled expr condition; nil matches every event.
	Condition *Condition
}

// ValidateTriggers checks a webhook's trigger_events: a non-empty list in
// which each entry is a catalogue type, "*", or a prefix wildcard ("ASSET_*")
// that covers at least one catalogue type. Errors are *problem.Error (422)
// naming the field, as "trigger_events[2]".
func ValidateTriggers(v []string) error {
	if len(v) == 0 {
		return problem.Invalid("trigger_events", v, "Must be a non-empty Array")
	}
	for i, t := range v {
		if !validTrigger(t) {
			return problem.Invalid("trigger_events["+strconv.Itoa(i)+"]", t, event.UnknownType)
		}
	}
	return nil
}

func validTrigger(t string) bool {
	if t == "*" || event.Known(t) {
		return true
	}
	prefix, ok := strings.CutSuffix(t, "*")
	if !ok || prefix == "" || strings.Contains(prefix, "*") {
		return false
	}
	for _, k := range event.Types() {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// ValidateFolder checks a folder glob: it starts with "/"; "**" stands for
// any number of folders and must be a whole segment; "*", "?" and "[…]" match
// within one segment. A glob without wildcards names a folder and everything
// under it. Errors are *problem.Error (422) naming "folder".
func ValidateFolder(glob string) error {
	if why := validGlob(glob); why != "" {
		return problem.Invalid("folder", glob, why)
	}
	return nil
}

// Covers reports whether the rule's triggers include eventType.
func (r *Rule) Covers(eventType string) bool {
	for _, t := range r.Triggers {
		if covers(t, eventType) {
			return true
		}
	}
	return false
}

func covers(trigger, eventType string) bool {
	if trigger == eventType || trigger == "*" {
		return true
	}
	prefix, ok := strings.CutSuffix(trigger, "*")
	return ok && prefix != "" && strings.HasPrefix(eventType, prefix)
}

// Match reports whether the rule matches the event env was built for,
// checking in order: disabled, project, users, folder, then the condition
// (with e). Triggers are not checked: Index.Candidates has chosen the rule,
// or the caller bound it directly (a marker's webhook_ids). A condition that
// fails at run time gives false and its error.
func (r *Rule) Match(e *Evaluator, env *Env) (bool, error) {
	st, err := r.Check(e, env)
	return st == StageMatched, err
}

// Index groups rules by event type so that routing an event looks at its
// subscribers only: a lookup costs one map read, whatever the number of
// rules. It is immutable once built and safe for concurrent reads; rebuild it
// when rules change.
type Index struct {
	byType map[string][]*Rule
	all    []*Rule // enabled rules, by ID, for types outside the catalogue
}

// NewIndex indexes the enabled rules under every catalogue type their
// triggers cover.
func NewIndex(rules []*Rule) *Index {
	ix := &Index{byType: map[string][]*Rule{}}
	for _, r := range rules {
		if r == nil || r.Disabled {
			continue
		}
		ix.all = append(ix.all, r)
	}
	slices.SortStableFunc(ix.all, func(a, b *Rule) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for _, t := range event.Types() {
		for _, r := range ix.all {
			if r.Covers(t) {
				ix.byType[t] = append(ix.byType[t], r)
			}
		}
	}
	return ix
}

// Candidates are the enabled rules whose triggers cover eventType, in
// ascending ID order. The slice is shared: do not modify it.
func (ix *Index) Candidates(eventType string) []*Rule {
	if ix == nil {
		return nil
	}
	if rs, ok := ix.byType[eventType]; ok || event.Known(eventType) {
		return rs
	}
	var out []*Rule
	for _, r := range ix.all {
		if r.Covers(eventType) {
			out = append(out, r)
		}
	}
	return out
}

// Len is the number of enabled rules in the index.
func (ix *Index) Len() int {
	if ix == nil {
		return 0
	}
	return len(ix.all)
}
