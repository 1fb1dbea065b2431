package markers_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/markers"
)

const wait = 10 * time.Second

func setup(t *testing.T, backend redistest.Backend) *apitest.Harness {
	t.Helper()
	return apitest.New(t, apitest.Options{Backend: backend, Extra: []func(*api.Server){markers.Routes}})
}

// payload is a delivered JSON body.
type payload struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

func decode(t *testing.T, r apitest.Request) payload {
	t.Helper()
	var p payload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("delivery is not JSON: %v: %s", err, r.Body)
	}
	return p
}

func image(uuid string) map[string]any {
	return map[string]any{"uuid": uuid, "name": uuid + ".jpg", "path": "/marketing/", "mime_type": "image/jpeg"}
}

func pdf(uuid string) map[string]any {
	return map[string]any{"uuid": uuid, "name": uuid + ".pdf", "path": "/docs/", "mime_type": "application/pdf"}
}

// added makes the engine see assets (their snapshots) through ASSET_ADDED.
func added(h *apitest.Harness, assets ...map[string]any) {
	h.T.Helper()
	evs := make([]map[string]any, len(assets))
	for i, a := range assets {
		evs[i] = map[string]any{"type": "ASSET_ADDED", "asset": a}
	}
	h.Send(evs...)
}

func hook(h *apitest.Harness, rc *apitest.Receiver, triggers []string, extra map[string]any) int64 {
	h.T.Helper()
	req := map[string]any{"name": "t", "http_url": rc.URL, "trigger_events": triggers}
	for k, v := range extra {
		req[k] = v
	}
	return h.CreateWebhook(req)
}

