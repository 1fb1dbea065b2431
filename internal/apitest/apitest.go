// Package apitest runs a whole assethooks (engine and HTTP API) inside a
// test, on a redistest backend, and talks to it as a client would.
package apitest

import (
	"github.com/redis/go-redis/v9"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/internal/secret"
)

// Keys used by every harness.
const (
	AdminKey = "test-admin-key"
	UserKey  = "test-user-key"
)

// Options adjust a harness.
type Options struct {
	Backend redistest.Backend // default Embedded
	Engine  engine.Config     // Box, Logger and (when Actions.Version is empty) Actions.AllowPrivate are filled in
	// Partitions is the store's number of partitions (0: store.DefaultPartitions).
	Partitions int
	Extra      []func(*api.Server)
	MaxBody    int64
}

// Harness is a running engine and API.
type Harness struct {
	T      testing.TB
	URL    string
	Engine *engine.Engine
	Server *api.Server
	Prefix string
	// Redis is the harness's Redis, for tests that look at what is stored.
	Redis redis.UniversalClient
	Logs  *LogBuffer
}

// New starts an engine and an httptest API server; both stop when the test ends.
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	if o.Backend == "" {
		o.Backend = redistest.Embedded
	}
	rdb, prefix := redistest.Open(t, o.Backend)
	cfg := o.Engine
	if cfg.Box == nil {
		box, err := secret.NewBox("test-secret-key-0123456789abcdef-0123456789")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Box = box
	}
	logs := &LogBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Actions.Version == "" {
		// Receivers in tests are loopback servers; nothing else is dialed,
		// whatever a test (or a fuzzer) names as a target.
		cfg.Actions.AllowPrivate, cfg.Actions.Version = true, "test"
		cfg.Actions.Transport = LoopbackOnly()
	}
	parts := o.Partitions
	if parts <= 0 {
		parts = store.DefaultPartitions
	}
	eng, err := engine.New(store.NewPartitioned(rdb, prefix, parts), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{Engine: eng, Keys: map[string]string{AdminKey: api.RoleAdmin, UserKey: api.RoleUser},
		Logger: cfg.Logger, Extra: o.Extra, MaxBody: o.MaxBody})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); eng.Stop() })
	return &Harness{T: t, URL: hs.URL, Engine: eng, Server: srv, Prefix: prefix, Redis: rdb, Logs: logs}
}

// Response is an API answer.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into a generic map (fails the test when it is not an object).
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// Do sends a request with key (none when ""); body is sent as is when it is
// a string or []byte, else encoded as JSON.
func (h *Harness) Do(method, path, key string, body any) Response {
	h.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.T.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		h.T.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Body: b, Header: res.Header}
}

// Admin sends a request with the admin key.
func (h *Harness) Admin(method, path string, body any) Response {
	h.T.Helper()
	return h.Do(method, path, AdminKey, body)
}

// Must sends an admin request and fails the test unless the status is want;
// it returns the decoded body.
func (h *Harness) Must(want int, method, path string, body any) map[string]any {
	h.T.Helper()
	r := h.Admin(method, path, body)
	if r.Status != want {
		h.T.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(h.T)
}

// CreateWebhook creates a webhook from a request map and returns its id.
func (h *Harness) CreateWebhook(req map[string]any) int64 {
	h.T.Helper()
	m := h.Must(http.StatusOK, "POST", "/api/v2/admin/webhooks", req)
	return int64(m["webhook"].(map[string]any)["id"].(float64))
}

// Send ingests events (one map, or several as a batch) and fails unless 202.
func (h *Harness) Send(evs ...map[string]any) []string {
	h.T.Helper()
	var body any = evs[0]
	if len(evs) > 1 {
		body = map[string]any{"events": evs}
	}
	m := h.Must(http.StatusAccepted, "POST", "/api/v2/events", body)
	var ids []string
	for _, e := range m["events"].([]any) {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	return ids
}

// Request is what a Receiver got.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Receiver is an httptest server that records every request and answers
// with Status (default 200) or with what Respond returns.
type Receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []Request
	Status  int
	Respond func(r Request) (int, string)
}

// NewReceiver starts a recording receiver, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	rc := &Receiver{Status: http.StatusOK}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: b, At: time.Now()}
		rc.mu.Lock()
		rc.got = append(rc.got, req)
		status, respond := rc.Status, rc.Respond
		rc.mu.Unlock()
		body := "ok"
		if respond != nil {
			status, body = respond(req)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// Requests returns a copy of what arrived so far.
func (rc *Receiver) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.got...)
}

// Count is how many requests arrived.
func (rc *Receiver) Count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// Wait waits until at least n requests arrived and returns them.
func (rc *Receiver) Wait(t testing.TB, n int, within time.Duration) []Request {
	t.Helper()
	redistest.Eventually(t, within, func() bool { return rc.Count() >= n }, "receiver got %d of %d requests", rc.Count(), n)
	return rc.Requests()
}

// LogBuffer collects log output for tests that scan it.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// LoopbackOnly is a transport that dials loopback addresses only (IP
// literals in 127.0.0.0/8 or ::1, and "localhost"), refusing any other host
// without resolving it, so that a test never sends traffic off the machine.
func LoopbackOnly() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		MaxIdleConnsPerHost: 256,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
				return nil, fmt.Errorf("apitest: %s is not a loopback address; tests dial loopback only", host)
			}
			return d.DialContext(ctx, network, addr)
		},
	}
}
