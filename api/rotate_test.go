package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/assethooks/assethooks/internal/apitest"
)

func verifies(t *testing.T, secret string, r apitest.Request) bool {
	t.Helper()
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return v.Verify(r.Body, r.Header) == nil
}

// Rotating the signing secret shows the new one once; deliveries then carry
// two signatures, so receivers holding either secret verify them; a second
// rotation retires the oldest at once.
func TestRotateSecret(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	first := h.Must(200, "POST", "/api/v2/admin/webhooks", map[string]any{"name": "r", "http_url": rc.URL,
		"trigger_events": []string{"ASSET_ADDED"}})["webhook"].(map[string]any)["signing_secret"].(string)
	send := func(n int) apitest.Request {
		h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": fmt.Sprintf("r-%d", n)}})
		return rc.Wait(t, n, 10*time.Second)[n-1]
	}

	second := h.Must(200, "POST", "/api/v2/admin/webhooks/1/rotate-secret", nil)["webhook"].(map[string]any)["signing_secret"].(string)
	if !strings.HasPrefix(second, "whsec_") || strings.Contains(second, "*") || second == first {
		t.Fatalf("rotate answered %q", second)
	}
	if shown := h.Must(200, "GET", "/api/v2/admin/webhooks/1", nil)["webhook"].(map[string]any)["signing_secret"]; shown != "whsec_****"+second[len(second)-4:] {
		t.Errorf("after rotation the webhook shows %v", shown)
	}
	r := send(1)
	if sigs := strings.Fields(r.Header.Get("webhook-signature")); len(sigs) != 2 {
		t.Errorf("during a rotation want two signatures, got %q", r.Header.Get("webhook-signature"))
	}
	if !verifies(t, first, r) || !verifies(t, second, r) {
		t.Errorf("old secret verifies: %v, new secret verifies: %v", verifies(t, first, r), verifies(t, second, r))
	}

	chosen := "whsec_" + strings.Repeat("QUJD", 8) // base64 of 24 bytes
	third := h.Must(200, "POST", "/api/v2/admin/webhooks/1/rotate-secret", map[string]any{"signing_secret": chosen})["webhook"].(map[string]any)["signing_secret"].(string)
	if third != chosen {
		t.Fatalf("a chosen secret came back as %q", third)
	}
	r = send(2)
	if verifies(t, first, r) || !verifies(t, second, r) || !verifies(t, chosen, r) {
		t.Errorf("after a second rotation: first %v (want false), second %v, chosen %v",
			verifies(t, first, r), verifies(t, second, r), verifies(t, chosen, r))
	}
	if bad := h.Admin("POST", "/api/v2/admin/webhooks/1/rotate-secret", map[string]any{"signing_secret": "nope"}); bad.Status != 422 {
		t.Errorf("a bad chosen secret: %d %s", bad.Status, bad.Body)
	}
}