func offered(t *testing.T, h *apitest.Harness, asset string) map[string]any {
	t.Helper()
	r := h.Do("GET", "/api/v2/assets/"+asset+"/markers", apitest.UserKey, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("offered markers: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

func TestMarkerCRUD(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	rc := apitest.NewReceiver(t)
	wh := hook(h, rc, []string{"ASSET_ADDED"}, nil)

	m := h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "publish-to-cms",
		"label": "Use as homepage banner", "condition": "isImage()", "webhook_ids": []any{wh}})["marker"].(map[string]any)
	if m["created_at"] == nil || m["updated_at"] == nil {
		t.Fatalf("times missing: %v", m)
	}
	delete(m, "created_at")
	delete(m, "updated_at")
	want := map[string]any{"name": "publish-to-cms", "label": "Use as homepage banner", "description": "",
		"mode": "flag", "batch": false, "condition": "isImage()", "webhook_ids": []any{float64(wh)}}
	if d := cmp.Diff(want, m); d != "" {
		t.Fatalf("created marker (-want +got):\n%s", d)
	}
	h.Must(409, "POST", "/api/v2/admin/markers", map[string]any{"name": "publish-to-cms", "label": "Again"})
	got := h.Must(200, "GET", "/api/v2/admin/markers/publish-to-cms", nil)["marker"].(map[string]any)
	if got["label"] != "Use as homepage banner" {
		t.Fatalf("get: %v", got)
	}
	put := h.Must(200, "PUT", "/api/v2/admin/markers/publish-to-cms", map[string]any{"label": "Banner",
		"mode": "action", "batch": true})["marker"].(map[string]any)
	if put["label"] != "Banner" || put["mode"] != "action" || put["batch"] != true || put["created_at"] != got["created_at"] {
		t.Fatalf("put: %v (created %v)", put, got["created_at"])
	}
	h.Must(404, "PUT", "/api/v2/admin/markers/nope", map[string]any{"label": "x"})
	list := h.Must(200, "GET", "/api/v2/admin/markers", nil)["markers"].([]any)
	if len(list) != 1 {
		t.Fatalf("list: %v", list)
	}
	h.Must(204, "DELETE", "/api/v2/admin/markers/publish-to-cms", nil)
	if r := h.Must(404, "GET", "/api/v2/admin/markers/publish-to-cms", nil); r["error"] != "marker not found" {
		t.Fatalf("404 body: %v", r)
	}
	h.Must(404, "DELETE", "/api/v2/admin/markers/publish-to-cms", nil)
	if r := h.Do("GET", "/api/v2/admin/markers", apitest.UserKey, nil); r.Status != 401 {
		t.Fatalf("user key on admin route: %d", r.Status)
	}
}

func TestMarkerBadInput(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"truncated JSON", `{"name": "x"`, 400, ""},
		{"not an object", `["x"]`, 400, ""},
		{"trailing garbage", `{"name": "x", "label": "X"} x`, 400, ""},
		{"missing name", map[string]any{"label": "X"}, 422, "'name'"},
		{"name not a slug", map[string]any{"name": "Use As", "label": "X"}, 422, "'name'"},
		{"name too long", map[string]any{"name": strings.Repeat("a", 65), "label": "X"}, 422, "'name'"},
		{"label a number", map[string]any{"name": "x", "label": 3}, 422, "'label'"},
		{"label missing", map[string]any{"name": "x"}, 422, "'label'"},
		{"description a bool", map[string]any{"name": "x", "label": "X", "description": true}, 422, "'description'"},
		{"mode unknown", map[string]any{"name": "x", "label": "X", "mode": "toggle"}, 422, "'mode'"},
		{"batch a string", map[string]any{"name": "x", "label": "X", "batch": "yes"}, 422, "'batch'"},
		{"condition a number", map[string]any{"name": "x", "label": "X", "condition": 1}, 422, "'condition'"},
		{"condition does not compile", map[string]any{"name": "x", "label": "X", "condition": "isImage() &&"}, 422, "line 1"},
		{"webhook_ids not an array", map[string]any{"name": "x", "label": "X", "webhook_ids": 1}, 422, "'webhook_ids'"},
		{"webhook_ids unknown", map[string]any{"name": "x", "label": "X", "webhook_ids": []any{99}}, 422, "'webhook_ids[0]'"},
		{"webhook_ids not a number", map[string]any{"name": "x", "label": "X", "webhook_ids": []any{"1"}}, 422, "'webhook_ids[0]'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Admin("POST", "/api/v2/admin/markers", tc.body)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.field) {
				t.Fatalf("status %d body %s; want %d naming %s", r.Status, r.Body, tc.status, tc.field)
			}
		})
	}
	r := h.Admin("POST", "/api/v2/admin/markers", map[string]any{"name": "x", "label": "X", "condition": "isImage() &&"}).JSON(t)
	if r["line"] != float64(1) || r["column"] == nil {
		t.Fatalf("compile error without line/column: %v", r)
	}
	h.Must(200, "GET", "/api/v2/admin/markers", nil) // nothing was stored
	if l := h.Must(200, "GET", "/api/v2/admin/markers", nil)["markers"].([]any); len(l) != 0 {
		t.Fatalf("bad input stored something: %v", l)
	}
}

