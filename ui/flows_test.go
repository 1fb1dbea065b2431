package ui_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/ui"
)

const wait = 15 * time.Second

// choose sets a select (or any input) and fires its change event, as a
// person's choice does.
func (b *tab) choose(sel, value string) {
	b.t.Helper()
	s, _ := json.Marshal(sel)
	v, _ := json.Marshal(value)
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(e => { e.value = %s; e.dispatchEvent(new Event("change", {bubbles: true})); })(document.querySelector(%s))`, v, s)))
}

// fill replaces an input's value by typing, so input events fire.
func (b *tab) fill(sel, value string) {
	b.t.Helper()
	s, _ := json.Marshal(sel)
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).value = ""`, s)),
		chromedp.SendKeys(chromedp.CSS(sel), value))
}

func webhooks(t *testing.T, h *apitest.Harness) []api.WebhookView {
	t.Helper()
	r := h.Admin("GET", "/api/v2/admin/webhooks", nil)
	var out struct{ Webhooks []api.WebhookView }
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("webhooks: %v: %s", err, r.Body)
	}
	return out.Webhooks
}

func TestSignIn(t *testing.T) {
	h := setup(t, ui.Config{})
	b := newTab(t, h.URL)

	// Without a key, a page sends you to sign in and back.
	b.open("/ui/webhooks", "#key")
	if loc := b.location(); !strings.HasSuffix(loc, "/ui/login?next=%2Fui%2Fwebhooks") {
		t.Fatalf("without a key the page went to %s", loc)
	}
	b.do(chromedp.SendKeys(chromedp.CSS("#key"), "not-a-key"), chromedp.Click(chromedp.CSS("#sign-in")))
	b.waitText("#login-error", "not accepted")

	b.fill("#key", apitest.AdminKey)
	b.do(chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS("#webhooks")))
	b.waitText("#whoami", "admin key")
	if loc := b.location(); loc != h.URL+"/ui/webhooks" {
		t.Errorf("after signing in: %s, want %s/ui/webhooks (and never the key in a URL)", loc, h.URL)
	}
	if k := eval[string](b, `sessionStorage.getItem("assethooks.key")`); k != apitest.AdminKey {
		t.Errorf("sessionStorage holds %q", k)
	}

	b.do(chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#key")))
	if k := eval[*string](b, `sessionStorage.getItem("assethooks.key")`); k != nil {
		t.Errorf("after signing out sessionStorage still holds %q", *k)
	}

	// A user key may use the REST-hook page; an admin page says it needs an admin key.
	b.signIn(apitest.UserKey, "#hooks")
	b.waitText("#whoami", "user key")
	b.open("/ui/webhooks", "#page-error")
	b.waitText("#page-error", "needs an admin key")
}

