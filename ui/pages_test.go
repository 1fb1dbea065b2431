package ui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/ui"
)

// screenshots is where TestEveryPage writes a PNG of each page when
// UI_SCREENSHOTS=1 (go test ./ui/ -run TestEveryPage with it set): the
// README's pictures.
const screenshots = "../docs/ui"

// demo fills an engine with what a small DAM deployment has: projects,
// webhooks that succeed and one that fails, markers, a REST hook, events.
func demo(t *testing.T, h *apitest.Harness) (ok, failing *apitest.Receiver) {
	t.Helper()
	ok = apitest.NewReceiver(t)
	failing = apitest.NewReceiver(t)
	failing.Respond = func(apitest.Request) (int, string) {
		return http.StatusServiceUnavailable, `{"error":"print queue under maintenance"}`
	}
	// Receivers by name rather than by address, as a person would write them.
	local := func(rc *apitest.Receiver, path string) string {
		return strings.Replace(rc.URL, "127.0.0.1", "localhost", 1) + path
	}
	h.Must(http.StatusOK, "POST", "/api/v2/admin/projects", map[string]any{"name": "Marketing", "id": "mkt"})
	h.Must(http.StatusOK, "POST", "/api/v2/admin/projects", map[string]any{"name": "Press office", "id": "press"})
	cms := h.CreateWebhook(map[string]any{"name": "CMS homepage banner", "http_url": local(ok, "/cms/banner"),
		"trigger_events": []string{"ASSET_MARKER_SELECTED", "ASSET_MARKER_CLEARED"}, "project_id": "mkt",
		"condition": `isImage()`, "auth": map[string]any{"type": "bearer", "token": "cms-token-1"},
		"webhook_headers": []map[string]any{{"name": "X-Tenant", "value": "acme"}}})
	h.CreateWebhook(map[string]any{"name": "Search index", "http_url": local(ok, "/search/assets"), "http_method": "PUT",
		"trigger_events": []string{"ASSET_*"}, "folder": "/marketing/**", "body": map[string]any{"format": "json", "fields": []string{"file", "meta.custom"}}})
	h.CreateWebhook(map[string]any{"name": "Print shop (legacy)", "http_url": local(failing, "/orders"), "http_method": "POST",
		"trigger_events": []string{"ASSET_ADDED"}, "body": map[string]any{"format": "form"},
		"condition": `changedTo("meta.custom.status", "approved") || asset.mime_type == "application/pdf"`})
	if r := h.Do("POST", "/api/v2/hooks", apitest.UserKey, map[string]any{"target_url": local(ok, "/zapier/catch/123"), "event": "ASSET_ADDED"}); r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	h.Must(http.StatusOK, "POST", "/api/v2/admin/markers", map[string]any{"name": "publish-to-cms", "label": "Use as homepage banner",
		"description": "Shows the image on the homepage carousel", "condition": "isImage()", "webhook_ids": []int64{cms}})
	h.Must(http.StatusOK, "POST", "/api/v2/admin/markers", map[string]any{"name": "post-to-facebook", "label": "Post to Facebook", "mode": "action"})
	h.Must(http.StatusOK, "POST", "/api/v2/admin/markers", map[string]any{"name": "send-to-print", "label": "Send to print",
		"condition": `asset.mime_type == "application/pdf"`})
	asset := func(uuid, name, mime string) map[string]any {
		return map[string]any{"id": "evt_" + uuid, "type": "ASSET_ADDED", "project_id": "mkt", "actor": map[string]any{"username": "ana", "interface": "web"},
			"asset": map[string]any{"uuid": uuid, "name": name, "path": "/marketing/" + name, "mime_type": mime, "size": 482113}}
	}
	h.Send(asset("a-1", "spring-banner.jpg", "image/jpeg"), asset("a-2", "press-kit.pdf", "application/pdf"), asset("a-3", "team.png", "image/png"))
	failing.Wait(t, 1, wait)
	redistest.Eventually(t, wait, func() bool {
		return h.Do("GET", "/api/v2/assets/a-1/markers", apitest.UserKey, nil).Status == http.StatusOK
	}, "the assets were not stored")
	if r := h.Do("POST", "/api/v2/assets/a-3/markers/publish-to-cms", apitest.UserKey, map[string]any{"project_id": "mkt", "username": "ana"}); r.Status != http.StatusAccepted {
		t.Fatalf("select: %d %s", r.Status, r.Body)
	}
	redistest.Eventually(t, wait, func() bool {
		return strings.Contains(string(h.Do("GET", "/api/v2/assets/a-3/markers", apitest.UserKey, nil).Body), `"set":true`)
	}, "the marker was not set")
	ok.Wait(t, 7, wait)
	return ok, failing
}