// TestSelectClearFlag runs on both backends: it relies on the ingest
// script keeping the flag in the snapshot.
func TestSelectClearFlag(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := setup(t, b)
			rc := apitest.NewReceiver(t)
			hook(h, rc, []string{"ASSET_MARKER_*"}, nil)
			h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "approved", "label": "Approved"})
			added(h, image("a1"))

			r := h.Do("POST", "/api/v2/assets/a1/markers/approved", apitest.UserKey, map[string]any{"username": "ana"})
			if r.Status != http.StatusAccepted {
				t.Fatalf("select: %d %s", r.Status, r.Body)
			}
			evs := r.JSON(t)["events"].([]any)
			if len(evs) != 1 {
				t.Fatalf("select answer: %s", r.Body)
			}
			want := []any{map[string]any{"name": "approved", "label": "Approved", "mode": "flag", "set": true}}
			if d := cmp.Diff(want, offered(t, h, "a1")["markers"]); d != "" {
				t.Fatalf("after select (-want +got):\n%s", d)
			}
			p := decode(t, rc.Wait(t, 1, wait)[0])
			if p.Type != "ASSET_MARKER_SELECTED" || p.ID != evs[0].(map[string]any)["id"] || p.Data["marker"] != "approved" {
				t.Fatalf("selected delivery: %+v", p)
			}
			if d := cmp.Diff(map[string]any{"username": "ana", "interface": "web"}, p.Data["actor"]); d != "" {
				t.Fatalf("actor (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]any{"approved"}, p.Data["asset"].(map[string]any)["markers"]); d != "" {
				t.Fatalf("asset.markers (-want +got):\n%s", d)
			}

			r = h.Do("DELETE", "/api/v2/assets/a1/markers/approved", apitest.UserKey, nil)
			if r.Status != http.StatusAccepted {
				t.Fatalf("clear: %d %s", r.Status, r.Body)
			}
			want[0].(map[string]any)["set"] = false
			if d := cmp.Diff(want, offered(t, h, "a1")["markers"]); d != "" {
				t.Fatalf("after clear (-want +got):\n%s", d)
			}
			got := rc.Wait(t, 2, wait)
			var cleared payload
			for _, q := range got {
				if p := decode(t, q); p.Type == "ASSET_MARKER_CLEARED" {
					cleared = p
				}
			}
			if cleared.Data["marker"] != "approved" || len(cleared.Data["asset"].(map[string]any)["markers"].([]any)) != 0 {
				t.Fatalf("cleared delivery: %+v", cleared)
			}
			// The actor defaults to the key's id.
			if a := cleared.Data["actor"].(map[string]any); !strings.HasPrefix(a["username"].(string), "key_") {
				t.Fatalf("default actor: %v", a)
			}
		})
	}
}

func TestFlagIsVisibleToRules(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	rc := apitest.NewReceiver(t)
	hook(h, rc, []string{"ASSET_MARKER_SELECTED"}, map[string]any{"condition": `event.marker == "publish" && "approved" in asset.markers`})
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "approved", "label": "Approved"})
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "publish", "label": "Publish",
		"mode": "action", "condition": `hasMarker("approved")`})
	added(h, image("a1"), image("a2"))

	if r := h.Do("POST", "/api/v2/assets/a2/markers/publish", apitest.UserKey, nil); r.Status != 422 {
		t.Fatalf("publish before approval: %d %s", r.Status, r.Body)
	}
	h.Must(202, "POST", "/api/v2/assets/a1/markers/approved", nil)
	h.Must(202, "POST", "/api/v2/assets/a1/markers/publish", nil)
	p := decode(t, rc.Wait(t, 1, wait)[0])
	if p.Data["marker"] != "publish" || p.Data["asset"].(map[string]any)["uuid"] != "a1" {
		t.Fatalf("delivery: %+v", p)
	}
}

func TestActionMarker(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	rc := apitest.NewReceiver(t)
	hook(h, rc, []string{"ASSET_MARKER_SELECTED"}, nil)
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "post-to-facebook", "label": "Post to Facebook", "mode": "action"})
	added(h, image("a1"))

	h.Must(202, "POST", "/api/v2/assets/a1/markers/post-to-facebook", nil)
	p := decode(t, rc.Wait(t, 1, wait)[0])
	if p.Data["marker"] != "post-to-facebook" {
		t.Fatalf("delivery: %+v", p)
	}
	if _, ok := p.Data["asset"].(map[string]any)["markers"]; ok {
		t.Fatalf("an action marker was kept on the asset: %v", p.Data["asset"])
	}
	want := []any{map[string]any{"name": "post-to-facebook", "label": "Post to Facebook", "mode": "action", "set": false}}
	if d := cmp.Diff(want, offered(t, h, "a1")["markers"]); d != "" {
		t.Fatalf("offered (-want +got):\n%s", d)
	}
	r := h.Do("DELETE", "/api/v2/assets/a1/markers/post-to-facebook", apitest.UserKey, nil)
	if r.Status != 422 {
		t.Fatalf("clearing an action: %d %s", r.Status, r.Body)
	}
}

