package rules

import (
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/assethooks/assethooks/event"
)

// Changes returns ev.Changes when the DAM sent them (non-nil), else the
// changes derived from old → ev.Asset. When old is nil nothing can be
// derived and the result is an empty, non-nil slice. The caller passes
// ev.Previous as old when the event carries one, else the engine's last
// snapshot of the asset.
func Changes(ev *event.Event, old map[string]any) []event.Change {
	if ev == nil {
		return []event.Change{}
	}
	if ev.Changes != nil {
		return ev.Changes
	}
	if old == nil {
		return []event.Change{}
	}
	return DeriveChanges(old, ev.Asset)
}

// DeriveChanges diffs two asset representations. Nested maps recurse with
// dotted paths ("meta.custom.status", "info.title", "image.width"); arrays
// (tags, labels, markers, renditions…) and scalars are compared as whole
// values at their path. An added key has Old nil, a removed key New nil.
// Numbers compare by value whatever their Go type (json.Number("2") equals
// float64(2) and int(2)); the values in the result are the ones given, not
// normalized. The result is sorted by Field and never nil.
func DeriveChanges(old, new map[string]any) []event.Change {
	out := []event.Change{}
	out = diffMaps(out, "", old, new)
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func diffMaps(out []event.Change, prefix string, old, new map[string]any) []event.Change {
	for k, ov := range old {
		nv, ok := new[k]
		if !ok {
			if ov != nil {
				out = append(out, event.Change{Field: prefix + k, Old: ov, New: nil})
			}
			continue
		}
		out = diffValue(out, prefix+k, ov, nv)
	}
	for k, nv := range new {
		if _, ok := old[k]; ok || nv == nil {
			continue
		}
		out = append(out, event.Change{Field: prefix + k, Old: nil, New: nv})
	}
	return out
}

func diffValue(out []event.Change, field string, ov, nv any) []event.Change {
	om, ook := ov.(map[string]any)
	nm, nok := nv.(map[string]any)
	if ook && nok {
		return diffMaps(out, field+".", om, nm)
	}
	if !equal(ov, nv) {
		out = append(out, event.Change{Field: field, Old: ov, New: nv})
	}
	return out
}

// leaves expands changes whose values are objects into one change per leaf
// field, so that helpers can match "meta.custom.status" whether the DAM
// reported {"field": "meta.custom.status"} or {"field": "meta", "old": {…},
// "new": {…}}. A missing side counts as an empty object. Values are
// normalized (see normalize).
func leaves(changes []event.Change) []event.Change {
	out := make([]event.Change, 0, len(changes))
	for _, c := range changes {
		out = expand(out, c.Field, normalize(c.Old), normalize(c.New))
	}
	return out
}

func expand(out []event.Change, field string, ov, nv any) []event.Change {
	om, ook := ov.(map[string]any)
	nm, nok := nv.(map[string]any)
	switch {
	case ook && (nok || nv == nil):
	case nok && ov == nil:
	default:
		if !equal(ov, nv) {
			out = append(out, event.Change{Field: field, Old: ov, New: nv})
		}
		return out
	}
	for k, o := range om {
		out = expand(out, field+"."+k, o, nm[k])
	}
	for k, n := range nm {
		if _, ok := om[k]; !ok {
			out = expand(out, field+"."+k, nil, n)
		}
	}
	return out
}

// normalize returns a deep copy of v in which every number is an int when it
// is integral (and fits) and a float64 otherwise, so that conditions compare
// numbers the same way whether the DAM sent 2000, 2000.0 or "2000" as a
// json.Number. Lists of objects become []any.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool:
		return x
	case json.Number:
		return normNumber(x)
	case float64:
		return normFloat(x)
	case float32:
		return normFloat(float64(x))
	case int:
		return x
	case int64:
		return int(x)
	case int32:
		return int(x)
	case int16:
		return int(x)
	case int8:
		return int(x)
	case uint:
		return normFloatOrInt(uint64(x))
	case uint64:
		return normFloatOrInt(x)
	case uint32:
		return int(x)
	case uint16:
		return int(x)
	case uint8:
		return int(x)
	case map[string]any:
		return normalizeMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeMap(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	default:
		return x
	}
}

func normalizeMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = normalize(v)
	}
	return out
}

func normNumber(n json.Number) any {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return int(i)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return string(n)
	}
	return normFloat(f)
}

func normFloat(f float64) any {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 && !math.IsInf(f, 0) {
		return int(f)
	}
	return f
}

func normFloatOrInt(u uint64) any {
	if u <= math.MaxInt64 {
		return int(u)
	}
	return float64(u)
}

// number returns v as a float64 (and as an int when it is integral) if v is
// any kind of number.
func number(v any) (f float64, i int64, isInt, ok bool) {
	switch x := v.(type) {
	case int:
		return float64(x), int64(x), true, true
	case float64:
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
			return x, int64(x), true, true
		}
		return x, 0, false, true
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return float64(n), n, true, true
		}
		g, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, 0, false, false
		}
		return number(g)
	case int64:
		return float64(x), x, true, true
	case int32:
		return float64(x), int64(x), true, true
	case float32:
		return number(float64(x))
	case uint64:
		if x <= math.MaxInt64 {
			return float64(x), int64(x), true, true
		}
		return float64(x), 0, false, true
	case uint:
		return number(uint64(x))
	case uint32:
		return float64(x), int64(x), true, true
	case int16:
		return float64(x), int64(x), true, true
	case int8:
		return float64(x), int64(x), true, true
	case uint16:
		return float64(x), int64(x), true, true
	case uint8:
		return float64(x), int64(x), true, true
	}
	return 0, 0, false, false
}

// equal is deep equality in which numbers compare by value across Go types.
func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok {
			return equalSlice(a, b)
		}
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if af, ai, aint, ok := number(a); ok {
		bf, bi, bint, ok := number(b)
		if !ok {
			return false
		}
		if aint && bint {
			return ai == bi
		}
		return af == bf
	}
	return equalSlice(a, b)
}

// equalSlice compares lists of any element type element by element, and
// anything else with reflect.DeepEqual.
func equalSlice(a, b any) bool {
	if b == nil {
		return false
	}
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	if av.Kind() == reflect.Slice && bv.Kind() == reflect.Slice {
		if av.Len() != bv.Len() {
			return false
		}
		for i := 0; i < av.Len(); i++ {
			if !equal(av.Index(i).Interface(), bv.Index(i).Interface()) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// lookup follows a dotted path through nested maps (and list indexes) and
// returns nil when any step is missing.
func lookup(v any, path string) any {
	for path != "" {
		seg := path
		if i := strings.IndexByte(path, '.'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
