package event_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/assethooks/assethooks/event"
)

// Malformed JSON is reported with encoding/json's message and the exact
// offset, never with the fast decoder's padding byte ('\u0000').
func TestUnmarshalJSONNumberSyntaxErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, msg string
		offset        int64
	}{
		{"truncated", `{"type": "ASSET_ADDED", "asset": {"uuid": "a-1"}`, "unexpected end of JSON input", 48},
		{"only an opening brace", `{`, "unexpected end of JSON input", 1},
		{"empty", ``, "unexpected end of JSON input", 0},
		{"truncated string", `{"a": "x`, "unexpected end of JSON input", 8},
		{"trailing garbage", `{"a": 1} x`, "invalid character 'x' after top-level value", 10},
		{"two values", `{"a":1}{"b":2}`, "invalid character '{' after top-level value", 8},
		{"missing colon", `{"a" 1}`, "invalid character '1' after object key", 6},
		{"trailing comma", `{"a": 1,}`, "invalid character '}' looking for beginning of object key string", 9},
		{"bad literal", `{"a": tru}`, "invalid character '}' in literal true (expecting 'e')", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v any
			err := event.UnmarshalJSONNumber([]byte(tc.in), &v)
			var se *json.SyntaxError
			if !errors.As(err, &se) || se.Error() != tc.msg || se.Offset != tc.offset {
				t.Fatalf("UnmarshalJSONNumber(%q) = %v (%T), want a SyntaxError %q at %d", tc.in, err, err, tc.msg, tc.offset)
			}
		})
	}
	for _, ok := range []string{`{"a": 1.50}`, `{"a": 1}  ` + "\n", `[1, 2]`} {
		var v any
		if err := event.UnmarshalJSONNumber([]byte(ok), &v); err != nil {
			t.Errorf("UnmarshalJSONNumber(%q) = %v", ok, err)
		}
	}
	var m map[string]any
	if err := event.UnmarshalJSONNumber([]byte(`{"n": 1.50}`), &m); err != nil || m["n"] != json.Number("1.50") {
		t.Errorf("numbers must stay json.Number as written: %v %#v", err, m)
	}
}
