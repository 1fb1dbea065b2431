package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/event"
	"github.com/google/go-cmp/cmp"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwY8jjDsgrzes="

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

type bundle struct {
	mu        sync.Mutex
	processed []string
}

func (b *bundle) ids() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.processed...)
}

func setup(t *testing.T) (http.Handler, *bundle) {
	t.Helper()
	b := &bundle{}
	h, err := Handler(secret, Options{
		Now: func() time.Time { return now },
		Process: func(id string, _ http.Header, _ []byte) {
			b.mu.Lock()
			b.processed = append(b.processed, id)
			b.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, b
}

// signed builds a request signed by hand (not with package actions).
func signed(id string, at time.Time, body string, key string) *http.Request {
	raw, _ := base64.StdEncoding.DecodeString(key[len("whsec_"):])
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, raw)
	m.Write([]byte(id + "." + ts + "." + body))
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewBufferString(body))
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", ts)
	r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return r
}

func TestReceiver(t *testing.T) {
	t.Parallel()
	other := actions.GenerateSecret()
	for _, tc := range []struct {
		name      string
		req       func() *http.Request
		status    int
		processed []string
	}{
		{"valid", func() *http.Request { return signed("msg_1", now, `{"id":"e"}`, secret) }, 200, []string{"msg_1"}},
		{"rotation: one of two signatures valid", func() *http.Request {
			r := signed("msg_1", now, `{}`, secret)
			r.Header.Set("webhook-signature", "v1,AAAA "+r.Header.Get("webhook-signature"))
			return r
		}, 200, []string{"msg_1"}},
		{"bad signature", func() *http.Request { return signed("msg_1", now, `{}`, other) }, 401, nil},
		{"body changed", func() *http.Request {
			r := signed("msg_1", now, `{"a":1}`, secret)
			r.Body = http.NoBody
			return r
		}, 401, nil},
		{"stale timestamp", func() *http.Request { return signed("msg_1", now.Add(-6*time.Minute), `{}`, secret) }, 401, nil},
		{"future timestamp", func() *http.Request { return signed("msg_1", now.Add(6*time.Minute), `{}`, secret) }, 401, nil},
		{"within tolerance", func() *http.Request { return signed("msg_1", now.Add(-4*time.Minute), `{}`, secret) }, 200, []string{"msg_1"}},
		{"missing headers", func() *http.Request { return httptest.NewRequest(http.MethodPost, "/", nil) }, 400, nil},
		{"bad timestamp", func() *http.Request {
			r := signed("msg_1", now, `{}`, secret)
			r.Header.Set("webhook-timestamp", "yesterday")
			return r
		}, 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, b := setup(t)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.req())
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			if diff := cmp.Diff(tc.processed, b.ids()); diff != "" {
				t.Fatalf("processed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReceiverDropsDuplicates(t *testing.T) {
	t.Parallel()
	h, b := setup(t)
	for i, want := range []string{"ok\n", "duplicate\n"} {
		// A retry: same webhook-id, new timestamp and signature.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signed("msg_1", now.Add(-time.Duration(i)*time.Minute), `{}`, secret))
		if rec.Code != 200 || rec.Body.String() != want {
			t.Fatalf("try %d: %d %q, want 200 %q", i, rec.Code, rec.Body, want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signed("msg_2", now, `{}`, secret))
	if diff := cmp.Diff([]string{"msg_1", "msg_2"}, b.ids()); diff != "" {
		t.Fatalf("processed (-want +got):\n%s", diff)
	}
}

// TestReceiverFromAssethooks sends real deliveries with package actions to
// the receiver on a loopback server, in each body format.
func TestReceiverFromAssethooks(t *testing.T) {
	t.Parallel()
	b := &bundle{}
	h, err := Handler(secret, Options{Process: func(id string, _ http.Header, _ []byte) {
		b.mu.Lock()
		b.processed = append(b.processed, id)
		b.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ev := &event.Event{ID: "evt_1", Type: "ASSET_ADDED", OccurredAt: now, Asset: map[string]any{"uuid": "a", "path": "/x.jpg"}}
	for _, format := range []string{"json", "form", "query"} {
		w, err := actions.NewWebhook(actions.WebhookConfig{URL: srv.URL, SigningSecret: secret, Body: actions.BodyConfig{Format: format}},
			actions.Options{AllowPrivate: true})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if r := w.Execute(context.Background(), &actions.Delivery{ID: "msg_" + format, Attempt: 1, Event: ev}); !r.OK() {
				t.Fatalf("%s: %+v", format, r)
			}
		}
	}
	if diff := cmp.Diff([]string{"msg_json", "msg_form", "msg_query"}, b.ids()); diff != "" {
		t.Fatalf("processed (-want +got):\n%s", diff)
	}
}

func TestHandlerRefusesBadSecret(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "secret", "whsec_!!!"} {
		if _, err := Handler(s, Options{}); err == nil {
			t.Errorf("Handler(%q) accepted", s)
		}
	}
}

// With Basic set, a delivery needs those credentials, as a CMS would want.
func TestReceiverBasicAuth(t *testing.T) {
	t.Parallel()
	b := &bundle{}
	h, err := Handler(secret, Options{Now: func() time.Time { return now }, Basic: "cms:s3cret",
		Process: func(id string, _ http.Header, _ []byte) {
			b.mu.Lock()
			b.processed = append(b.processed, id)
			b.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pass string
		status           int
	}{
		{"none", "", "", 401},
		{"wrong password", "cms", "nope", 401},
		{"right", "cms", "s3cret", 200},
	} {
		r := signed("msg_"+tc.name, now, `{}`, secret)
		if tc.user != "" {
			r.SetBasicAuth(tc.user, tc.pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.status)
		}
	}
	if diff := cmp.Diff([]string{"msg_right"}, b.ids()); diff != "" {
		t.Errorf("processed (-want +got):\n%s", diff)
	}
}