func TestCreateWebhookThroughTheForm(t *testing.T) {
	h := setup(t, ui.Config{})
	rc := apitest.NewReceiver(t)
	h.Must(http.StatusOK, "POST", "/api/v2/admin/projects", map[string]any{"name": "Marketing", "id": "mkt"})
	b := newTab(t, h.URL)
	b.signIn(apitest.AdminKey, "#webhooks")

	b.open("/ui/webhooks/new", "#f-name")
	b.waitJS(`!!document.querySelector('#f-project_id option[value="mkt"]')`)
	b.do(
		chromedp.SendKeys(chromedp.CSS("#f-name"), "CMS banner"),
		chromedp.SendKeys(chromedp.CSS("#f-http_url"), rc.URL+"/hook"),
		chromedp.SendKeys(chromedp.CSS("#f-redundant_urls"), rc.URL+"/backup"),
		chromedp.SetValue(chromedp.CSS("#f-http_method"), "PUT"),
		chromedp.SetValue(chromedp.CSS("#f-timeout_seconds"), "5"),
		chromedp.SetValue(chromedp.CSS("#f-trigger_events"), "ASSET_ADDED"),
		chromedp.SendKeys(chromedp.CSS("#f-add-trigger"), "ASSET_EDITED_METADATA"),
		chromedp.Click(chromedp.CSS("#add-trigger")),
		chromedp.SetValue(chromedp.CSS("#f-project_id"), "mkt"),
		chromedp.SendKeys(chromedp.CSS("#f-folder"), "/marketing/**"),
		chromedp.SendKeys(chromedp.CSS("#f-webhook_users"), "ana, ben"),
		chromedp.SendKeys(chromedp.CSS("#f-condition"), "isImage()"),
		chromedp.SetValue(chromedp.CSS("#f-body-format"), "form"),
		chromedp.SendKeys(chromedp.CSS("#f-body-fields"), "file, meta.custom"),
	)
	b.waitText("#f-condition-check", "valid condition")
	b.choose("#f-auth-type", "basic")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#f-auth-username"), "cms"),
		chromedp.SendKeys(chromedp.CSS("#f-auth-password"), "s3cret-pass"),
		chromedp.Click(chromedp.CSS("#add-header")),
		chromedp.SendKeys(chromedp.CSS("#headers tbody tr:nth-child(1) .h-name"), "X-Tenant"),
		chromedp.SendKeys(chromedp.CSS("#headers tbody tr:nth-child(1) .h-value"), "acme"),
		chromedp.Click(chromedp.CSS("#add-header")),
		chromedp.SendKeys(chromedp.CSS("#headers tbody tr:nth-child(2) .h-name"), "X-Api-Token"),
		chromedp.Click(chromedp.CSS("#headers tbody tr:nth-child(2) .h-secret")),
		chromedp.SendKeys(chromedp.CSS("#headers tbody tr:nth-child(2) .h-value"), "tok-123"),
		chromedp.SendKeys(chromedp.CSS("#f-retry_schedule"), "1m, 10m"),
		chromedp.Click(chromedp.CSS("#save")),
		chromedp.WaitVisible(chromedp.CSS("#created")),
	)
	shown := b.text("#created-secret")

	ws := webhooks(t, h)
	if len(ws) != 1 {
		t.Fatalf("%d webhooks, want 1", len(ws))
	}
	got := ws[0]
	project := "mkt"
	want := api.WebhookView{
		Name: "CMS banner", HTTPURL: rc.URL + "/hook", RedundantURLs: []string{rc.URL + "/backup"}, HTTPMethod: "PUT",
		TriggerEvents: []string{"ASSET_ADDED", "ASSET_EDITED_METADATA"}, ProjectID: &project, Folder: "/marketing/**",
		WebhookUsers: []string{"ana", "ben"}, Condition: "isImage()",
		Body:           actions.BodyConfig{Format: "form", Fields: []string{"file", "meta.custom"}},
		Auth:           actions.AuthConfig{Type: "basic", Username: "cms", Password: actions.Mask},
		WebhookHeaders: []actions.Header{{Name: "X-Tenant", Value: "acme"}, {Name: "X-Api-Token", Value: actions.Mask, Secret: true}},
		TimeoutSeconds: 5, RetrySchedule: []string{"1m", "10m"}, Kind: "webhook",
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(api.WebhookView{}, "ID", "CreatedAt", "UpdatedAt", "SigningSecret")); d != "" {
		t.Errorf("the webhook the form created (-want +got):\n%s", d)
	}
	if !strings.HasPrefix(shown, "whsec_") || len(shown) < 20 || got.SigningSecret != "whsec_****"+shown[len(shown)-4:] {
		t.Errorf("the created answer showed %q; the API masks it as %q", shown, got.SigningSecret)
	}

	// Editing: the stored secrets are not in the page, and saving keeps them.
	id := strconv.FormatInt(got.ID, 10)
	b.open("/ui/webhooks/"+id, "#f-name")
	b.waitJS(`document.querySelector("#f-name").value === "CMS banner"`)
	html := eval[string](b, `document.documentElement.outerHTML + [...document.querySelectorAll("input,textarea")].map(e => e.value).join("\n")`)
	for _, secret := range []string{"s3cret-pass", "tok-123", shown} {
		if strings.Contains(html, secret) {
			t.Errorf("the edit page holds the stored secret %q", secret)
		}
	}
	if v := eval[string](b, `document.querySelector("#f-auth-password").value`); v != "" {
		t.Errorf("the password input holds %q", v)
	}
	b.fill("#f-name", "CMS banner v2")
	b.do(chromedp.Click(chromedp.CSS("#save")))
	b.waitText("#flash", "Saved.")
	b.waitText("#form-title", "CMS banner v2")

	h.Must(http.StatusOK, "POST", "/api/v2/admin/webhooks/"+id+"/test", nil)
	req := rc.Wait(t, 1, wait)[0]
	if auth := req.Header.Get("Authorization"); auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("cms:s3cret-pass")) {
		t.Errorf("after the edit the receiver got Authorization %q: the stored password was not kept", auth)
	}
	if v := req.Header.Get("X-Api-Token"); v != "tok-123" {
		t.Errorf("after the edit the receiver got X-Api-Token %q: the stored secret header was not kept", v)
	}
	if req.Method != "PUT" || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		t.Errorf("the receiver got %s %s", req.Method, req.Header.Get("Content-Type"))
	}
}

