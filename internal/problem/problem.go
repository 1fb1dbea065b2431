// Package problem is the typed error every layer returns for bad client input
// and for the failures a caller branches on. An Error carries a Kind
// (invalid, not found, conflict, …), never an HTTP status: the API's one
// error middleware maps the kind to a status and a JSON body, so the layers
// below it know nothing of HTTP.
package problem

import (
	"errors"
	"fmt"
)

// Kind is what sort of failure an Error is. It is a string, so that an HTTP
// status cannot be passed where a kind is expected.
type Kind string

// The kinds of Error, with the status the API answers them with.
const (
	KindInvalid     Kind = "invalid"     // a missing, mistyped or refused parameter: 422
	KindNotFound    Kind = "not found"   // an unknown object: 404
	KindConflict    Kind = "conflict"    // the object's state forbids it (exists, finished): 409
	KindMalformed   Kind = "malformed"   // a body that is not the JSON expected: 400
	KindTooLarge    Kind = "too large"   // a body over the limit: 413
	KindUnavailable Kind = "unavailable" // storage unreachable: 503
	KindMethod      Kind = "method"      // a known path with a method it does not serve: 405
)

// Error is a client-facing failure: its kind, the field it concerns (if any)
// and a message shown as {"error": Message}.
type Error struct {
	Kind  Kind
	Field string
	Msg   string
	// Extra holds additional members of the JSON error body (line, column).
	Extra map[string]any
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// New returns an Error of the given kind and message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Invalid is a KindInvalid error for field: "Invalid parameter '<field>'
// value <v>: <why>", the Media Pocket wording used for every parameter.
func Invalid(field string, value any, why string) *Error {
	return &Error{Kind: KindInvalid, Field: field,
		Msg: fmt.Sprintf("Invalid parameter '%s' value %s: %s", field, Show(value), why)}
}

// Show renders a client value the way the 422 messages quote it: nil for a
// missing value, strings quoted, anything else in Go's %v form, cut at 64 bytes.
func Show(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		if len(x) > 64 {
			x = x[:64] + "…"
		}
		s = fmt.Sprintf("%q", x)
	case map[string]any:
		s = "{…}"
	case []any:
		s = "[…]"
	default:
		s = fmt.Sprintf("%v", x)
	}
	return s
}

// NotFound is a KindNotFound error with the given message.
func NotFound(what string) *Error {
	return &Error{Kind: KindNotFound, Msg: what}
}

// BadRequest is a KindMalformed error with the given message.
func BadRequest(format string, args ...any) *Error {
	return &Error{Kind: KindMalformed, Msg: fmt.Sprintf(format, args...)}
}

// KindOf is the kind of err when it is (or wraps) an *Error, else "".
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return ""
}

// Prefix returns err with its field (and message) placed under prefix, as in
// "events[3]." + "type"; errors that are not *Error are returned unchanged.
func Prefix(prefix string, err error) error {
	var pe *Error
	if !errors.As(err, &pe) || pe.Field == "" {
		return err
	}
	cp := *pe
	cp.Field = prefix + pe.Field
	cp.Msg = replaceOnce(pe.Msg, "'"+pe.Field+"'", "'"+cp.Field+"'")
	return &cp
}

func replaceOnce(s, old, repl string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + repl + s[i+len(old):]
		}
	}
	return s
}
