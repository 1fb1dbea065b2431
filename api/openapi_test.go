package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/markers"
)

// withMarkers is the server as `assethooks serve` builds it.
var withMarkers = []func(*api.Server){markers.Routes}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc := apitest.LoadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" || ids[op.OperationID] != "" {
				t.Errorf("%s: operationId %q is missing or taken by %s", name, op.OperationID, ids[op.OperationID])
			}
			ids[op.OperationID] = name
			role, _ := op.Extensions["x-role"].(string)
			switch {
			case role != "admin" && role != "user" && role != "none":
				t.Errorf("%s: x-role %q, want admin, user or none", name, role)
			case strings.HasPrefix(path, "/api/v2/admin/") != (role == "admin"):
				t.Errorf("%s: x-role %s for a path %s /api/v2/admin/", name, role, map[bool]string{true: "under", false: "outside"}[role != "admin"])
			case (role == "none") != (op.Security != nil && len(*op.Security) == 0):
				t.Errorf("%s: x-role %s but security %v", name, role, op.Security)
			}
			if op.Summary == "" || op.Responses.Len() == 0 {
				t.Errorf("%s: no summary or no responses", name)
			}
			if role != "none" && op.Responses.Value("401") == nil {
				t.Errorf("%s: a keyed route must document its 401", name)
			}
		}
	}
}

// ginParam turns gin's ":id" segments into OpenAPI's "{id}".
var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// Every route gin serves is in the document, and the document has no
// operation gin does not serve.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Extra: withMarkers})
	doc := apitest.LoadOpenAPI(t)
	served := map[string]bool{}
	for _, r := range h.Server.Routes() {
		op := r.Method + " " + ginParam.ReplaceAllString(r.Path, "{$1}")
		served[op] = true
		item := doc.Paths.Value(ginParam.ReplaceAllString(r.Path, "{$1}"))
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("the OpenAPI document lacks %s, which the server serves", op)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if op := method + " " + path; !served[op] {
				t.Errorf("the OpenAPI document has %s, which the server does not serve", op)
			}
		}
	}
}

// GET /openapi.json answers the document without a key.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	r := h.Do("GET", "/openapi.json", "", nil)
	want, _ := api.OpenAPI("dev")
	if r.Status != 200 || string(r.Body) != string(want) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s %.200s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
}

// TestOpenAPIMatchesRealAnswers sends a representative set of requests
// covering every operation through the real server, and holds each request
// and answer to the document.
func TestOpenAPIMatchesRealAnswers(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := apitest.New(t, apitest.Options{Backend: b, Extra: withMarkers, MaxBody: 64 << 10})
			c := h.Contract()
			rc := apitest.NewReceiver(t)
			failing := apitest.NewReceiver(t)
			failing.Status = http.StatusServiceUnavailable
			contractScenario(t, h, c, rc, failing)
			if unseen := c.Unseen(); len(unseen) > 0 {
				t.Errorf("the contract test does not call: %s", strings.Join(unseen, ", "))
			}
		})
	}
}

// admin and user are the keys of the harness; none sends no key.
const (
	admin = apitest.AdminKey
	user  = apitest.UserKey
	none  = ""
)

func obj(t *testing.T, r apitest.Response) map[string]any { t.Helper(); return r.JSON(t) }

