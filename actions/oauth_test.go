package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tokenServer is a loopback OAuth2 token endpoint. It hands out tok-1,
// tok-2, … and records how each request authenticated.
type tokenServer struct {
	*httptest.Server
	fetches     atomic.Int32
	expiresIn   int
	refuseBasic bool
	mu          sync.Mutex
	seen        []map[string]string
}

func newTokenServer(t *testing.T, expiresIn int, refuseBasic bool) *tokenServer {
	t.Helper()
	ts := &tokenServer{expiresIn: expiresIn, refuseBasic: refuseBasic}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got := map[string]string{}
		if u, p, ok := r.BasicAuth(); ok {
			got["basic"] = u + ":" + p
		}
		for _, k := range []string{"grant_type", "client_id", "client_secret", "username", "password", "scope"} {
			if v := r.PostForm.Get(k); v != "" {
				got[k] = v
			}
		}
		ts.mu.Lock()
		ts.seen = append(ts.seen, got)
		ts.mu.Unlock()
		if ts.refuseBasic && got["basic"] != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		n := ts.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": ts.expiresIn})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) requests() []map[string]string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]map[string]string(nil), ts.seen...)
}

// authReceiver accepts only the tokens in ok and records every
// Authorization it saw.
func authReceiver(t *testing.T, ok ...string) *receiver {
	return newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		for _, tok := range ok {
			if r.Header.Get("Authorization") == "Bearer "+tok {
				return
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
}

func clientCreds(tokenURL string) AuthConfig {
	return AuthConfig{Type: AuthOAuth2, TokenURL: tokenURL, ClientID: "cid", ClientSecret: "csecret", Scope: "hooks write"}
}

func TestOAuth2OneFetchForManyDeliveries(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 3600, false)
	rcv := authReceiver(t, "tok-1")
	w := setup(t, WebhookConfig{URL: rcv.URL, Auth: clientCreds(ts.URL)})
	if n := ts.fetches.Load(); n != 0 {
		t.Fatalf("NewWebhook fetched %d tokens; want none before the first delivery", n)
	}
	ev := sampleEvent(t)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Go(func() {
			if r := w.Execute(context.Background(), &Delivery{ID: fmt.Sprint("m", i), Attempt: 1, Event: ev}); !r.OK() {
				t.Error(r.Err)
			}
		})
	}
	wg.Wait()
	if n := ts.fetches.Load(); n != 1 {
		t.Fatalf("%d token fetches for 100 deliveries, want 1", n)
	}
	if n := len(rcv.requests()); n != 100 {
		t.Fatalf("receiver got %d requests", n)
	}
	// Client credentials arrive as HTTP Basic, not in the body.
	want := []map[string]string{{"basic": "cid:csecret", "grant_type": "client_credentials", "scope": "hooks write"}}
	if diff := cmp.Diff(want, ts.requests()); diff != "" {
		t.Fatalf("token request (-want +got):\n%s", diff)
	}
}

func TestOAuth2RefetchAfter401(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 3600, false)
	rcv := authReceiver(t, "tok-2")
	w := setup(t, WebhookConfig{URL: rcv.URL, Auth: clientCreds(ts.URL)})
	r := deliver(t, w, sampleEvent(t))
	if !r.OK() {
		t.Fatalf("Result = %+v", r)
	}
	var auths []string
	for _, req := range rcv.requests() {
		auths = append(auths, req.Header.Get("Authorization"))
	}
	if diff := cmp.Diff([]string{"Bearer tok-1", "Bearer tok-2"}, auths); diff != "" {
		t.Fatalf("requests (-want +got):\n%s", diff)
	}
	if n := ts.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}

	// A receiver that keeps answering 401: one refetch, one retry, then the 401.
	ts2 := newTokenServer(t, 3600, false)
	never := authReceiver(t)
	r = deliver(t, setup(t, WebhookConfig{URL: never.URL, Auth: clientCreds(ts2.URL)}), sampleEvent(t))
	if r.StatusCode != 401 || r.OK() {
		t.Fatalf("Result = %+v, want the 401", r)
	}
	if f, n := ts2.fetches.Load(), len(never.requests()); f != 2 || n != 2 {
		t.Fatalf("%d fetches and %d requests, want 2 and 2", f, n)
	}
}

