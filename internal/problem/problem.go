// Package problem is the typed error every layer returns for bad client input,
// so that the API's one error middleware can map it to a status and a JSON body.
package problem

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a client-facing failure: an HTTP status, the field it concerns (if
// any) and a message shown as {"error": Message}.
type Error struct {
	Status int
	Field  string
	Msg    string
	// Extra holds additional members of the JSON error body (line, column).
	Extra map[string]any
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// New returns an Error with the given status and message.
func New(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Invalid is a 422 for field: "Invalid parameter '<field>' value <v>: <why>",
// the Media Pocket wording used for every parameter.
func Invalid(field string, value any, why string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Field: field,
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

// NotFound is a 404 with the given message.
func NotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Msg: what}
}

// BadRequest is a 400 with the given message.
func BadRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
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
