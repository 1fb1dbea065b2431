package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/markers"
)

// setup runs an assethooks and the CMS, registered as main does it.
func setup(t *testing.T) (*apitest.Harness, *httptest.Server) {
	t.Helper()
	h := apitest.New(t, apitest.Options{Extra: []func(*api.Server){markers.Routes}})
	cms := NewCMS()
	srv := httptest.NewServer(cms)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	secret, err := Setup(ctx, http.DefaultClient, h.URL, apitest.AdminKey, srv.URL+"/webhooks/banner")
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.SetSecret(secret); err != nil {
		t.Fatal(err)
	}
	return h, srv
}

func homepage(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func TestBannerMarker(t *testing.T) {
	t.Parallel()
	h, cms := setup(t)
	h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "img-1", "name": "summer.jpg",
		"mime_type": "image/jpeg", "cdn_url": "https://cdn.example.com/summer.jpg", "info": map[string]any{"title": "Summer sale"}}},
		map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "pdf-1", "name": "terms.pdf",
			"mime_type": "application/pdf", "cdn_url": "https://cdn.example.com/terms.pdf"}})
	if p := homepage(t, cms.URL); !strings.Contains(p, "No banner yet") {
		t.Fatalf("homepage before: %s", p)
	}

	// A PDF is not offered the marker.
	r := h.Do("GET", "/api/v2/assets/pdf-1/markers", apitest.UserKey, nil)
	if r.Status != 200 || strings.Contains(string(r.Body), MarkerName) {
		t.Fatalf("offered for the PDF: %d %s", r.Status, r.Body)
	}
	if r := h.Do("POST", "/api/v2/assets/pdf-1/markers/"+MarkerName, apitest.UserKey, nil); r.Status != 422 {
		t.Fatalf("selecting on the PDF: %d %s", r.Status, r.Body)
	}

	// The webmaster selects it on the image: the homepage shows it.
	r = h.Do("GET", "/api/v2/assets/img-1/markers", apitest.UserKey, nil)
	if !strings.Contains(string(r.Body), `"label":"Use as homepage banner"`) {
		t.Fatalf("offered for the image: %s", r.Body)
	}
	if r := h.Do("POST", "/api/v2/assets/img-1/markers/"+MarkerName, apitest.UserKey, map[string]any{"username": "webmaster"}); r.Status != 202 {
		t.Fatalf("select: %d %s", r.Status, r.Body)
	}
	redistest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(homepage(t, cms.URL), `src="https://cdn.example.com/summer.jpg"`)
	}, "the homepage does not show the banner: %s", homepage(t, cms.URL))
	if p := homepage(t, cms.URL); !strings.Contains(p, "Summer sale (chosen by webmaster)") {
		t.Fatalf("homepage: %s", p)
	}

	// Removing the asset takes it off the page.
	h.Send(map[string]any{"type": "ASSET_REMOVED", "asset": map[string]any{"uuid": "img-1"}})
	redistest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(homepage(t, cms.URL), "No banner yet") },
		"the banner stays after its asset was removed")
}

func TestCMSRefusesUnsigned(t *testing.T) {
	t.Parallel()
	cms := NewCMS()
	if err := cms.SetSecret("whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/webhooks/banner", strings.NewReader(`{"type":"ASSET_MARKER_SELECTED","data":{"asset":{"uuid":"x"},"marker":"`+MarkerName+`"}}`))
	req.Header.Set("webhook-id", "msg_1")
	req.Header.Set("webhook-timestamp", "1")
	req.Header.Set("webhook-signature", "v1,AAAA")
	w := httptest.NewRecorder()
	cms.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized || cms.Banner() != nil {
		t.Fatalf("unsigned call: %d, banner %v", w.Code, cms.Banner())
	}
}

// Starting the example again reuses its webhook (a fresh secret by rotation)
// instead of registering another one.
func TestSetupTwiceReusesTheWebhook(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Extra: []func(*api.Server){markers.Routes}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hookURL := "http://127.0.0.1:1/webhooks/banner"
	first, err := Setup(ctx, http.DefaultClient, h.URL, apitest.AdminKey, hookURL)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Setup(ctx, http.DefaultClient, h.URL, apitest.AdminKey, hookURL)
	if err != nil {
		t.Fatal(err)
	}
	if first == second || !strings.HasPrefix(second, "whsec_") || strings.Contains(second, "*") {
		t.Errorf("secrets: first %q, second %q", first, second)
	}
	if ws := h.Must(200, "GET", "/api/v2/admin/webhooks", nil)["webhooks"].([]any); len(ws) != 1 {
		t.Errorf("%d webhooks after two runs, want 1", len(ws))
	}
}
