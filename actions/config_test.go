package actions

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/internal/secret"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// decode parses a JSON request as the api does (numbers as json.Number).
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := event.UnmarshalJSONNumber([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func TestDecodeConfigErrors(t *testing.T) {
	t.Parallel()
	long := "https://example.com/" + strings.Repeat("a", 2030)
	short := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, tc := range []struct{ name, req, field, msg string }{
		{"missing http_url", `{"name":"x"}`, "http_url", `Invalid parameter 'http_url' value nil: Must be a String`},
		{"null http_url", `{"http_url":null,"http_method":"POST"}`, "http_url", `Invalid parameter 'http_url' value nil: Must be a String`},
		{"number http_url", `{"http_url":5}`, "http_url", `Invalid parameter 'http_url' value 5: Must be a String`},
		{"empty http_url", `{"http_url":""}`, "http_url", `Invalid parameter 'http_url' value "": Must be a String`},
		{"ftp URL", `{"http_url":"ftp://example.com"}`, "http_url", `Invalid parameter 'http_url' value "ftp://example.com": Must be an absolute http or https URL`},
		{"relative URL", `{"http_url":"example.com/hook"}`, "http_url", `Invalid parameter 'http_url' value "example.com/hook": Must be an absolute http or https URL`},
		{"no host", `{"http_url":"https:///hook"}`, "http_url", `Invalid parameter 'http_url' value "https:///hook": Must be an absolute http or https URL`},
		{"space", `{"http_url":"https://exa mple.com"}`, "http_url", `Invalid parameter 'http_url' value "https://exa mple.com": Must not contain spaces`},
		{"too long", `{"http_url":"` + long + `"}`, "http_url", `Invalid parameter 'http_url' value "` + long[:64] + `…": Must be at most 2048 characters`},
		{"bad comma part", `{"http_url":"https://a.com, b.com"}`, "http_url", `Invalid parameter 'http_url' value "b.com": Must be an absolute http or https URL`},
		{"redundant not array", `{"http_url":"https://a.com","redundant_urls":"https://b.com"}`, "redundant_urls", `Invalid parameter 'redundant_urls' value "https://b.com": Must be an Array`},
		{"redundant number", `{"http_url":"https://a.com","redundant_urls":[5]}`, "redundant_urls[0]", `Invalid parameter 'redundant_urls[0]' value 5: Must be a String`},
		{"redundant bad", `{"http_url":"https://a.com","redundant_urls":["https://b.com","mailto:x@y"]}`, "redundant_urls[1]", `Invalid parameter 'redundant_urls[1]' value "mailto:x@y": Must be an absolute http or https URL`},
		{"hostname with scheme", `{"hostname":"https://api.example.com"}`, "hostname", `Invalid parameter 'hostname' value "https://api.example.com": Must be a host with an optional port`},
		{"hostname bad port", `{"hostname":"api.example.com:99999"}`, "hostname", `Invalid parameter 'hostname' value "api.example.com:99999": Must be a host with an optional port`},
		{"hostname number", `{"hostname":7}`, "hostname", `Invalid parameter 'hostname' value 7: Must be a String`},
		{"path without slash", `{"hostname":"api.example.com","path":"hook"}`, "path", `Invalid parameter 'path' value "hook": Must start with /`},
		{"path without hostname", `{"path":"/hook"}`, "http_url", `Invalid parameter 'http_url' value nil: Must be a String`},
		{"scheme ftp", `{"hostname":"api.example.com","path":"/hook","scheme":"ftp"}`, "scheme", `Invalid parameter 'scheme' value "ftp": Must be "http" or "https"`},
		{"scheme upper case", `{"hostname":"api.example.com","scheme":"HTTP"}`, "scheme", `Invalid parameter 'scheme' value "HTTP": Must be "http" or "https"`},
		{"scheme empty", `{"hostname":"api.example.com","scheme":""}`, "scheme", `Invalid parameter 'scheme' value "": Must be "http" or "https"`},
		{"scheme number", `{"hostname":"api.example.com","scheme":80}`, "scheme", `Invalid parameter 'scheme' value 80: Must be a String`},
		{"scheme with http_url", `{"http_url":"https://a.com","scheme":"gopher"}`, "scheme", `Invalid parameter 'scheme' value "gopher": Must be "http" or "https"`},
		{"empty method", `{"http_url":"https://a.com","http_method":""}`, "http_method", `Invalid parameter 'http_method' value "": Must be one of POST, PUT, PATCH, GET`},
		{"DELETE", `{"http_url":"https://a.com","http_method":"DELETE"}`, "http_method", `Invalid parameter 'http_method' value "DELETE": Must be one of POST, PUT, PATCH, GET`},
		{"method number", `{"http_url":"https://a.com","http_method":1}`, "http_method", `Invalid parameter 'http_method' value 1: Must be a String`},
		{"timeout 0", `{"http_url":"https://a.com","timeout_seconds":0}`, "timeout_seconds", `Invalid parameter 'timeout_seconds' value 0: Must be from 1 to 30`},
		{"timeout 31", `{"http_url":"https://a.com","timeout_seconds":31}`, "timeout_seconds", `Invalid parameter 'timeout_seconds' value 31: Must be from 1 to 30`},
		{"timeout fraction", `{"http_url":"https://a.com","timeout_seconds":1.5}`, "timeout_seconds", `Invalid parameter 'timeout_seconds' value 1.5: Must be an Integer`},
		{"timeout string", `{"http_url":"https://a.com","timeout_seconds":"10"}`, "timeout_seconds", `Invalid parameter 'timeout_seconds' value "10": Must be an Integer`},
		{"headers not array", `{"http_url":"https://a.com","webhook_headers":{}}`, "webhook_headers", `Invalid parameter 'webhook_headers' value {…}: Must be an Array`},
		{"11 headers", `{"http_url":"https://a.com","webhook_headers":[` + strings.Repeat(`{"name":"X-A","value":"1"},`, 10) + `{"name":"X-A","value":"1"}]}`, "webhook_headers", `Invalid parameter 'webhook_headers' value […]: At most 10 headers`},
		{"header not object", `{"http_url":"https://a.com","webhook_headers":["X-A: 1"]}`, "webhook_headers[0]", `Invalid parameter 'webhook_headers[0]' value "X-A: 1": Must be an Object`},
		{"header without name", `{"http_url":"https://a.com","webhook_headers":[{"value":"1"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value nil: Must be a String`},
		{"header name not token", `{"http_url":"https://a.com","webhook_headers":[{"name":"X Bad","value":"1"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "X Bad": Must be an HTTP header name (RFC 9110 token)`},
		{"header value CRLF", `{"http_url":"https://a.com","webhook_headers":[{"name":"X-A","value":"1\r\nX-B: 2"}]}`, "webhook_headers[0].value", `Invalid parameter 'webhook_headers[0].value' value "1\r\nX-B: 2": Must not contain CR, LF or NUL`},
		{"secret header value NUL not quoted", `{"http_url":"https://a.com","webhook_headers":[{"name":"X-A","value":"s3cr3t\u0000","secret":true}]}`, "webhook_headers[0].value", `Invalid parameter 'webhook_headers[0].value' value "********": Must not contain CR, LF or NUL`},
		{"header value missing", `{"http_url":"https://a.com","webhook_headers":[{"name":"X-A"}]}`, "webhook_headers[0].value", `Invalid parameter 'webhook_headers[0].value' value nil: Must be a String`},
		{"header secret not bool", `{"http_url":"https://a.com","webhook_headers":[{"name":"X-A","value":"1","secret":"yes"}]}`, "webhook_headers[0].secret", `Invalid parameter 'webhook_headers[0].secret' value "yes": Must be a Boolean`},
		{"Host", `{"http_url":"https://a.com","webhook_headers":[{"name":"X-Ok","value":"1"},{"name":"host","value":"evil"}]}`, "webhook_headers[1].name", `Invalid parameter 'webhook_headers[1].name' value "host": Is set by assethooks and cannot be overridden`},
		{"Content-Length", `{"http_url":"https://a.com","webhook_headers":[{"name":"Content-Length","value":"1"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "Content-Length": Is set by assethooks and cannot be overridden`},
		{"Transfer-Encoding", `{"http_url":"https://a.com","webhook_headers":[{"name":"Transfer-Encoding","value":"1"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "Transfer-Encoding": Is set by assethooks and cannot be overridden`},
		{"Connection", `{"http_url":"https://a.com","webhook_headers":[{"name":"Connection","value":"1"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "Connection": Is set by assethooks and cannot be overridden`},
		{"webhook-id", `{"http_url":"https://a.com","webhook_headers":[{"name":"Webhook-Id","value":"1"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "Webhook-Id": Is set by assethooks and cannot be overridden`},
		{"webhook-timestamp", `{"http_url":"https://a.com","webhook_headers":[{"name":"webhook-timestamp","value":"1"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "webhook-timestamp": Is set by assethooks and cannot be overridden`},
		{"webhook-signature", `{"http_url":"https://a.com","webhook_headers":[{"name":"webhook-signature","value":"1"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "webhook-signature": Is set by assethooks and cannot be overridden`},
		{"X-Assethooks-", `{"http_url":"https://a.com","webhook_headers":[{"name":"x-assethooks-attempt","value":"9"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "x-assethooks-attempt": Is set by assethooks and cannot be overridden`},
		{"Authorization with auth", `{"http_url":"https://a.com","auth":{"type":"bearer","token":"t"},"webhook_headers":[{"name":"Authorization","value":"x"}]}`, "webhook_headers[0].name", `Invalid parameter 'webhook_headers[0].name' value "Authorization": Is set by assethooks and cannot be overridden`},
		{"auth not object", `{"http_url":"https://a.com","auth":"basic"}`, "auth", `Invalid parameter 'auth' value "basic": Must be an Object`},
		{"auth type unknown", `{"http_url":"https://a.com","auth":{"type":"digest"}}`, "auth.type", `Invalid parameter 'auth.type' value "digest": Must be one of none, basic, bearer, oauth2`},
		{"auth type number", `{"http_url":"https://a.com","auth":{"type":1}}`, "auth.type", `Invalid parameter 'auth.type' value 1: Must be a String`},
		{"basic without password", `{"http_url":"https://a.com","auth":{"type":"basic","username":"ana"}}`, "auth.password", `Invalid parameter 'auth.password' value nil: Must be a String`},
		{"basic without username", `{"http_url":"https://a.com","auth":{"type":"basic","password":"p"}}`, "auth.username", `Invalid parameter 'auth.username' value nil: Must be a String`},
		{"basic password number", `{"http_url":"https://a.com","auth":{"type":"basic","username":"a","password":5}}`, "auth.password", `Invalid parameter 'auth.password' value 5: Must be a String`},
		{"bearer without token", `{"http_url":"https://a.com","auth":{"type":"bearer","token":""}}`, "auth.token", `Invalid parameter 'auth.token' value "": Must be a String`},
		{"oauth2 without token_url", `{"http_url":"https://a.com","auth":{"type":"oauth2","client_id":"c","client_secret":"s"}}`, "auth.token_url", `Invalid parameter 'auth.token_url' value nil: Must be a String`},
		{"oauth2 bad token_url", `{"http_url":"https://a.com","auth":{"type":"oauth2","token_url":"/token","client_id":"c","client_secret":"s"}}`, "auth.token_url", `Invalid parameter 'auth.token_url' value "/token": Must be an absolute http or https URL`},
		{"oauth2 without credentials", `{"http_url":"https://a.com","auth":{"type":"oauth2","token_url":"https://a.com/token"}}`, "auth.client_id", `Invalid parameter 'auth.client_id' value nil: Must be a String`},
		{"oauth2 without client secret", `{"http_url":"https://a.com","auth":{"type":"oauth2","token_url":"https://a.com/token","client_id":"c"}}`, "auth.client_secret", `Invalid parameter 'auth.client_secret' value nil: Must be a String`},
		{"oauth2 password grant without password", `{"http_url":"https://a.com","auth":{"type":"oauth2","token_url":"https://a.com/token","username":"ana"}}`, "auth.password", `Invalid parameter 'auth.password' value nil: Must be a String`},
		{"body not object", `{"http_url":"https://a.com","body":"json"}`, "body", `Invalid parameter 'body' value "json": Must be an Object`},
		{"body format", `{"http_url":"https://a.com","body":{"format":"xml"}}`, "body.format", `Invalid parameter 'body.format' value "xml": Must be one of json, form, query`},
		{"body format number", `{"http_url":"https://a.com","body":{"format":2}}`, "body.format", `Invalid parameter 'body.format' value 2: Must be a String`},
		{"body fields not array", `{"http_url":"https://a.com","body":{"fields":"file"}}`, "body.fields", `Invalid parameter 'body.fields' value "file": Must be an Array`},
		{"body fields entry", `{"http_url":"https://a.com","body":{"fields":["file",3]}}`, "body.fields[1]", `Invalid parameter 'body.fields[1]' value 3: Must be a String`},
		{"body fields empty path", `{"http_url":"https://a.com","body":{"fields":["meta..x"]}}`, "body.fields[0]", `Invalid parameter 'body.fields[0]' value "meta..x": Must be a field group or a dotted path`},
		{"template number", `{"http_url":"https://a.com","body":{"template":5}}`, "body.template", `Invalid parameter 'body.template' value 5: Must be a String`},
		{"signing secret garbage", `{"http_url":"https://a.com","signing_secret":"hunter2"}`, "signing_secret", `Invalid parameter 'signing_secret' value "whsec_…": Must be whsec_ followed by the base64 of 24 to 64 bytes`},
		{"signing secret too short", `{"http_url":"https://a.com","signing_secret":"` + short + `"}`, "signing_secret", `Invalid parameter 'signing_secret' value "whsec_…": Must be whsec_ followed by the base64 of 24 to 64 bytes`},
		{"signing secret number", `{"http_url":"https://a.com","signing_secret":1}`, "signing_secret", `Invalid parameter 'signing_secret' value 1: Must be a String`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeConfig(decode(t, tc.req))
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *problem.Error", err)
			}
			got := *pe
			want := problem.Error{Kind: problem.KindInvalid, Field: tc.field, Msg: tc.msg}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeConfig(t *testing.T) {
	t.Parallel()
	gen := cmpopts.IgnoreFields(WebhookConfig{}, "SigningSecret")
	for _, tc := range []struct {
		name, req string
		want      WebhookConfig
	}{
		{"Media Pocket's documented request", `{"name": "Sample Webhook", "http_url": "https://example.website.com",
			"http_method": "POST", "trigger_events": ["ASSET_ADDED"], "project_id": "GsrwPNm6nJ7CKRYnQZl6"}`,
			WebhookConfig{URL: "https://example.website.com", Method: "POST", Body: BodyConfig{Format: "json"}, Auth: AuthConfig{Type: "none"}, Headers: []Header{}, TimeoutSeconds: 10}},
		{"Files.com comma-separated URLs", `{"http_url":"https://a.example.com/x, https://b.example.com/y,","redundant_urls":["https://c.example.com"],"http_method":"get"}`,
			WebhookConfig{URL: "https://a.example.com/x", RedundantURLs: []string{"https://b.example.com/y", "https://c.example.com"}, Method: "GET",
				Body: BodyConfig{Format: "json"}, Auth: AuthConfig{Type: "none"}, Headers: []Header{}, TimeoutSeconds: 10}},
		{"Filerobot hostname and path", `{"hostname":"api.example.com:8443","path":"/hooks/dam","timeout_seconds":30}`,
			WebhookConfig{URL: "https://api.example.com:8443/hooks/dam", Hostname: "api.example.com:8443", Path: "/hooks/dam", Scheme: "https", Method: "POST",
				Body: BodyConfig{Format: "json"}, Auth: AuthConfig{Type: "none"}, Headers: []Header{}, TimeoutSeconds: 30}},
		{"hostname and path over http", `{"hostname":"cms.internal:8080","path":"/hooks/dam","scheme":"http"}`,
			WebhookConfig{URL: "http://cms.internal:8080/hooks/dam", Hostname: "cms.internal:8080", Path: "/hooks/dam", Scheme: "http", Method: "POST",
				Body: BodyConfig{Format: "json"}, Auth: AuthConfig{Type: "none"}, Headers: []Header{}, TimeoutSeconds: 10}},
		{"scheme beside http_url is not kept", `{"http_url":"https://a.com","scheme":"http"}`,
			WebhookConfig{URL: "https://a.com", Method: "POST", Body: BodyConfig{Format: "json"}, Auth: AuthConfig{Type: "none"}, Headers: []Header{}, TimeoutSeconds: 10}},
		{"everything", `{"http_url":"https://a.com","http_method":"PATCH","timeout_seconds":5,
			"body":{"format":"form","fields":["file","meta.custom"],"template":"{\"t\": asset.name}"},
			"auth":{"type":"oauth2","token_url":"https://a.com/token","client_id":"c","client_secret":"s","scope":"a b"},
			"webhook_headers":[{"name":"X-Key","value":"k","secret":true},{"name":"X-Team","value":""}]}`,
			WebhookConfig{URL: "https://a.com", Method: "PATCH", TimeoutSeconds: 5,
				Body:    BodyConfig{Format: "form", Fields: []string{"file", "meta.custom"}, Template: `{"t": asset.name}`},
				Auth:    AuthConfig{Type: "oauth2", TokenURL: "https://a.com/token", ClientID: "c", ClientSecret: "s", Scope: "a b"},
				Headers: []Header{{Name: "X-Key", Value: "k", Secret: true}, {Name: "X-Team"}}}},
		{"Authorization header without auth", `{"http_url":"https://a.com","webhook_headers":[{"name":"Authorization","value":"Token x"}]}`,
			WebhookConfig{URL: "https://a.com", Method: "POST", Body: BodyConfig{Format: "json"}, Auth: AuthConfig{Type: "none"},
				Headers: []Header{{Name: "Authorization", Value: "Token x"}}, TimeoutSeconds: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeConfig(decode(t, tc.req))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, gen); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			if err := ValidateSecret(got.SigningSecret); err != nil {
				t.Fatalf("generated secret %q: %v", got.SigningSecret, err)
			}
			if _, err := NewWebhook(got, Options{}); err != nil {
				t.Fatalf("NewWebhook on a decoded config: %v", err)
			}
		})
	}
	c, err := DecodeConfig(decode(t, `{"http_url":"https://a.com","signing_secret":"`+testSecret+`"}`))
	if err != nil || c.SigningSecret != testSecret {
		t.Fatalf("given secret not kept: %q, %v", c.SigningSecret, err)
	}
	a, _ := DecodeConfig(decode(t, `{"http_url":"https://a.com"}`))
	b, _ := DecodeConfig(decode(t, `{"http_url":"https://a.com"}`))
	if a.SigningSecret == b.SigningSecret {
		t.Fatal("two generated secrets are equal")
	}
}

func fullConfig() WebhookConfig {
	return WebhookConfig{
		URL: "https://a.com", Method: "POST", Body: BodyConfig{Format: "json"}, TimeoutSeconds: 10,
		Auth:           AuthConfig{Type: AuthOAuth2, TokenURL: "https://a.com/t", Username: "ana", Password: "pass-1", ClientID: "cid", ClientSecret: "csecret-1"},
		Headers:        []Header{{Name: "X-Key", Value: "hdr-secret-1", Secret: true}, {Name: "X-Team", Value: "dam"}},
		SigningSecret:  testSecret,
		PreviousSecret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
		PreviousUntil:  time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
	}
}

func TestMasked(t *testing.T) {
	t.Parallel()
	c := fullConfig()
	c.Auth.Token = "tok"
	got := c.Masked()
	want := c
	want.Auth.Password, want.Auth.ClientSecret, want.Auth.Token = Mask, Mask, Mask
	want.Headers = []Header{{Name: "X-Key", Value: Mask, Secret: true}, {Name: "X-Team", Value: "dam"}}
	want.SigningSecret = "whsec_****zes="
	want.PreviousSecret = ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if c.Headers[0].Value != "hdr-secret-1" {
		t.Fatal("Masked changed the original's headers")
	}
}

func TestKeepSecrets(t *testing.T) {
	t.Parallel()
	prev := fullConfig()
	// A PUT that sends the masked config back, with one change.
	m := decode(t, mustJSON(t, prev.Masked()))
	m["timeout_seconds"] = json.Number("20")
	c, err := DecodeConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	c.KeepSecrets(prev)
	want := prev
	want.TimeoutSeconds = 20
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}

	// New values replace the stored ones, field by field.
	m = decode(t, mustJSON(t, prev.Masked()))
	m["auth"].(map[string]any)["password"] = "pass-2"
	m["webhook_headers"] = []any{map[string]any{"name": "x-key", "value": Mask}, map[string]any{"name": "X-New", "value": Mask}}
	m["signing_secret"] = GenerateSecret()
	c, err = DecodeConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	newSecret := c.SigningSecret
	c.KeepSecrets(prev)
	want = prev
	want.Auth.Password = "pass-2"
	want.Headers = []Header{{Name: "x-key", Value: "hdr-secret-1", Secret: true}, {Name: "X-New", Value: Mask}}
	want.SigningSecret, want.PreviousSecret, want.PreviousUntil = newSecret, "", time.Time{}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	box, err := secret.NewBox(secret.Generate())
	if err != nil {
		t.Fatal(err)
	}
	orig := fullConfig()
	orig.Auth.Token = "bearer-tok-1"
	c := orig
	if err := c.Seal(box); err != nil {
		t.Fatal(err)
	}
	if orig.Headers[0].Value != "hdr-secret-1" {
		t.Fatal("Seal changed the original's headers")
	}
	stored := mustJSON(t, c)
	for _, s := range []string{"pass-1", "csecret-1", "hdr-secret-1", "bearer-tok-1", orig.SigningSecret, orig.PreviousSecret,
		strings.TrimPrefix(orig.SigningSecret, "whsec_")} {
		if strings.Contains(stored, s) {
			t.Fatalf("sealed config holds %q in clear: %s", s, stored)
		}
	}
	if !strings.Contains(stored, `"X-Team","value":"dam"`) || !strings.Contains(stored, `"username":"ana"`) {
		t.Fatalf("Seal touched fields that are not secret: %s", stored)
	}
	sealedOnce := c
	if err := c.Seal(box); err != nil || c.Auth.Password != sealedOnce.Auth.Password {
		t.Fatal("sealing twice changed a sealed value")
	}
	var back WebhookConfig
	if err := json.Unmarshal([]byte(stored), &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Open(box); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(orig, back); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	other, _ := secret.NewBox(secret.Generate())
	again := c
	if err := again.Open(other); err == nil || strings.Contains(err.Error(), "pass-1") {
		t.Fatalf("Open with another key: %v", err)
	}
}

// A target given as hostname + path with "scheme": "http" is called over
// plain http (the default, https, would fail against this receiver).
func TestHostnameSchemeHTTP(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	host := strings.TrimPrefix(rcv.URL, "http://")
	cfg, err := DecodeConfig(decode(t, `{"hostname":"`+host+`","path":"/hooks/dam?x=1","scheme":"http"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := deliver(t, setup(t, cfg), sampleEvent(t)); !r.OK() {
		t.Fatalf("delivery over http: %v", r.Err)
	}
	if got := rcv.last(t).URL; got.Path != "/hooks/dam" || got.RawQuery != "x=1" {
		t.Fatalf("receiver got %s", got)
	}
	https, err := DecodeConfig(decode(t, `{"hostname":"`+host+`","path":"/hooks/dam"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := deliver(t, setup(t, https), sampleEvent(t)); r.OK() || !strings.HasPrefix(r.URL, "https://") {
		t.Fatalf("without a scheme the target must be https: %+v", r)
	}
}
