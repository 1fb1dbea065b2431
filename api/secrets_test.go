package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// redisDump returns every value stored under the harness prefix, as text.
func redisDump(t *testing.T, h *apitest.Harness) string {
	t.Helper()
	ctx := context.Background()
	rdb := h.Redis
	var b strings.Builder
	for _, k := range rdb.Keys(ctx, h.Prefix+"*").Val() {
		b.WriteString(k + "\n")
		switch rdb.Type(ctx, k).Val() {
		case "string":
			b.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "list":
			b.WriteString(strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "zset":
			b.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "stream":
			for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				fmt.Fprintln(&b, m.Values)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// No secret appears in clear in any API response (but the signing secret in
// the create and rotate answers, shown once on purpose), log line or Redis
// value, while webhooks with every kind of secret are created, read, listed,
// updated, tested and delivered to.
func TestSecretsNeverInClear(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := apitest.New(t, apitest.Options{Backend: b})
			var tokens atomic.Int64
			tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tokens.Add(1)
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"access_token":"issued-access-token-77","token_type":"bearer","expires_in":3600}`)
			}))
			t.Cleanup(tokenSrv.Close)
			rc := apitest.NewReceiver(t)
			secrets := []string{"basic-password-123", "bearer-token-456", "client-secret-789", "header-secret-abc", "issued-access-token-77"}
			var responses []string
			do := func(want int, method, path string, body any) map[string]any {
				r := h.Admin(method, path, body)
				if r.Status != want {
					t.Fatalf("%s %s: %d %s\n%s", method, path, r.Status, r.Body, h.Logs.String())
				}
				responses = append(responses, string(r.Body))
				if len(r.Body) == 0 {
					return nil
				}
				return r.JSON(t)
			}
			hdr := []map[string]any{{"name": "X-Api-Secret", "value": "header-secret-abc", "secret": true}, {"name": "X-Plain", "value": "visible"}}
			basic := do(200, "POST", "/api/v2/admin/webhooks", map[string]any{"name": "basic", "http_url": rc.URL + "/basic",
				"trigger_events": []string{"ASSET_ADDED"}, "webhook_headers": hdr,
				"auth": map[string]any{"type": "basic", "username": "dam", "password": "basic-password-123"}})["webhook"].(map[string]any)
			signing := basic["signing_secret"].(string)
			responses = responses[:0] // the create answer shows the signing secret once, on purpose
			do(200, "POST", "/api/v2/admin/webhooks", map[string]any{"name": "bearer", "http_url": rc.URL + "/bearer",
				"trigger_events": []string{"ASSET_ADDED"}, "auth": map[string]any{"type": "bearer", "token": "bearer-token-456"}})
			responses = responses[:0]
			do(200, "POST", "/api/v2/admin/webhooks", map[string]any{"name": "oauth", "http_url": rc.URL + "/oauth",
				"trigger_events": []string{"ASSET_ADDED"}, "auth": map[string]any{"type": "oauth2", "token_url": tokenSrv.URL,
					"client_id": "assethooks", "client_secret": "client-secret-789"}})
			responses = responses[:0]

			h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "s-1"}})
			got := rc.Wait(t, 3, 10*time.Second)
			auth := map[string]string{}
			for _, g := range got {
				auth[g.Path] = g.Header.Get("Authorization")
				if g.Path == "/basic" {
					if g.Header.Get("X-Api-Secret") != "header-secret-abc" || g.Header.Get("X-Plain") != "visible" {
						t.Errorf("headers not sent: %v", g.Header)
					}
					v, _ := standardwebhooks.NewWebhook(signing)
					if err := v.Verify(g.Body, g.Header); err != nil {
						t.Errorf("signature: %v", err)
					}
				}
			}
			want := map[string]string{"/basic": "Basic ZGFtOmJhc2ljLXBhc3N3b3JkLTEyMw==", "/bearer": "Bearer bearer-token-456",
				"/oauth": "Bearer issued-access-token-77"}
			if diff := cmp.Diff(want, auth); diff != "" {
				t.Errorf("Authorization (-want +got):\n%s", diff)
			}

			// Read, list, update with masked values sent back, test, logs.
			one := do(200, "GET", "/api/v2/admin/webhooks/1", nil)["webhook"].(map[string]any)
			if a := one["auth"].(map[string]any); a["password"] != actions.Mask || one["signing_secret"] != "whsec_****"+signing[len(signing)-4:] {
				t.Errorf("masked view: auth %v signing %v", a, one["signing_secret"])
			}
			if hs := one["webhook_headers"].([]any); hs[0].(map[string]any)["value"] != actions.Mask || hs[1].(map[string]any)["value"] != "visible" {
				t.Errorf("headers view: %v", hs)
			}
			do(200, "GET", "/api/v2/admin/webhooks", nil)
			one["name"] = "basic renamed"
			do(200, "PUT", "/api/v2/admin/webhooks/1", one)
			do(200, "PATCH", "/api/v2/admin/webhooks/3", map[string]any{"name": "oauth renamed"})
			do(200, "POST", "/api/v2/admin/webhooks/1/test", nil)
			do(200, "POST", "/api/v2/admin/webhooks/3/test", nil)
			redistest.Eventually(t, 10*time.Second, func() bool {
				return len(h.Must(200, "GET", "/api/v2/admin/webhooks/1/success", nil)["success_log"].([]any)) == 1
			}, "success log")
			do(200, "GET", "/api/v2/admin/webhooks/1/success", nil)
			do(200, "GET", "/api/v2/admin/webhooks/1/deliveries", nil)

			// The masked values sent back kept the stored secrets: a second
			// event still authenticates and signs with them.
			h.Send(map[string]any{"type": "ASSET_ADDED", "asset": map[string]any{"uuid": "s-2"}})
			got = rc.Wait(t, 8, 10*time.Second) // 3 + 2 tests + 3
			for _, g := range got[3:] {
				if w, ok := want[g.Path]; ok && g.Header.Get("Authorization") != w {
					t.Errorf("after update %s sent Authorization %q", g.Path, g.Header.Get("Authorization"))
				}
			}
			if n := tokens.Load(); n < 1 || n > 3 {
				t.Errorf("token endpoint called %d times", n)
			}

			dump := redisDump(t, h)
			logs := h.Logs.String()
			for _, s := range append(secrets, signing, strings.TrimPrefix(signing, "whsec_")) {
				for where, text := range map[string]string{"API responses": strings.Join(responses, "\n"), "Redis": dump, "logs": logs} {
					if strings.Contains(text, s) {
						t.Errorf("secret %q appears in clear in %s", s, where)
					}
				}
			}
			if !strings.Contains(dump, "enc:v1:") {
				t.Errorf("no sealed secret found in Redis: is the store encrypting?")
			}
		})
	}
}

// The test button answers with the receiver's status, time and body; a
// target the SSRF guard refuses answers 200 with status_code null and the
// refusal in error.
func TestWebhookTestButton(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	rc := apitest.NewReceiver(t)
	rc.Respond = func(apitest.Request) (int, string) { return 201, strings.Repeat("x", 5000) }
	id := h.CreateWebhook(map[string]any{"name": "t", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"}})
	m := h.Must(200, "POST", fmt.Sprintf("/api/v2/admin/webhooks/%d/test", id), nil)
	if m["status_code"] != float64(201) || m["error"] != nil || len(m["body"].(string)) != 4096 {
		t.Errorf("test answer: status %v error %v body %d bytes", m["status_code"], m["error"], len(m["body"].(string)))
	}
	got := rc.Wait(t, 1, 5*time.Second)[0]
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil || body["type"] != "ASSET_ADDED" {
		t.Errorf("test request body: %s", got.Body)
	}

	guarded := apitest.New(t, apitest.Options{Engine: engine.Config{Actions: actions.Options{Version: "test"}}})
	for _, target := range []string{rc.URL, strings.Replace(rc.URL, "127.0.0.1", "localhost", 1)} {
		id := guarded.CreateWebhook(map[string]any{"name": "ssrf", "http_url": target, "trigger_events": []string{"ASSET_ADDED"}})
		m := guarded.Must(200, "POST", fmt.Sprintf("/api/v2/admin/webhooks/%d/test", id), nil)
		if m["status_code"] != nil || !strings.Contains(fmt.Sprint(m["error"]), "refused") {
			t.Errorf("%s with the guard on: %v", target, m)
		}
	}
	if rc.Count() != 1 {
		t.Errorf("the guarded engine reached the receiver: %d requests", rc.Count())
	}
}