// TestEveryPage opens each page with an admin key on a populated engine,
// waits for its data, and fails on any script error or CSP violation; the
// pages whose API this server lacks say so. With UI_SCREENSHOTS=1 it writes
// a screenshot of each to docs/ui.
func TestEveryPage(t *testing.T) {
	var panelURL atomic.Value
	dam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>DAM</title>
<body style="font:15px system-ui,sans-serif;margin:0;background:#eef1f5">
<div style="display:flex;gap:16px;padding:16px">
<div style="flex:1;background:#fff;border:1px solid #d9dee5;border-radius:6px;padding:12px">
<h2 style="margin:0 0 8px">team.png</h2><div style="height:220px;background:linear-gradient(135deg,#9db8ef,#2457c5);border-radius:4px"></div>
<p style="color:#5f6b7a">/marketing/team.png · image/png · 470 KB</p></div>
<iframe src="%s" title="assethooks markers" style="width:380px;height:300px;border:1px solid #d9dee5;border-radius:6px;background:#fff"></iframe>
</div></body>`, panelURL.Load())
	}))
	defer dam.Close()
	h := setup(t, ui.Config{FrameAncestors: "'self' " + dam.URL})
	panelURL.Store(h.URL + "/ui/assets/a-3/markers")
	demo(t, h)
	shoot := os.Getenv("UI_SCREENSHOTS") == "1"
	if shoot {
		if err := os.MkdirAll(screenshots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := newTab(t, h.URL)
	save := func(name string) {
		t.Helper()
		if e := eval[string](b, `(e => e && !e.hidden ? e.textContent : "")(document.querySelector("#page-error"))`); e != "" {
			t.Errorf("%s: the page shows an error: %s", name, e)
		}
		if !shoot {
			return
		}
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(screenshots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	b.open("/ui/login", "#key")
	save("login")
	b.do(chromedp.SendKeys(chromedp.CSS("#key"), apitest.AdminKey), chromedp.Click(chromedp.CSS("#sign-in")))
	b.waitJS(`document.querySelectorAll("#webhooks tbody tr").length === 4`)
	b.waitText(`#webhooks tr[data-id="3"] .latest`, "503")
	b.waitText(`#webhooks tr[data-id="1"] .latest`, "200")
	save("webhooks")

	b.open("/ui/webhooks/1", "#f-name")
	b.waitJS(`document.querySelector("#f-name").value === "CMS homepage banner"`)
	b.waitText("#f-condition-check", "valid condition")
	b.do(chromedp.Click(chromedp.CSS("#test-send")))
	b.waitText("#test-status", "200")
	save("webhook")

	b.open("/ui/webhooks/new", "#f-name")
	b.waitJS(`!!document.querySelector('#f-project_id option[value="press"]')`)
	save("webhook-new")

	b.open("/ui/rules", "#condition")
	b.do(chromedp.SendKeys(chromedp.CSS("#condition"), `changedTo("meta.custom.status", "approved") && asset.size >> 1000`))
	b.waitText("#condition-check", "column")
	b.do(chromedp.Click(chromedp.CSS("#try")))
	b.waitText("#try-result", "refused")
	b.waitJS(`!!document.querySelector('#bt-webhook option[value="1"]')`)
	b.do(chromedp.SetValue(chromedp.CSS("#bt-webhook"), "1"), chromedp.Click(chromedp.CSS("#backtest")))
	b.waitText("#backtest-result", "events match")
	save("rules")

	b.open("/ui/webhooks/3/deliveries", "#deliveries")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#deliveries tbody tr[data-status="failed"]`)))
	b.do(chromedp.WaitVisible(chromedp.CSS("#recover-form")))
	save("deliveries")

	b.open("/ui/markers", "#markers")
	b.waitJS(`document.querySelectorAll("#markers tbody tr").length === 3`)
	b.waitText("#markers tbody", "1 · CMS homepage banner")
	save("markers")

	b.open("/ui/projects", "#projects")
	b.waitJS(`document.querySelectorAll("#projects tbody tr").length === 2`)
	save("projects")

	b.open("/ui/hooks", "#hooks")
	b.waitJS(`document.querySelectorAll("#hooks tbody tr").length === 1`)
	save("hooks")

	b.open("/ui/schedules", "main")
	b.waitText("main", "No schedules yet.")
	save("schedules")

	b.open("/ui/events", "#events")
	b.waitJS(`document.querySelectorAll("#events tbody tr").length > 0`)
	save("events")
	b.open("/ui/events/evt_a-1", "#trace-table")
	b.waitText("#trace-table tbody", "matched")
	b.waitText("#trace-table tbody", "the condition was false")
	save("trace")

	b.open("/ui/deliveries", "#webhook")
	b.waitJS(`document.querySelectorAll("#webhook option").length === 5`)
	save("deliveries-choose")

	// The marker panel, on its own and in a DAM's page.
	b.do(chromedp.EmulateViewport(400, 300))
	b.open("/ui/assets/a-3/markers", `#panel-markers li[data-name="publish-to-cms"][data-set="true"]`)
	save("panel")
	b.do(chromedp.EmulateViewport(900, 340))
	b.do(chromedp.Navigate(dam.URL), chromedp.WaitVisible(chromedp.CSS("iframe")))
	frame := b.frame("iframe")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#panel-markers li[data-name="publish-to-cms"]`), chromedp.FromNode(frame)))
	save("panel-embedded")
}
