package actions

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		auth AuthConfig
		want string
	}{
		{"basic", AuthConfig{Type: AuthBasic, Username: "ana", Password: "p@ss:w"}, "Basic YW5hOnBAc3M6dw=="},
		{"bearer", AuthConfig{Type: AuthBearer, Token: "tok-123"}, "Bearer tok-123"},
		{"none", AuthConfig{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, nil)
			w := setup(t, WebhookConfig{URL: rcv.URL, Auth: tc.auth, Headers: []Header{{Name: "X-Api-Key", Value: "k1", Secret: true}, {Name: "x-team", Value: "dam"}}})
			ev := sampleEvent(t)
			if r := w.Execute(context.Background(), &Delivery{ID: "msg_7", Attempt: 3, Event: ev}); !r.OK() {
				t.Fatal(r.Err)
			}
			h := rcv.last(t).Header
			got := map[string]string{}
			for _, k := range []string{"User-Agent", "Content-Type", "Webhook-Id", "X-Assethooks-Event", "X-Assethooks-Attempt", "X-Api-Key", "X-Team", "Authorization"} {
				got[k] = h.Get(k)
			}
			want := map[string]string{"User-Agent": "assethooks/test", "Content-Type": "application/json", "Webhook-Id": "msg_7",
				"X-Assethooks-Event": "ASSET_MOVED", "X-Assethooks-Attempt": "3", "X-Api-Key": "k1", "X-Team": "dam", "Authorization": tc.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignatureVerifies(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatJSON, FormatForm, FormatQuery} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, nil)
			if r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL, Body: BodyConfig{Format: format}}), sampleEvent(t)); !r.OK() {
				t.Fatal(r.Err)
			}
			req := rcv.last(t)
			v, err := standardwebhooks.NewWebhook(testSecret)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(req.Body, req.Header); err != nil {
				t.Fatalf("signature %q does not verify: %v", req.Header.Get("webhook-signature"), err)
			}
			other, _ := standardwebhooks.NewWebhook(GenerateSecret())
			if err := other.Verify(req.Body, req.Header); err == nil {
				t.Fatal("a signature verified with another secret")
			}
		})
	}
}

func TestSignatureDuringRotation(t *testing.T) {
	t.Parallel()
	oldSecret := testSecret
	cfg := WebhookConfig{SigningSecret: oldSecret}
	now := time.Now()
	cfg.Rotate("", now)
	newSecret := cfg.SigningSecret
	if cfg.PreviousSecret != oldSecret || !cfg.PreviousUntil.Equal(now.Add(24*time.Hour).UTC()) {
		t.Fatalf("after Rotate: previous %q until %v", cfg.PreviousSecret, cfg.PreviousUntil)
	}
	rcv := newReceiver(t, nil)
	cfg.URL = rcv.URL
	if r := deliver(t, setup(t, cfg), sampleEvent(t)); !r.OK() {
		t.Fatal(r.Err)
	}
	req := rcv.last(t)
	sigs := strings.Split(req.Header.Get("webhook-signature"), " ")
	if len(sigs) != 2 {
		t.Fatalf("want two signatures during a rotation, got %q", sigs)
	}
	for i, s := range []string{newSecret, oldSecret} {
		v, _ := standardwebhooks.NewWebhook(s)
		if err := v.Verify(req.Body, req.Header); err != nil {
			t.Fatalf("secret %d does not verify: %v", i, err)
		}
		// New first.
		only := req.Header.Clone()
		only.Set("webhook-signature", sigs[i])
		if err := v.Verify(req.Body, only); err != nil {
			t.Fatalf("signature %d is not the one of secret %d", i, i)
		}
	}

	// A second rotation within the 24 h retires the oldest at once.
	cfg.Rotate("", now.Add(time.Hour))
	if cfg.PreviousSecret != newSecret {
		t.Fatal("second rotation did not keep the current secret as previous")
	}

	// After the overlap only the current secret signs.
	cfg.PreviousUntil = now.Add(-time.Second)
	if r := deliver(t, setup(t, cfg), sampleEvent(t)); !r.OK() {
		t.Fatal(r.Err)
	}
	if sigs := strings.Split(rcv.last(t).Header.Get("webhook-signature"), " "); len(sigs) != 1 {
		t.Fatalf("after the overlap want one signature, got %q", sigs)
	}
}