func TestBadConditionShowsItsColumnAsYouType(t *testing.T) {
	h := setup(t, ui.Config{})
	bad := `asset.size > 10 &&& isImage()`
	r := h.Admin("POST", "/api/v2/admin/rules/validate", map[string]any{"condition": bad})
	var refusal struct {
		Error        string
		Line, Column int
	}
	if err := json.Unmarshal(r.Body, &refusal); r.Status != http.StatusUnprocessableEntity || err != nil || refusal.Column == 0 {
		t.Fatalf("validate answered %d %s", r.Status, r.Body)
	}
	pos := fmt.Sprintf("line %d, column %d", refusal.Line, refusal.Column)

	b := newTab(t, h.URL)
	b.signIn(apitest.AdminKey, "#webhooks")

	// The rule editor: refused as typed, with the API's line and column and a caret.
	b.open("/ui/rules", "#condition")
	b.do(chromedp.SendKeys(chromedp.CSS("#condition"), bad))
	b.waitText("#condition-check", pos)
	b.waitText("#condition-check", refusal.Error)
	caret := b.text("#condition-check .caret")
	if want := bad + "\n" + strings.Repeat(" ", refusal.Column-1) + "^"; caret != want {
		t.Errorf("caret:\n%s\nwant:\n%s", caret, want)
	}
	// Fixed, it is valid; tried on the sample event, it matches.
	b.fill("#condition", `asset.size == nil && isImage()`)
	b.waitText("#condition-check", "valid condition")
	b.do(chromedp.Click(chromedp.CSS("#try")))
	b.waitText("#try-result", "matches")
	b.waitText("#try-result", "meta.custom.status")

	// The webhook form checks its condition the same way, and the API's
	// refusal on saving names the position too.
	b.open("/ui/webhooks/new", "#f-condition")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#f-name"), "Bad rule"),
		chromedp.SendKeys(chromedp.CSS("#f-http_url"), "http://127.0.0.1:9/hook"),
		chromedp.SendKeys(chromedp.CSS("#f-condition"), bad),
	)
	b.waitText("#f-condition-check", pos)
	b.do(chromedp.Click(chromedp.CSS("#save")))
	b.waitText("#form-error", "column "+strconv.Itoa(refusal.Column))
	if n := len(webhooks(t, h)); n != 0 {
		t.Errorf("%d webhooks saved with a bad condition", n)
	}
}

