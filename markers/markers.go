package markers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// MaxBulk is the most asset ids one bulk select takes.
const MaxBulk = 1000

// slug is a marker name: lowercase letters, digits, "-" and "_", 1 to 64.
var slug = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// errMarkerNotFound and errAssetNotFound are the 404s of this package.
var (
	errMarkerNotFound = problem.NotFound("marker not found")
	errAssetNotFound  = problem.NotFound("asset not found")
)

// conditions compiles marker conditions once per source and hands out
// evaluators (one per goroutine at a time).
type conditions struct {
	compiled sync.Map // source → *rules.Condition
	evals    sync.Pool
}

func newConditions() *conditions {
	c := &conditions{}
	c.evals.New = func() any { return rules.NewEvaluator() }
	return c
}

// compile returns the compiled condition of src (nil for ""), or a 422
// naming "condition" with its line and column.
func (c *conditions) compile(src string) (*rules.Condition, error) {
	if src == "" {
		return nil, nil
	}
	if v, ok := c.compiled.Load(src); ok {
		return v.(*rules.Condition), nil
	}
	cond, err := rules.Compile(src)
	if err != nil {
		var ce *rules.CompileError
		if errors.As(err, &ce) {
			return nil, &problem.Error{Kind: problem.KindInvalid, Field: "condition",
				Msg:   fmt.Sprintf("Invalid parameter 'condition': %s (line %d, column %d)", ce.Msg, ce.Line, ce.Column),
				Extra: map[string]any{"line": ce.Line, "column": ce.Column}}
		}
		return nil, err
	}
	c.compiled.Store(src, cond)
	return cond, nil
}

// offered reports whether m's condition holds for asset; a condition that
// fails at run time (or no longer compiles) does not offer the marker.
func (c *conditions) offered(m *engine.Marker, asset map[string]any, now time.Time) bool {
	cond, err := c.compile(m.Condition)
	if err != nil {
		return false
	}
	if cond == nil {
		return true
	}
	// The marker is not set on the event: availability is judged before the
	// selection, so hasMarker(name) tells whether the flag is already set.
	ev := &event.Event{Type: event.MarkerSelected, Asset: asset, Changes: []event.Change{}}
	e := c.evals.Get().(*rules.Evaluator)
	defer c.evals.Put(e)
	ok, err := e.Eval(cond, rules.NewEnv(ev, nil, now))
	return err == nil && ok
}

// decode type-checks and validates a marker definition; name is the path's
// name on PUT (the body's name, if any, must agree) and "" on POST.
func (h *handler) decode(ctx context.Context, body map[string]any, name string) (*engine.Marker, error) {
	if err := markerParams.Check(body); err != nil {
		return nil, err
	}
	m := &engine.Marker{Mode: engine.MarkerFlag, WebhookIDs: []int64{}}
	v, given := body["name"]
	switch s, ok := v.(string); {
	case name == "" && !ok:
		return nil, problem.Invalid("name", v, "Must be a String")
	case name == "":
		m.Name = s
	case given && v != nil && (!ok || s != name):
		return nil, problem.Invalid("name", v, "Must be the marker's name "+strconv.Quote(name))
	default:
		m.Name = name
	}
	if !slug.MatchString(m.Name) {
		return nil, problem.Invalid("name", m.Name, "Must be 1 to 64 lowercase letters, digits, '-' or '_'")
	}
	label, err := api.Name(body, "label")
	if err != nil {
		return nil, err
	}
	m.Label = label
	if m.Description, err = api.OptString(body, "description"); err != nil {
		return nil, err
	}
	mode, err := api.OptString(body, "mode")
	if err != nil {
		return nil, err
	}
	switch mode {
	case "":
	case engine.MarkerFlag, engine.MarkerAction:
		m.Mode = mode
	default:
		return nil, problem.Invalid("mode", mode, `Must be "flag" or "action"`)
	}
	if v, ok := body["batch"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return nil, problem.Invalid("batch", v, "Must be a Boolean")
		}
		m.Batch = b
	}
	if m.Condition, err = api.OptString(body, "condition"); err != nil {
		return nil, err
	}
	if _, err := h.conds.compile(m.Condition); err != nil {
		return nil, err
	}
	if v, ok := body["webhook_ids"]; ok && v != nil {
		arr, ok := v.([]any)
		if !ok {
			return nil, problem.Invalid("webhook_ids", v, "Must be an Array")
		}
		seen := map[int64]bool{}
		for i, x := range arr {
			field := "webhook_ids[" + strconv.Itoa(i) + "]"
			id, ok := positive(x)
			if !ok {
				return nil, problem.Invalid(field, x, "Must be a webhook id (a positive Integer)")
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			if _, err := h.eng.Webhooks().Get(ctx, id); errors.Is(err, engine.ErrNotFound) {
				return nil, problem.Invalid(field, x, "Unknown webhook")
			} else if err != nil {
				return nil, err
			}
			m.WebhookIDs = append(m.WebhookIDs, id)
		}
	}
	return m, nil
}

// markerParams are a marker's parameters and its view's read-only fields:
// anything else is refused (SPEC §3).
var markerParams = &api.Params{Accepted: []string{"name", "label", "description", "mode", "batch", "condition",
	"webhook_ids"}, Shown: []string{"created_at", "updated_at"}}

// positive reads a JSON number (json.Number) that is a positive integer.
func positive(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(n.String(), 10, 64)
	return id, err == nil && id > 0
}

// hasFlag reports whether asset.markers holds name.
func hasFlag(asset map[string]any, name string) bool {
	list, _ := asset["markers"].([]any)
	for _, x := range list {
		if s, _ := x.(string); s == name {
			return true
		}
	}
	return false
}

// withFlag returns a shallow copy of asset whose markers list holds name
// (on) or not (off); other entries keep their order.
func withFlag(asset map[string]any, name string, on bool) map[string]any {
	out := make(map[string]any, len(asset)+1)
	for k, v := range asset {
		out[k] = v
	}
	old, _ := asset["markers"].([]any)
	list := make([]any, 0, len(old)+1)
	for _, x := range old {
		if s, _ := x.(string); s == name {
			continue
		}
		list = append(list, x)
	}
	if on {
		list = append(list, name)
	}
	out["markers"] = list
	return out
}