func TestRedundantURLs(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	failing := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	backup := newReceiver(t, nil)
	w := setup(t, WebhookConfig{URL: downURL, RedundantURLs: []string{failing.URL, backup.URL}})
	r := deliver(t, w, sampleEvent(t))
	if !r.OK() || r.URL != backup.URL || r.StatusCode != 200 || r.Body != "ok" {
		t.Fatalf("Result = %+v, want a success from the backup", r)
	}
	if n := len(backup.requests()); n != 1 {
		t.Fatalf("backup got %d requests", n)
	}
	if n := len(failing.requests()); n != 1 {
		t.Fatalf("second URL got %d requests", n)
	}

	// All fail: the Result is the last failure.
	w = setup(t, WebhookConfig{URL: failing.URL, RedundantURLs: []string{downURL}})
	r = deliver(t, w, sampleEvent(t))
	if r.OK() || r.URL != downURL || r.StatusCode != 0 || !strings.Contains(r.Err.Error(), "connection failed") {
		t.Fatalf("Result = %+v, want the last failure (refused connection)", r)
	}
}

func TestResponses(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("é", 3000) // 6000 bytes
	for _, tc := range []struct {
		name    string
		respond http.HandlerFunc
		want    Result
		errText string
	}{
		{"2xx", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }, Result{StatusCode: 204}, ""},
		{"3xx not followed", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) },
			Result{StatusCode: 302}, "receiver answered 302 Found (redirects are not followed)"},
		{"truncated body", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500); io.WriteString(w, big) },
			Result{StatusCode: 500, Body: strings.Repeat("é", 2048)}, "receiver answered 500 Internal Server Error"},
		{"truncated mid-rune", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500); io.WriteString(w, "x"+big) },
			Result{StatusCode: 500, Body: "x" + strings.Repeat("é", 2047)}, "receiver answered 500 Internal Server Error"},
		{"410 gone", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(410) }, Result{StatusCode: 410, Gone: true}, "receiver answered 410 Gone"},
		{"429 retry-after seconds", func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Retry-After", "120"); w.WriteHeader(429) },
			Result{StatusCode: 429, RetryAfter: 2 * time.Minute}, "receiver answered 429 Too Many Requests"},
		{"503 retry-after clamped", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "86400")
			w.WriteHeader(503)
		},
			Result{StatusCode: 503, RetryAfter: time.Hour}, "receiver answered 503 Service Unavailable"},
		{"500 ignores retry-after", func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Retry-After", "120"); w.WriteHeader(500) },
			Result{StatusCode: 500}, "receiver answered 500 Internal Server Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, tc.respond)
			r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL}), sampleEvent(t))
			if (r.Err == nil) != (tc.errText == "") || (r.Err != nil && r.Err.Error() != tc.errText) {
				t.Fatalf("Err = %v, want %q", r.Err, tc.errText)
			}
			tc.want.URL = rcv.URL
			r.Err, r.Duration = nil, 0
			if diff := cmp.Diff(tc.want, r); diff != "" {
				t.Fatalf("Result (-want +got):\n%s", diff)
			}
			if n := len(rcv.requests()); n != 1 {
				t.Fatalf("receiver got %d requests, want 1 (no redirect followed)", n)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"soon", 0}, {"0", time.Second}, {"-5", time.Second}, {"30", 30 * time.Second},
		{"3600", time.Hour}, {"99999999999999999999", 0}, {"999999999999", time.Hour},
		{"Sun, 22 Nov 2026 10:05:00 GMT", 5 * time.Minute},
		{"Sun, 22 Nov 2026 09:00:00 GMT", time.Second},
		{"Mon, 23 Nov 2026 10:00:00 GMT", time.Hour},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL, TimeoutSeconds: 1}), sampleEvent(t))
	if r.StatusCode != 0 || r.Err == nil || r.Err.Error() != "timeout: no answer within 1s" {
		t.Fatalf("Result = %+v, want a timeout", r)
	}
	if r.Duration < time.Second || r.Duration > 5*time.Second {
		t.Fatalf("Duration = %v", r.Duration)
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip      string
		refused bool
	}{
		{"127.0.0.1", true}, {"10.0.0.1", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"100.64.0.1", true}, {"169.254.169.254", true}, {"::1", true}, {"fe80::1", true}, {"fd00::1", true},
		{"fd00:ec2::254", true}, {"0.0.0.0", true}, {"::", true}, {"224.0.0.1", true}, {"ff02::1", true},
		{"::ffff:127.0.0.1", true}, {"::ffff:10.1.2.3", true}, {"64:ff9b::a00:1", true}, {"255.255.255.255", true},
		{"8.8.8.8", false}, {"2001:4860:4860::8888", false}, {"1.1.1.1", false}, {"100.128.0.1", false}, {"172.32.0.1", false},
		{"64:ff9b::808:808", false},
	} {
		if got := Refused(net.ParseIP(tc.ip)); got != tc.refused {
			t.Errorf("Refused(%s) = %v, want %v", tc.ip, got, tc.refused)
		}
	}
	if !Refused(nil) {
		t.Error("Refused(nil) = false")
	}
}