func TestOAuth2ExpiredTokenRefreshed(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 1, false)
	rcv := authReceiver(t, "tok-1", "tok-2")
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	w, err := NewWebhook(WebhookConfig{URL: rcv.URL, SigningSecret: testSecret, Auth: clientCreds(ts.URL)},
		Options{AllowPrivate: true, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent(t)
	for i := 0; i < 3; i++ {
		if r := deliver(t, w, ev); !r.OK() {
			t.Fatal(r.Err)
		}
	}
	if n := ts.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches while the token is fresh, want 1", n)
	}
	clock.Add(int64(2 * time.Second))
	if r := deliver(t, w, ev); !r.OK() {
		t.Fatal(r.Err)
	}
	if n := ts.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after expiry, want 2", n)
	}
	if got := rcv.last(t).Header.Get("Authorization"); got != "Bearer tok-2" {
		t.Fatalf("Authorization = %q after refresh", got)
	}
}

func TestOAuth2EarlyRefresh(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 3600, false)
	rcv := authReceiver(t, "tok-1", "tok-2")
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	w, _ := NewWebhook(WebhookConfig{URL: rcv.URL, SigningSecret: testSecret, Auth: clientCreds(ts.URL)},
		Options{AllowPrivate: true, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	deliver(t, w, sampleEvent(t))
	clock.Add(int64(3595 * time.Second)) // 5 s before expiry: inside the early-refresh window
	deliver(t, w, sampleEvent(t))
	if n := ts.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want a refresh before expiry", n)
	}
}

func TestOAuth2EndpointRefusingBasic(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 3600, true)
	rcv := authReceiver(t, "tok-1")
	if r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL, Auth: clientCreds(ts.URL)}), sampleEvent(t)); !r.OK() {
		t.Fatal(r.Err)
	}
	want := []map[string]string{
		{"basic": "cid:csecret", "grant_type": "client_credentials", "scope": "hooks write"},
		{"client_id": "cid", "client_secret": "csecret", "grant_type": "client_credentials", "scope": "hooks write"},
	}
	if diff := cmp.Diff(want, ts.requests()); diff != "" {
		t.Fatalf("token requests (-want +got):\n%s", diff)
	}
}

func TestOAuth2PasswordGrant(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 3600, false)
	rcv := authReceiver(t, "tok-1")
	auth := AuthConfig{Type: AuthOAuth2, TokenURL: ts.URL, Username: "ana", Password: "pw", ClientID: "cid", ClientSecret: "cs"}
	if r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL, Auth: auth}), sampleEvent(t)); !r.OK() {
		t.Fatal(r.Err)
	}
	want := []map[string]string{{"basic": "cid:cs", "grant_type": "password", "username": "ana", "password": "pw"}}
	if diff := cmp.Diff(want, ts.requests()); diff != "" {
		t.Fatalf("token request (-want +got):\n%s", diff)
	}
}

func TestOAuth2EndpointFailure(t *testing.T) {
	t.Parallel()
	bad := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		fmt.Fprint(w, `{"error":"server_error","echo":"csecret"}`)
	})
	rcv := newReceiver(t, nil)
	r := deliver(t, setup(t, WebhookConfig{URL: rcv.URL, RedundantURLs: []string{rcv.URL + "/backup"}, Auth: clientCreds(bad.URL)}), sampleEvent(t))
	if r.OK() || r.StatusCode != 0 || r.Err.Error() != "oauth2 token: endpoint answered 500 Internal Server Error (server_error)" {
		t.Fatalf("Result = %+v", r)
	}
	if strings.Contains(r.Err.Error(), "csecret") {
		t.Fatal("error leaks the client secret")
	}
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("receiver got %d requests without a token", n)
	}
	// One fetch: credentials in Basic, then (auto-detect) in the body; not
	// one more for the redundant URL.
	if n := len(bad.requests()); n != 2 {
		t.Fatalf("token endpoint asked %d times in one attempt, want 2", n)
	}

	// The token endpoint goes through the SSRF guard too.
	ts := newTokenServer(t, 3600, false)
	w, _ := NewWebhook(WebhookConfig{URL: "http://192.0.2.1/hook", SigningSecret: testSecret, Auth: clientCreds(ts.URL)}, Options{})
	r = w.Execute(context.Background(), &Delivery{ID: "m", Attempt: 1, Event: sampleEvent(t)})
	if r.OK() || !strings.HasPrefix(r.Err.Error(), "oauth2 token: refused: 127.0.0.1 is a loopback address") {
		t.Fatalf("Result = %+v, want the token endpoint refused", r)
	}
	if n := ts.fetches.Load(); n != 0 {
		t.Fatal("the guarded token request reached the server")
	}
}