func TestBoundWebhook(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	bound, all := apitest.NewReceiver(t), apitest.NewReceiver(t)
	// Subscribed to ASSET_ADDED only: the binding is its subscription to the
	// marker; its condition still applies.
	wh := hook(h, bound, []string{"ASSET_ADDED"}, map[string]any{"condition": "isImage()"})
	hook(h, all, []string{"ASSET_MARKER_SELECTED"}, nil)
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "banner", "label": "Banner", "webhook_ids": []any{wh}})
	added(h, pdf("p1"), image("i1"))
	bound.Wait(t, 1, wait) // of the two ASSET_ADDED only the image matches
	base := 1

	h.Must(202, "POST", "/api/v2/assets/p1/markers/banner", nil)
	h.Must(202, "POST", "/api/v2/assets/i1/markers/banner", nil)
	all.Wait(t, 2, wait)
	got := bound.Wait(t, base+1, wait)
	var sel []payload
	for _, r := range got {
		if p := decode(t, r); p.Type == "ASSET_MARKER_SELECTED" {
			sel = append(sel, p)
		}
	}
	if len(sel) != 1 || sel[0].Data["asset"].(map[string]any)["uuid"] != "i1" || sel[0].Data["marker"] != "banner" {
		t.Fatalf("bound webhook got %+v", sel)
	}
}

func TestWebhookOnMarkerName(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	rc, all := apitest.NewReceiver(t), apitest.NewReceiver(t)
	hook(h, rc, []string{"ASSET_MARKER_SELECTED"}, map[string]any{"condition": `event.marker == "banner"`})
	hook(h, all, []string{"ASSET_MARKER_SELECTED"}, nil)
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "banner", "label": "Banner"})
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "other", "label": "Other"})
	added(h, image("i1"))
	h.Must(202, "POST", "/api/v2/assets/i1/markers/other", nil)
	h.Must(202, "POST", "/api/v2/assets/i1/markers/banner", nil)
	all.Wait(t, 2, wait)
	got := rc.Wait(t, 1, wait)
	if len(got) != 1 || decode(t, got[0]).Data["marker"] != "banner" {
		t.Fatalf("got %d deliveries, first %s", len(got), got[0].Body)
	}
}

func TestBulkSelect(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		for _, batch := range []bool{false, true} {
			name := string(b) + "/per-asset"
			if batch {
				name = string(b) + "/batch"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				h := setup(t, b)
				rc := apitest.NewReceiver(t)
				hook(h, rc, []string{"ASSET_MARKER_SELECTED"}, nil)
				h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "facebook", "label": "Post",
					"condition": "isImage()", "batch": batch})
				added(h, image("i1"), image("i2"), pdf("p1"))

				res := h.Must(202, "POST", "/api/v2/markers/facebook/select", map[string]any{
					"asset_ids": []any{"i1", "nope", "p1", "i2", "i1"}, "username": "ana"})
				want := map[string]any{"selected": []any{"i1", "i2"}, "unknown": []any{"nope"}, "not_offered": []any{"p1"}}
				evs := res["events"].([]any)
				delete(res, "events")
				if d := cmp.Diff(want, res); d != "" {
					t.Fatalf("answer (-want +got):\n%s", d)
				}
				if batch {
					if len(evs) != 1 {
						t.Fatalf("batch events: %v", evs)
					}
					p := decode(t, rc.Wait(t, 1, wait)[0])
					assets := p.Data["assets"].([]any)
					var ids []string
					for _, a := range assets {
						ids = append(ids, a.(map[string]any)["uuid"].(string))
					}
					if d := cmp.Diff([]string{"i1", "i2"}, ids); d != "" || p.Data["marker"] != "facebook" ||
						p.Data["actor"].(map[string]any)["username"] != "ana" || p.Data["asset"] != nil {
						t.Fatalf("batch delivery: %s (%s)", rc.Requests()[0].Body, d)
					}
				} else {
					if len(evs) != 2 {
						t.Fatalf("events: %v", evs)
					}
					got := rc.Wait(t, 2, wait)
					var ids []string
					for _, r := range got {
						p := decode(t, r)
						ids = append(ids, p.Data["asset"].(map[string]any)["uuid"].(string))
					}
					sort.Strings(ids)
					if d := cmp.Diff([]string{"i1", "i2"}, ids); d != "" {
						t.Fatalf("deliveries (-want +got):\n%s", d)
					}
				}
				// The flag is on both snapshots.
				for _, id := range []string{"i1", "i2"} {
					ms := offered(t, h, id)["markers"].([]any)
					if len(ms) != 1 || ms[0].(map[string]any)["set"] != true {
						t.Fatalf("%s: %v", id, ms)
					}
				}
			})
		}
	}
}