func TestGuardRefusesLoopback(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(rcv.Listener.Addr().String())
	for _, target := range []string{rcv.URL, "http://localhost:" + port + "/hook"} {
		w, err := NewWebhook(WebhookConfig{URL: target, SigningSecret: testSecret}, Options{Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		r := w.Execute(context.Background(), &Delivery{ID: "m", Attempt: 1, Event: sampleEvent(t)})
		if r.StatusCode != 0 || !errors.Is(r.Err, ErrRefused) {
			t.Fatalf("%s: Result = %+v, want a refusal", target, r)
		}
		if !strings.HasPrefix(r.Err.Error(), "refused: ") || !strings.Contains(r.Err.Error(), "is a loopback address") {
			t.Fatalf("%s: Err = %q, want a clear refusal", target, r.Err)
		}
	}
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("the guarded webhook reached the receiver %d times", n)
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	reg := Builtin()
	if diff := cmp.Diff([]string{"webhook"}, reg.Names()); diff != "" {
		t.Fatal(diff)
	}
	rcv := newReceiver(t, nil)
	cfg, err := DecodeConfig(map[string]any{"http_url": rcv.URL, "body": map[string]any{"format": "form"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := jsonMarshal(cfg)
	a, err := reg.New("webhook", raw, Options{AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	var mw []string
	logging := func(name string) Middleware {
		return func(next Action) Action {
			return ActionFunc(func(ctx context.Context, d *Delivery) Result {
				mw = append(mw, name)
				return next.Execute(ctx, d)
			})
		}
	}
	a = Chain(a, logging("outer"), logging("inner"))
	if r := a.Execute(context.Background(), &Delivery{ID: "m", Attempt: 1, Event: sampleEvent(t)}); !r.OK() {
		t.Fatal(r.Err)
	}
	if diff := cmp.Diff([]string{"outer", "inner"}, mw); diff != "" {
		t.Fatal(diff)
	}
	if ct := rcv.last(t).Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Fatalf("config not applied: Content-Type %q", ct)
	}
	if _, err := reg.New("email", nil, Options{}); err == nil {
		t.Fatal("unknown type accepted")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate Register did not panic")
		}
	}()
	reg.Register("webhook", webhookFactory)
}
