package api_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/markers"
)

// A known path with a method it does not serve answers 405 with an Allow
// header; an unknown path stays a 404, and nothing redirects.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Extra: []func(*api.Server){markers.Routes}})
	for _, tc := range []struct {
		name, method, path, key string
		status                  int
		allow, body             string
	}{
		{"GET on ingest", "GET", "/api/v2/events", apitest.UserKey, 405, "POST", `{"error":"method not allowed"}`},
		{"without a key", "GET", "/api/v2/events", "", 405, "POST", `{"error":"method not allowed"}`},
		{"DELETE on the list", "DELETE", "/api/v2/admin/webhooks", apitest.AdminKey, 405, "GET, POST", `{"error":"method not allowed"}`},
		{"POST on one webhook", "POST", "/api/v2/admin/webhooks/1", apitest.AdminKey, 405, "GET, PUT, PATCH, DELETE", `{"error":"method not allowed"}`},
		{"PATCH on a marker", "PATCH", "/api/v2/admin/markers/m", apitest.AdminKey, 405, "GET, PUT, DELETE", `{"error":"method not allowed"}`},
		{"POST on healthz", "POST", "/healthz", "", 405, "GET", `{"error":"method not allowed"}`},
		{"unknown path", "GET", "/api/v2/nothing", apitest.AdminKey, 404, "", `{"error":"not found"}`},
		{"unknown path, other method", "POST", "/nothing", "", 404, "", `{"error":"not found"}`},
		{"trailing slash", "GET", "/api/v2/admin/webhooks/", apitest.AdminKey, 404, "", `{"error":"not found"}`},
		{"double slash", "GET", "/api/v2//admin/webhooks", apitest.AdminKey, 404, "", `{"error":"not found"}`},
		{"upper case", "GET", "/API/v2/admin/webhooks", apitest.AdminKey, 404, "", `{"error":"not found"}`},
	} {
		r := h.Do(tc.method, tc.path, tc.key, nil)
		got := []any{r.Status, r.Header.Get("Allow"), string(r.Body)}
		if diff := cmp.Diff([]any{tc.status, tc.allow, tc.body}, got); diff != "" {
			t.Errorf("%s: %s %s (-want +got):\n%s", tc.name, tc.method, tc.path, diff)
		}
	}
}
