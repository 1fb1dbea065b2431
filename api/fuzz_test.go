package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/assethooks/assethooks/internal/apitest"
)

// FuzzIngest posts arbitrary bodies to the ingest and webhook routes: nothing
// may crash the process or answer 5xx; every answer is 202/200 or a 4xx with
// a JSON error.
func FuzzIngest(f *testing.F) {
	for _, s := range []string{
		`{"type":"ASSET_ADDED","asset":{"uuid":"a"}}`,
		`{"events":[{"type":"ASSET_ADDED","asset":{"uuid":"a"}},{"type":"ASSET_REMOVED","asset":{"uuid":"a"}}]}`,
		`{"events":[]}`, `{"events":{}}`, `{"type":"ASSET_ADDED","asset":{"uuid":"a"},"previous":[]}`,
		`{"name":"w","http_url":"https://e.com","trigger_events":["ASSET_*"],"condition":"hasTag(\"x\")"}`,
		`{"name":"w","http_url":"https://e.com","trigger_events":["*"],"body":{"format":"form","fields":["file"]}}`,
		`{"name":"w","http_url":"https://e.com","trigger_events":["*"],"auth":{"type":"oauth2"}}`,
		`{"name":"w","http_url":"https://e.com","trigger_events":["*"],"webhook_headers":[{"name":"X-A","value":"b\r\n"}]}`,
		`{`, `}`, `"x"`, `1e999`, `{"type":"ASSET_ADDED","asset":{"uuid":"a"}} {}`,
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
	}
	h := apitest.New(f, apitest.Options{})
	handler := h.Server.Handler()
	paths := []string{"/api/v2/events", "/api/v2/admin/webhooks", "/api/v2/admin/rules/validate", "/api/v2/admin/projects"}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		req := httptest.NewRequest(http.MethodPost, paths[int(route)%len(paths)], bytes.NewReader(body))
		req.Header.Set("X-API-KEY", apitest.AdminKey)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code >= 400 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error"`)) {
			t.Fatalf("status %d without a JSON error: %s", rec.Code, rec.Body)
		}
	})
}
