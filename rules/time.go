package rules

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/expr-lang/expr/ast"

	"github.com/assethooks/assethooks/event"
)

// Time helpers (SPEC §3.7): since(path), age(t); date(s) and duration(s) are
// expr's own builtins.
//
// since(path) needs to know when a path of an asset last changed. The rules
// package keeps no state: the caller that evaluates schedule conditions
// injects a SinceFunc with Env.WithSince, and collects with SincePaths the
// paths its saved conditions read, so that change times are recorded for
// those paths only (Touched tells which of them an event's changes touch).

// SinceFunc reports when the value at a dotted path of the environment's
// asset last changed, or, when it never changed, when the asset was first
// seen; ok is false when nothing is known.
type SinceFunc func(path string) (at time.Time, ok bool)

// WithSince injects the lookup since() measures from and returns x. Call it
// before the first evaluation. Without a lookup (webhook routing), since()
// is 0: nothing is known to have been unchanged for any time.
func (x *Env) WithSince(f SinceFunc) *Env {
	x.sinceFn = f
	return x
}

// since is the time since the value at path last changed (0 when unknown, or
// when the recorded time is in the future).
func (x *Env) since(path string) time.Duration {
	if x.sinceFn == nil {
		return 0
	}
	at, ok := x.sinceFn(path)
	if !ok {
		return 0
	}
	return max(x.now.Sub(at), 0)
}

var errAgeNil = errors.New("age: no time given (nil); read optional fields with ?? (age(asset.created_at ?? now()))")

// age is now() minus a time or an RFC 3339 string.
func (x *Env) age(v any) (time.Duration, error) {
	switch t := v.(type) {
	case time.Time:
		return x.now.Sub(t), nil
	case string:
		p, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return 0, fmt.Errorf("age: %q is not an RFC 3339 time", t)
		}
		return x.now.Sub(p), nil
	case nil:
		return 0, errAgeNil
	}
	return 0, fmt.Errorf("age: want a time or an RFC 3339 string, not %T", v)
}

// SincePaths returns the paths a condition passes to since(), sorted and
// without duplicates: the paths whose change times must be recorded for it.
// Compile refuses a since() whose path is not a string literal, so none is
// missed.
func SincePaths(c *Condition) []string {
	if c == nil {
		return nil
	}
	root := c.prog.Node()
	v := &sinceCollector{}
	ast.Walk(&root, v)
	slices.Sort(v.paths)
	return slices.Compact(v.paths)
}

type sinceCollector struct{ paths []string }

// Visit implements ast.Visitor.
func (s *sinceCollector) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok || len(call.Arguments) != 1 {
		return
	}
	if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value == "since" {
		if str, ok := call.Arguments[0].(*ast.StringNode); ok {
			s.paths = append(s.paths, str.Value)
		}
	}
}

// Touched returns the paths among paths that changes touch, as changed(path)
// sees them: a change at the path, below it, or of an ancestor whose old and
// new values differ at the path.
func Touched(changes []event.Change, paths []string) []string {
	if len(changes) == 0 || len(paths) == 0 {
		return nil
	}
	x := &Env{leaves: leaves(changes)}
	var out []string
	for _, p := range paths {
		if x.changed(p) {
			out = append(out, p)
		}
	}
	return out
}