func TestBulkAllUnknown(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "m", "label": "M"})
	res := h.Must(202, "POST", "/api/v2/markers/m/select", map[string]any{"asset_ids": []any{"x"}})
	want := map[string]any{"selected": []any{}, "unknown": []any{"x"}, "not_offered": []any{}, "events": []any{}}
	if d := cmp.Diff(want, res); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

func TestSelectErrors(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "banner", "label": "Banner", "condition": "isImage()"})
	added(h, image("i1"), pdf("p1"))
	many := make([]any, 1001)
	for i := range many {
		many[i] = "i1"
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"not offered", "POST", "/api/v2/assets/p1/markers/banner", nil, 422, "not offered"},
		{"unknown asset", "POST", "/api/v2/assets/zz/markers/banner", nil, 404, `{"error":"asset not found"}`},
		{"unknown asset listed", "GET", "/api/v2/assets/zz/markers", nil, 404, `{"error":"asset not found"}`},
		{"unknown marker", "POST", "/api/v2/assets/i1/markers/nope", nil, 404, `{"error":"marker not found"}`},
		{"unknown marker cleared", "DELETE", "/api/v2/assets/i1/markers/nope", nil, 404, "marker not found"},
		{"unknown marker bulk", "POST", "/api/v2/markers/nope/select", map[string]any{"asset_ids": []any{"i1"}}, 404, "marker not found"},
		{"malformed body", "POST", "/api/v2/assets/i1/markers/banner", `{"username":`, 400, "malformed JSON"},
		{"username a number", "POST", "/api/v2/assets/i1/markers/banner", map[string]any{"username": 5}, 422, "'username'"},
		{"asset not an object", "POST", "/api/v2/assets/i1/markers/banner", map[string]any{"asset": "i1"}, 422, "'asset'"},
		{"asset of another id", "POST", "/api/v2/assets/i1/markers/banner", map[string]any{"asset": map[string]any{"uuid": "i2"}}, 422, "'asset.uuid'"},
		{"bulk malformed", "POST", "/api/v2/markers/banner/select", `{"asset_ids": [`, 400, "malformed JSON"},
		{"bulk no body", "POST", "/api/v2/markers/banner/select", nil, 400, "malformed JSON"},
		{"bulk ids missing", "POST", "/api/v2/markers/banner/select", map[string]any{}, 422, "'asset_ids'"},
		{"bulk ids empty", "POST", "/api/v2/markers/banner/select", map[string]any{"asset_ids": []any{}}, 422, "'asset_ids'"},
		{"bulk ids too many", "POST", "/api/v2/markers/banner/select", map[string]any{"asset_ids": many}, 422, "'asset_ids'"},
		{"bulk id a number", "POST", "/api/v2/markers/banner/select", map[string]any{"asset_ids": []any{"i1", 2}}, 422, "'asset_ids[1]'"},
		{"bulk username a bool", "POST", "/api/v2/markers/banner/select", map[string]any{"asset_ids": []any{"i1"}, "username": true}, 422, "'username'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Do(tc.method, tc.path, apitest.UserKey, tc.body)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.want) {
				t.Fatalf("status %d body %s; want %d with %s", r.Status, r.Body, tc.status, tc.want)
			}
		})
	}
	// An asset given in the body needs no snapshot.
	h.Must(202, "POST", "/api/v2/assets/new1/markers/banner", map[string]any{"asset": image("new1")})
	if ms := offered(t, h, "new1")["markers"].([]any); len(ms) != 1 || ms[0].(map[string]any)["set"] != true {
		t.Fatalf("asset from the body: %v", ms)
	}
}