func contractScenario(t *testing.T, h *apitest.Harness, c *apitest.Contract, rc, failing *apitest.Receiver) {
	do := func(method, path, key string, body any, status int, rejects ...bool) apitest.Response {
		t.Helper()
		return c.Do(apitest.Call{Method: method, Path: path, Key: key, Body: body, Status: status, Rejects: len(rejects) > 0 && rejects[0]})
	}
	const refused = true

	// Operations and discovery.
	do("GET", "/healthz", none, nil, 200)
	do("GET", "/readyz", none, nil, 200)
	do("GET", "/metrics", none, nil, 200)
	do("GET", "/openapi.json", none, nil, 200)
	do("GET", "/api/v2/event-types", user, nil, 200)
	do("GET", "/api/v2/event-types", none, nil, 401, refused)

	// Projects.
	do("POST", "/api/v2/admin/projects", admin, map[string]any{"id": "GsrwPNm6nJ7CKRYnQZl6", "name": "Sample"}, 200)
	do("POST", "/api/v2/admin/projects", admin, map[string]any{"id": "GsrwPNm6nJ7CKRYnQZl6", "name": "Again"}, 409)
	do("POST", "/api/v2/admin/projects", admin, map[string]any{"name": 5}, 422, refused)
	do("GET", "/api/v2/admin/projects", admin, nil, 200)
	do("GET", "/api/v2/admin/projects", user, nil, 401)

	// Webhooks: Media Pocket's request, Filerobot's hostname + path over
	// http to the receiver, and one to a failing receiver.
	do("POST", "/api/v2/admin/webhooks", admin, `{"name": "Sample Webhook", "http_url": "https://example.website.com",
		"http_method": "POST", "trigger_events": ["ASSET_ADDED"], "project_id": "GsrwPNm6nJ7CKRYnQZl6"}`, 200)
	host := strings.TrimPrefix(rc.URL, "http://")
	hook := obj(t, do("POST", "/api/v2/admin/webhooks", admin, map[string]any{"name": "CMS", "hostname": host, "path": "/cms",
		"scheme": "http", "trigger_events": []string{"ASSET_*"}, "condition": `isImage()`, "folder": "/marketing/**",
		"body":            map[string]any{"format": "form", "fields": []string{"file", "info"}},
		"auth":            map[string]any{"type": "basic", "username": "dam", "password": "s3cret"},
		"webhook_headers": []map[string]any{{"name": "X-Team", "value": "web"}, {"name": "X-Key", "value": "k", "secret": true}},
		"timeout_seconds": 5}, 200))["webhook"].(map[string]any)
	cms := strconv.Itoa(int(hook["id"].(float64)))
	flaky := obj(t, do("POST", "/api/v2/admin/webhooks", admin, map[string]any{"name": "flaky", "http_url": failing.URL,
		"trigger_events": []string{"ASSET_REMOVED"}, "retry_schedule": []string{"1h"}}, 200))["webhook"].(map[string]any)
	flakyID := strconv.Itoa(int(flaky["id"].(float64)))
	do("POST", "/api/v2/admin/webhooks", admin, `{"name": "x", "http_url": null, "trigger_events": ["ASSET_ADDED"]}`, 422, refused)
	do("POST", "/api/v2/admin/webhooks", admin, map[string]any{"name": "x", "http_url": "https://e.com", "trigger_events": []string{"ASSET_ADDED"}, "project_id": "nope"}, 404)
	do("POST", "/api/v2/admin/webhooks", admin, map[string]any{"name": "x", "http_url": "https://e.com", "trigger_events": []string{"ASSET_ADDED"}, "condition": "asset.size >"}, 422)
	do("POST", "/api/v2/admin/webhooks", admin, map[string]any{"name": "x", "http_url": "https://e.com", "trigger_events": []string{"ASSET_EXPLODED"}}, 422)
	do("POST", "/api/v2/admin/webhooks", admin, map[string]any{"name": "x", "hostname": "e.com", "scheme": "ftp", "trigger_events": []string{"*"}}, 422, refused)
	do("POST", "/api/v2/admin/webhooks", admin, `{"name": "x",`, 400, refused)
	do("POST", "/api/v2/admin/webhooks", user, map[string]any{"name": "x", "http_url": "https://e.com", "trigger_events": []string{"*"}}, 401)
	do("POST", "/api/v2/admin/webhooks", none, map[string]any{"name": "x", "http_url": "https://e.com", "trigger_events": []string{"*"}}, 401, refused)
	do("GET", "/api/v2/admin/webhooks", admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/1", admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/"+cms, admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/999", admin, nil, 404)
	do("GET", "/api/v2/admin/webhooks/abc", admin, nil, 404, refused)
	do("PUT", "/api/v2/admin/webhooks/1", admin, map[string]any{"name": "Renamed", "http_url": "https://example.website.com/v2",
		"trigger_events": []string{"ASSET_ADDED", "ASSET_REMOVED"}, "project_id": nil, "webhook_users": []string{"ana"}}, 200)
	do("PUT", "/api/v2/admin/webhooks/999", admin, map[string]any{"name": "x", "http_url": "https://e.com", "trigger_events": []string{"*"}}, 404)
	// A client may send back what it read.
	one := obj(t, do("GET", "/api/v2/admin/webhooks/1", admin, nil, 200))["webhook"]
	do("PUT", "/api/v2/admin/webhooks/1", admin, one, 200)
	do("PATCH", "/api/v2/admin/webhooks/1", admin, map[string]any{"disabled": true, "condition": nil}, 200)
	do("PATCH", "/api/v2/admin/webhooks/1", admin, map[string]any{"disabled": "yes"}, 422, refused)
	do("PATCH", "/api/v2/admin/webhooks/999", admin, map[string]any{"disabled": true}, 404)

	// Events: one, a batch, and the refusals.
	banner := map[string]any{"uuid": "a-1", "name": "banner.jpg", "path": "/marketing", "mime_type": "image/jpeg",
		"size": 20480, "info": map[string]any{"title": "Banner"}, "tags": []string{"hero"}}
	do("POST", "/api/v2/events", user, map[string]any{"id": "evt_contract_1", "type": "ASSET_ADDED",
		"actor": map[string]any{"username": "ana", "interface": "web"}, "project_id": "GsrwPNm6nJ7CKRYnQZl6", "asset": banner}, 202)
	do("POST", "/api/v2/events", admin, map[string]any{"events": []any{
		map[string]any{"type": "ASSET_EDITED_INFO", "asset": map[string]any{"uuid": "a-1", "name": "banner.jpg", "path": "/marketing",
			"mime_type": "image/jpeg", "info": map[string]any{"title": "Summer banner"}}},
		map[string]any{"type": "ASSET_REMOVED", "asset": map[string]any{"uuid": "a-2", "path": "/press/x.pdf"}},
		map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a-3", "name": "terms.pdf", "path": "/marketing",
			"mime_type": "application/pdf", "image": map[string]any{"width": 595, "height": 842}}},
		map[string]any{"type": "PROJECT_ADDED", "object": map[string]any{"id": "p-2"}},
	}}, 202)
	do("POST", "/api/v2/events", user, `{"type": "ASSET_ADDED", "asset": {"uuid": "a-1"}`, 400, refused)
	do("POST", "/api/v2/events", user, map[string]any{"type": "ASSET_EXPLODED", "asset": map[string]any{"uuid": "a"}}, 422, refused)
	do("POST", "/api/v2/events", user, map[string]any{"type": "WEBHOOK_DISABLED"}, 422, refused)
	do("POST", "/api/v2/events", user, map[string]any{"type": "ASSET_ADDED"}, 422, refused)
	do("POST", "/api/v2/events", user, map[string]any{"events": []any{}}, 422, refused)
	do("POST", "/api/v2/events", user, map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "big", "blob": strings.Repeat("x", 70<<10)}}, 413)
	do("POST", "/api/v2/events", none, map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a"}}, 401, refused)

	// The CMS receiver gets the upload and the info edit; the flaky one
	// fails the removal once and waits an hour for its retry.
	rc.Wait(t, 2, 10*time.Second)
	failing.Wait(t, 1, 10*time.Second)
	redistest.Eventually(t, 10*time.Second, func() bool {
		r := h.Admin("GET", "/api/v2/admin/webhooks/"+cms+"/success", nil)
		return len(r.JSON(t)["success_log"].([]any)) == 2
	}, "the CMS webhook's success log")
	var retrying string
	redistest.Eventually(t, 10*time.Second, func() bool {
		r := h.Admin("GET", "/api/v2/admin/webhooks/"+flakyID+"/deliveries?status=retrying", nil)
		ds := r.JSON(t)["deliveries"].([]any)
		if len(ds) == 1 {
			retrying = ds[0].(map[string]any)["id"].(string)
		}
		return retrying != ""
	}, "a retrying delivery")

	// Logs and deliveries.
	do("GET", "/api/v2/admin/webhooks/"+cms+"/success?limit=10", admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/"+cms+"/failed", admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/"+cms+"/success?limit=0", admin, nil, 422, refused)
	do("GET", "/api/v2/admin/webhooks/999/failed", admin, nil, 404)
	done := obj(t, do("GET", "/api/v2/admin/webhooks/"+cms+"/deliveries?status=succeeded&limit=5", admin, nil, 200))["deliveries"].([]any)
	succeeded := done[0].(map[string]any)["id"].(string)
	do("GET", "/api/v2/admin/webhooks/"+cms+"/deliveries?before="+succeeded, admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/"+flakyID+"/deliveries", admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/"+cms+"/deliveries?status=lost", admin, nil, 422, refused)
	do("GET", "/api/v2/admin/webhooks/"+cms+"/deliveries?limit=501", admin, nil, 422, refused)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/deliveries/"+succeeded+"/abort", admin, nil, 409)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/deliveries/"+succeeded+"/retry", admin, nil, 202)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/deliveries/msg_nope/retry", admin, nil, 404)
	do("POST", "/api/v2/admin/webhooks/"+flakyID+"/deliveries/"+retrying+"/abort", admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/"+flakyID+"/failed", admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/"+flakyID, admin, nil, 200)

	// Delivery control: recover the aborted delivery, replay a window.
	since := map[string]any{"since": "2020-01-01T00:00:00Z"}
	do("POST", "/api/v2/admin/webhooks/"+flakyID+"/recover", admin, since, 202)
	do("POST", "/api/v2/admin/webhooks/"+flakyID+"/recover", admin, map[string]any{"since": "2020-01-01T00:00:00Z", "until": "2019-01-01T00:00:00Z"}, 422)
	do("POST", "/api/v2/admin/webhooks/"+flakyID+"/recover", admin, map[string]any{}, 422, refused)
	do("POST", "/api/v2/admin/webhooks/"+flakyID+"/recover", admin, map[string]any{"since": "2020-01-01T00:00:00Z", "dry_run": true}, 422, refused)
	do("POST", "/api/v2/admin/webhooks/999/recover", admin, since, 404)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/replay", admin, map[string]any{"since": "2020-01-01T00:00:00Z", "dry_run": true}, 200)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/replay", admin, since, 202)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/replay", admin, map[string]any{"since": 5}, 422, refused)
	do("POST", "/api/v2/admin/webhooks/999/replay", admin, since, 404)
	do("PATCH", "/api/v2/admin/webhooks/"+cms, admin, map[string]any{"rate_limit": 50}, 200)
	do("PATCH", "/api/v2/admin/webhooks/"+cms, admin, map[string]any{"rate_limit": 0}, 422, refused)
	do("PATCH", "/api/v2/admin/webhooks/"+cms, admin, map[string]any{"rate_limit": nil}, 200)

	// History: stored events, a trace, backtests, a rule tried on a stored event.
	do("GET", "/api/v2/admin/events", admin, nil, 200)
	do("GET", "/api/v2/admin/events?asset_id=a-1&type=ASSET_ADDED&limit=5", admin, nil, 200)
	do("GET", "/api/v2/admin/events?type=ASSET_EXPLODED", admin, nil, 422, refused)
	do("GET", "/api/v2/admin/events?colour=red", admin, nil, 422)
	do("GET", "/api/v2/admin/events?limit=501", admin, nil, 422, refused)
	do("GET", "/api/v2/admin/events", user, nil, 401)
	do("GET", "/api/v2/admin/events/evt_contract_1", admin, nil, 200)
	do("GET", "/api/v2/admin/events/evt_nope", admin, nil, 404)
	do("GET", "/api/v2/admin/events/evt_contract_1/trace", admin, nil, 200)
	do("GET", "/api/v2/admin/events/evt_nope/trace", admin, nil, 404)
	do("POST", "/api/v2/admin/rules/backtest", admin, map[string]any{"webhook_id": hook["id"], "limit": 100}, 200)
	do("POST", "/api/v2/admin/rules/backtest", admin, map[string]any{"trigger_events": []string{"ASSET_*"}, "condition": `isImage()`,
		"folder": "/marketing/**", "since": "2020-01-01T00:00:00Z"}, 200)
	do("POST", "/api/v2/admin/rules/backtest", admin, map[string]any{"webhook_id": 999}, 404)
	do("POST", "/api/v2/admin/rules/backtest", admin, map[string]any{"trigger_events": []string{"*"}, "limit": 0}, 422, refused)
	do("POST", "/api/v2/admin/rules/backtest", admin, map[string]any{"trigger_events": []string{"*"}, "conditon": "true"}, 422)
	do("GET", "/api/v2/admin/webhooks/"+cms+"/deliveries?event_id=evt_contract_1", admin, nil, 200)
	do("GET", "/api/v2/admin/webhooks/"+cms+"/deliveries?colour=red", admin, nil, 422)
	do("POST", "/api/v2/admin/rules/test", admin, map[string]any{"condition": `isImage()`, "event_id": "evt_contract_1"}, 200)
	do("POST", "/api/v2/admin/rules/test", admin, map[string]any{"condition": `isImage()`, "event_id": "evt_nope"}, 404)

	// Test, rotation.
	do("POST", "/api/v2/admin/webhooks/"+cms+"/test", admin, nil, 200)
	do("POST", "/api/v2/admin/webhooks/1/test", admin, nil, 200) // a target the test transport refuses: status_code null
	do("POST", "/api/v2/admin/webhooks/999/test", admin, nil, 404)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/rotate-secret", admin, nil, 200)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/rotate-secret", admin, map[string]any{"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwY8jjDsgrzes="}, 200)
	do("POST", "/api/v2/admin/webhooks/"+cms+"/rotate-secret", admin, map[string]any{"signing_secret": "nope"}, 422, refused)

	// Rules.
	do("POST", "/api/v2/admin/rules/validate", admin, map[string]any{"condition": `changedTo("meta.custom.status", "approved")`}, 200)
	do("POST", "/api/v2/admin/rules/validate", admin, map[string]any{"condition": "asset.size >"}, 422)
	do("POST", "/api/v2/admin/rules/validate", admin, map[string]any{"condition": 3}, 422, refused)
	do("POST", "/api/v2/admin/rules/test", admin, map[string]any{"condition": `changed("info.title")`,
		"event": map[string]any{"type": "ASSET_EDITED_INFO", "asset": map[string]any{"uuid": "a-1", "info": map[string]any{"title": "Winter"}}}}, 200)
	do("POST", "/api/v2/admin/rules/test", admin, map[string]any{"condition": "true", "event": map[string]any{"type": "ASSET_ADDED"}}, 422, refused)

	// REST hooks.
	sub := obj(t, do("POST", "/api/v2/hooks", user, map[string]any{"target_url": rc.URL + "/zap", "event": "ASSET_ADDED", "condition": `hasTag("zap")`}, 201))
	subID := strconv.Itoa(int(sub["id"].(float64)))
	do("POST", "/api/v2/hooks", user, map[string]any{"target_url": "ftp://x", "event": "ASSET_ADDED"}, 422)
	do("POST", "/api/v2/hooks", user, map[string]any{"target_url": rc.URL, "event": "NOPE"}, 422, refused)
	do("GET", "/api/v2/hooks", user, nil, 200)
	do("GET", "/api/v2/hooks", admin, nil, 200)
	do("GET", "/api/v2/hooks/sample?event=ASSET_ADDED", user, nil, 200)
	do("GET", "/api/v2/hooks/sample?event=PROJECT_ADDED", user, nil, 200)
	do("GET", "/api/v2/hooks/sample?event=WEBHOOK_DELIVERY_FAILED", user, nil, 200)
	do("GET", "/api/v2/hooks/sample?event=NOPE", user, nil, 422, refused)
	do("DELETE", "/api/v2/hooks/"+subID, user, nil, 204)
	do("DELETE", "/api/v2/hooks/"+subID, user, nil, 404)

	// Markers: admin, then a user selecting on one and many assets.
	do("POST", "/api/v2/admin/markers", admin, map[string]any{"name": "publish-to-cms", "label": "Use as homepage banner",
		"condition": `isImage()`, "webhook_ids": []any{hook["id"]}}, 200)
	do("POST", "/api/v2/admin/markers", admin, map[string]any{"name": "approve", "label": "Approve", "mode": "action", "batch": true}, 200)
	do("POST", "/api/v2/admin/markers", admin, map[string]any{"name": "approve", "label": "Again"}, 409)
	do("POST", "/api/v2/admin/markers", admin, map[string]any{"name": "Bad Name", "label": "x"}, 422, refused)
	do("POST", "/api/v2/admin/markers", admin, map[string]any{"name": "w", "label": "x", "webhook_ids": []any{999}}, 422)
	do("GET", "/api/v2/admin/markers", admin, nil, 200)
	do("GET", "/api/v2/admin/markers/publish-to-cms", admin, nil, 200)
	do("GET", "/api/v2/admin/markers/nope", admin, nil, 404)
	do("PUT", "/api/v2/admin/markers/publish-to-cms", admin, map[string]any{"label": "Homepage banner", "condition": `isImage()`,
		"description": "Puts the image on the CMS homepage", "webhook_ids": []any{hook["id"]}}, 200)
	do("PUT", "/api/v2/admin/markers/nope", admin, map[string]any{"label": "x"}, 404)
	do("GET", "/api/v2/assets/a-1/markers", user, nil, 200)
	do("GET", "/api/v2/assets/nope/markers", user, nil, 404)
	do("POST", "/api/v2/assets/a-1/markers/publish-to-cms", user, nil, 202)
	do("POST", "/api/v2/assets/a-1/markers/publish-to-cms", user, map[string]any{"username": "bo", "project_id": "GsrwPNm6nJ7CKRYnQZl6"}, 202)
	do("POST", "/api/v2/assets/a-3/markers/publish-to-cms", user, nil, 422) // a PDF with preview dimensions: no image, not offered
	do("DELETE", "/api/v2/assets/a-1/markers/publish-to-cms", user, nil, 202)
	do("DELETE", "/api/v2/assets/a-1/markers/approve", user, nil, 422) // an action cannot be cleared
	do("POST", "/api/v2/assets/a-1/markers/nope", user, nil, 404)
	do("POST", "/api/v2/markers/approve/select", user, map[string]any{"asset_ids": []string{"a-1", "a-3", "ghost"}, "username": "ana"}, 202)
	do("POST", "/api/v2/markers/approve/select", user, map[string]any{"asset_ids": []string{}}, 422, refused)
	do("POST", "/api/v2/markers/nope/select", user, map[string]any{"asset_ids": []string{"a-1"}}, 404)
	do("DELETE", "/api/v2/admin/markers/approve", admin, nil, 204)
	do("DELETE", "/api/v2/admin/markers/approve", admin, nil, 404)

	// Schedules: an events schedule run by hand, and the refusals.
	sched := obj(t, do("POST", "/api/v2/admin/schedules", admin, map[string]any{"name": "review", "cron": "0 9 * * *",
		"timezone": "Europe/Paris", "condition": `asset.meta?.custom?.status == "review"`}, 200))
	schedID := fmt.Sprint(sched["schedule"].(map[string]any)["id"])
	do("POST", "/api/v2/admin/schedules", admin, map[string]any{"name": "x", "cron": "TZ=Europe/Paris 0 9 * * *", "condition": "true"}, 422)
	do("POST", "/api/v2/admin/schedules", admin, map[string]any{"name": "x", "cron": "0 9 * * *", "conditon": "true"}, 422, refused)
	do("GET", "/api/v2/admin/schedules", admin, nil, 200)
	do("GET", "/api/v2/admin/schedules/"+schedID, admin, nil, 200)
	do("GET", "/api/v2/admin/schedules/999", admin, nil, 404)
	do("PUT", "/api/v2/admin/schedules/"+schedID, admin, map[string]any{"name": "review", "cron": "@daily",
		"condition": "true", "action": map[string]any{"type": "events"}, "once": true}, 200)
	do("PATCH", "/api/v2/admin/schedules/"+schedID, admin, map[string]any{"disabled": true}, 200)
	do("POST", "/api/v2/admin/schedules/"+schedID+"/run", admin, nil, 202)
	do("DELETE", "/api/v2/admin/schedules/"+schedID, admin, nil, 204)
	do("DELETE", "/api/v2/admin/schedules/"+schedID, admin, nil, 404)

	// Deletion last.
	do("DELETE", "/api/v2/admin/webhooks/"+flakyID, admin, nil, 204)
	do("DELETE", "/api/v2/admin/webhooks/"+flakyID, admin, nil, 404)
}