func TestTestSendShowsTheReceiversAnswer(t *testing.T) {
	h := setup(t, ui.Config{})
	rc := apitest.NewReceiver(t)
	rc.Respond = func(apitest.Request) (int, string) { return http.StatusCreated, `{"received":true}` }
	id := h.CreateWebhook(map[string]any{"name": "Receiver", "http_url": rc.URL + "/hook", "trigger_events": []string{"ASSET_ADDED"}})
	b := newTab(t, h.URL)
	b.signIn(apitest.AdminKey, "#webhooks")

	b.open(fmt.Sprintf("/ui/webhooks/%d", id), "#test-send")
	b.waitJS(`document.querySelector("#f-name").value === "Receiver"`)
	b.do(chromedp.Click(chromedp.CSS("#test-send")), chromedp.WaitVisible(chromedp.CSS("#test-result")))
	b.waitText("#test-status", "201")
	b.waitText("#test-body", `{"received":true}`)
	if d := b.text("#test-duration"); !regexp.MustCompile(`^\d+ ms$`).MatchString(d) {
		t.Errorf("time shown: %q", d)
	}
	if got := rc.Wait(t, 1, wait)[0]; got.Header.Get("webhook-id") == "" || got.Path != "/hook" {
		t.Errorf("the receiver got %s with headers %v", got.Path, got.Header)
	}
}

