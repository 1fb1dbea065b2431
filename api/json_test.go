package api_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/internal/apitest"
)

// The 400 for a malformed body names what is wrong and the byte offset where
// it went wrong, on every route that reads a JSON body.
func TestMalformedJSONNamesTheOffset(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	truncated := `{"type": "ASSET_ADDED", "asset": {"uuid": "a-1", "name": "x"}` // 61 bytes, the closing brace missing
	for _, tc := range []struct{ name, method, path, body, want string }{
		{"truncated event", "POST", "/api/v2/events", truncated, `{"error":"malformed JSON: unexpected end of input at byte 61"}`},
		{"trailing garbage", "POST", "/api/v2/events", `{"type": "ASSET_ADDED"} x`, `{"error":"malformed JSON: invalid character 'x' after top-level value at byte 25"}`},
		{"empty body", "POST", "/api/v2/events", ``, `{"error":"malformed JSON: unexpected end of input at byte 0"}`},
		{"an array", "POST", "/api/v2/events", `[1]`, `{"error":"malformed JSON: expected an object"}`},
		{"webhook", "POST", "/api/v2/admin/webhooks", `{"name": "x",`, `{"error":"malformed JSON: unexpected end of input at byte 13"}`},
		{"rule", "POST", "/api/v2/admin/rules/validate", `{"condition" "x"}`, `{"error":"malformed JSON: invalid character '\"' after object key at byte 14"}`},
		{"hook", "POST", "/api/v2/hooks", `{"target_url": "https://e.com", }`, `{"error":"malformed JSON: invalid character '}' looking for beginning of object key string at byte 33"}`},
	} {
		r := h.Admin(tc.method, tc.path, tc.body)
		if diff := cmp.Diff(tc.want, string(r.Body)); r.Status != 400 || diff != "" {
			t.Errorf("%s: status %d (-want +got):\n%s", tc.name, r.Status, diff)
		}
	}
}