func TestFailedDeliveryRetriedFromTheDeliveriesPage(t *testing.T) {
	h := setup(t, ui.Config{})
	rc := apitest.NewReceiver(t)
	var calls atomic.Int32
	rc.Respond = func(apitest.Request) (int, string) {
		if calls.Add(1) == 1 {
			return http.StatusInternalServerError, "receiver down"
		}
		return http.StatusOK, "back up"
	}
	id := h.CreateWebhook(map[string]any{"name": "Flaky", "http_url": rc.URL + "/hook", "trigger_events": []string{"ASSET_ADDED"}})
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a-1", "name": "a.jpg"}})
	rc.Wait(t, 1, wait)
	deliveries := func(status string) int {
		m := h.Must(http.StatusOK, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries?status=%s", id, status), nil)
		return len(m["deliveries"].([]any))
	}
	redistest.Eventually(t, wait, func() bool { return deliveries("failed") == 1 }, "no failed delivery")

	b := newTab(t, h.URL)
	b.signIn(apitest.AdminKey, "#webhooks")
	b.open(fmt.Sprintf("/ui/webhooks/%d/deliveries", id), "#deliveries")
	b.waitText("#title", "Deliveries of Flaky")
	b.choose("#status", "failed")
	failed := `#deliveries tbody[data-shown="deliveries:failed"] tr[data-status="failed"]`
	b.do(chromedp.WaitVisible(chromedp.CSS(failed)))
	b.waitText(failed, "500")
	b.waitText(failed, "receiver down")

	b.do(chromedp.Click(chromedp.CSS(failed + " button.retry")))
	b.waitText("#flash", "Retry queued")
	rc.Wait(t, 2, wait)
	redistest.Eventually(t, wait, func() bool { return deliveries("succeeded") == 1 }, "the retried delivery did not succeed")

	b.choose("#status", "")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#deliveries tbody tr[data-status="succeeded"]`)))
	b.waitText(`#deliveries tbody tr[data-status="succeeded"]`, "back up")
	b.do(chromedp.Click(chromedp.CSS("#tab-success")))
	b.waitText("#deliveries tbody", "succeeded")

	// The list's live figures show the latest run.
	b.open("/ui/webhooks", "#webhooks")
	b.waitText(fmt.Sprintf(`#webhooks tr[data-id="%d"] .latest`, id), "succeeded")
	b.waitText(fmt.Sprintf(`#webhooks tr[data-id="%d"] .latest`, id), "200")
}

func TestFailedDeliveriesRecoveredFromTheDeliveriesPage(t *testing.T) {
	h := setup(t, ui.Config{})
	rc := apitest.NewReceiver(t)
	var calls atomic.Int32
	rc.Respond = func(apitest.Request) (int, string) {
		if calls.Add(1) <= 2 {
			return http.StatusServiceUnavailable, "maintenance"
		}
		return http.StatusOK, "back up"
	}
	id := h.CreateWebhook(map[string]any{"name": "Down for a while", "http_url": rc.URL + "/hook",
		"trigger_events": []string{"ASSET_ADDED"}, "retry_schedule": []string{"10ms"}})
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a-1"}})
	rc.Wait(t, 2, wait)
	deliveries := func(status string) int {
		m := h.Must(http.StatusOK, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries?status=%s", id, status), nil)
		return len(m["deliveries"].([]any))
	}
	redistest.Eventually(t, wait, func() bool { return deliveries("failed") == 1 }, "no failed delivery")

	b := newTab(t, h.URL)
	b.signIn(apitest.AdminKey, "#webhooks")
	b.open(fmt.Sprintf("/ui/webhooks/%d/deliveries", id), "#deliveries")
	b.do(chromedp.WaitVisible(chromedp.CSS("#recover-form")),
		// datetime-local is the browser's local time, which is this process's.
		chromedp.SetValue(chromedp.CSS("#recover-since"), time.Now().Add(-time.Hour).Format("2006-01-02T15:04:05")),
		chromedp.Click(chromedp.CSS("#recover")))
	b.waitText("#recover-result", "1 failed deliveries queued again")
	rc.Wait(t, 3, wait)
	redistest.Eventually(t, wait, func() bool { return deliveries("succeeded") == 1 }, "the recovered delivery did not succeed")
	if n := rc.Count(); n != 3 {
		t.Errorf("the receiver got %d requests, want 2 tries and 1 recovered", n)
	}
}

func TestRetryingDeliveryAbortedFromTheDeliveriesPage(t *testing.T) {
	h := setup(t, ui.Config{})
	rc := apitest.NewReceiver(t)
	rc.Status = http.StatusBadGateway
	id := h.CreateWebhook(map[string]any{"name": "Slow retry", "http_url": rc.URL + "/hook",
		"trigger_events": []string{"ASSET_ADDED"}, "retry_schedule": []string{"1h"}})
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a-1"}})
	rc.Wait(t, 1, wait)
	redistest.Eventually(t, wait, func() bool {
		m := h.Must(http.StatusOK, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries?status=retrying", id), nil)
		return len(m["deliveries"].([]any)) == 1
	}, "no retrying delivery")

	b := newTab(t, h.URL)
	b.signIn(apitest.AdminKey, "#webhooks")
	b.open(fmt.Sprintf("/ui/webhooks/%d/deliveries", id), "#deliveries")
	retrying := `#deliveries tbody tr[data-status="retrying"]`
	b.choose("#status", "retrying")
	b.do(chromedp.WaitVisible(chromedp.CSS(retrying)))
	b.do(chromedp.Click(chromedp.CSS(retrying + " button.abort")))
	b.waitText("#flash", "aborted")
	b.choose("#status", "failed")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#deliveries tbody tr[data-status="failed"]`)))
	m := h.Must(http.StatusOK, "GET", fmt.Sprintf("/api/v2/admin/webhooks/%d/deliveries?status=failed", id), nil)
	if n := len(m["deliveries"].([]any)); n != 1 {
		t.Errorf("%d failed deliveries after the abort, want 1", n)
	}
	if n := rc.Count(); n != 1 {
		t.Errorf("the receiver got %d requests, want 1 (an aborted delivery is not sent)", n)
	}
}

func TestMarkerPanelWithAUserKey(t *testing.T) {
	var panelURL atomic.Value
	damPage := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>DAM</title><h1>Asset a-1</h1><iframe id="markers" src="%s" width="400" height="300"></iframe>`, panelURL.Load())
	})
	dam := httptest.NewServer(damPage)
	defer dam.Close()
	stranger := httptest.NewServer(damPage)
	defer stranger.Close()

	h := setup(t, ui.Config{FrameAncestors: "'self' " + dam.URL})
	panelURL.Store(h.URL + "/ui/assets/a-1/markers")
	rc := apitest.NewReceiver(t)
	h.CreateWebhook(map[string]any{"name": "CMS", "http_url": rc.URL + "/hook",
		"trigger_events": []string{"ASSET_MARKER_SELECTED", "ASSET_MARKER_CLEARED"}})
	for _, m := range []map[string]any{
		{"name": "publish-to-cms", "label": "Use as homepage banner", "condition": "isImage()"},
		{"name": "post-to-facebook", "label": "Post to Facebook", "mode": "action"},
		{"name": "print", "label": "Send to print", "condition": `asset.mime_type == "application/pdf"`},
	} {
		h.Must(http.StatusOK, "POST", "/api/v2/admin/markers", m)
	}
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "a-1", "name": "banner.jpg", "mime_type": "image/jpeg"}})
	offered := func() []map[string]any {
		r := h.Do("GET", "/api/v2/assets/a-1/markers", apitest.UserKey, nil)
		if r.Status != http.StatusOK {
			return nil
		}
		var out struct{ Markers []map[string]any }
		_ = json.Unmarshal(r.Body, &out)
		return out.Markers
	}
	redistest.Eventually(t, wait, func() bool { return offered() != nil }, "the asset was not stored")

	b := newTab(t, h.URL)
	b.open("/ui/assets/a-1/markers", "#panel-key")
	b.do(chromedp.SendKeys(chromedp.CSS("#panel-key"), apitest.UserKey), chromedp.Click(chromedp.CSS("#panel-sign-in")))
	flag := `#panel-markers li[data-name="publish-to-cms"]`
	b.do(chromedp.WaitVisible(chromedp.CSS(flag)))
	b.waitText(flag, "Use as homepage banner")
	b.waitText(flag, "not selected")
	b.waitText(`#panel-markers li[data-name="post-to-facebook"]`, "Run")
	if n := eval[int](b, `document.querySelectorAll("#panel-markers li").length`); n != 2 {
		t.Errorf("%d markers shown, want 2 (the print marker is not offered for an image)", n)
	}

	b.do(chromedp.Click(chromedp.CSS(flag + " button")))
	b.waitJS(`!!document.querySelector('#panel-markers li[data-name="publish-to-cms"][data-set="true"]')`)
	b.waitText(flag, "selected")
	b.waitText(flag, "Clear")
	got := rc.Wait(t, 1, wait)[0]
	var p struct {
		Type string
		Data struct{ Marker string }
	}
	if err := json.Unmarshal(got.Body, &p); err != nil || p.Type != "ASSET_MARKER_SELECTED" || p.Data.Marker != "publish-to-cms" {
		t.Fatalf("the receiver got %s", got.Body)
	}
	isSet := func() bool {
		for _, m := range offered() {
			if m["name"] == "publish-to-cms" {
				return m["set"] == true
			}
		}
		return false
	}
	redistest.Eventually(t, wait, isSet, "the flag is not set on the asset")

	// A reload keeps the key for the session and shows the stored state; clearing sends the event.
	b.open("/ui/assets/a-1/markers", flag+`[data-set="true"]`)
	b.do(chromedp.Click(chromedp.CSS(flag + " button")))
	b.waitJS(`!!document.querySelector('#panel-markers li[data-name="publish-to-cms"][data-set="false"]')`)
	if got := rc.Wait(t, 2, wait)[1]; !strings.Contains(string(got.Body), "ASSET_MARKER_CLEARED") {
		t.Errorf("the receiver got %s", got.Body)
	}

	// The DAM named in frame-ancestors embeds the panel; another origin may not.
	r := h.Do("GET", "/ui/assets/a-1/markers", "", nil)
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' "+dam.URL) {
		t.Errorf("panel CSP: %s", csp)
	}
	b.do(chromedp.Navigate(dam.URL), chromedp.WaitVisible(chromedp.CSS("#markers")))
	frame := b.frame("#markers")
	b.do(chromedp.WaitVisible(chromedp.CSS("#asset-id"), chromedp.FromNode(frame)))

	b.expect("frame-ancestors")
	b.do(chromedp.Navigate(stranger.URL), chromedp.WaitVisible(chromedp.CSS("#markers")))
	redistest.Eventually(t, wait, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.bad {
			if strings.Contains(m, "frame-ancestors") && strings.Contains(m, h.URL) {
				return true
			}
		}
		return false
	}, "the browser did not refuse the panel in a frame of %s", stranger.URL)
}

// frame returns the node of the iframe sel matches, with its document.
func (b *tab) frame(sel string) *chromedp.Node {
	b.t.Helper()
	var nodes []*chromedp.Node
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var err error
		nodes, err = chromedp.Nodes(chromedp.CSS(sel))(ctx, t)
		return err
	}))
	return nodes[0]
}
