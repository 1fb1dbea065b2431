package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/internal/redistest"
)

// bin is the assethooks binary the fault tests run, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "assethooks-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "assethooks")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build assethooks: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminKey = "fault-test-admin-key"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// child is a running `assethooks serve`.
type child struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan struct{}
}

// serveChild starts the binary with the test's settings (env, KEY=value,
// adds to them or overrides them) and waits for /healthz.
func serveChild(t *testing.T, addr, redisURL, prefix string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"ASSETHOOKS_ADDR="+addr,
		"ASSETHOOKS_REDIS_URL="+redisURL,
		"ASSETHOOKS_REDIS_PREFIX="+prefix,
		"ASSETHOOKS_API_KEYS="+adminKey+":admin",
		"ASSETHOOKS_SECRET_KEY=fault-test-secret-key-0123456789abcdef",
		"ASSETHOOKS_ALLOW_PRIVATE_TARGETS=true",
		"ASSETHOOKS_CLAIM_IDLE=2s",
		"ASSETHOOKS_WORKERS=64",
		"ASSETHOOKS_LOG_LEVEL=warn",
	)
	cmd.Env = append(cmd.Env, env...)
	c := &child{cmd: cmd, url: "http://" + addr, logs: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: c.logs}, &lockedWriter{w: c.logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("assethooks output:\n%s", c.logs.String())
		}
	})
	redistest.Eventually(t, 20*time.Second, func() bool {
		res, err := http.Get(c.url + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	}, "assethooks serve up at %s", addr)
	return c
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// call sends a request with the admin key and returns status and body.
func call(client *http.Client, method, url string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-API-KEY", adminKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out, nil
}

// sink is a receiver that records, per event id, the webhook-ids and the
// number of requests that carried it.
type sink struct {
	*httptest.Server
	mu    sync.Mutex
	ids   map[string]map[string]bool // event id → webhook-ids
	total int
}

func newSink(t *testing.T) *sink {
	s := &sink{ids: map[string]map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ ID string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &p)
		s.mu.Lock()
		if s.ids[p.ID] == nil {
			s.ids[p.ID] = map[string]bool{}
		}
		s.ids[p.ID][r.Header.Get("webhook-id")] = true
		s.total++
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) counts() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids), s.total
}

func createWebhook(t *testing.T, base, target string) {
	t.Helper()
	st, body, err := call(http.DefaultClient, "POST", base+"/api/v2/admin/webhooks",
		map[string]any{"name": "sink", "http_url": target, "trigger_events": []string{"ASSET_ADDED"}})
	if err != nil || st != 200 {
		t.Fatalf("create webhook: %d %s %v", st, body, err)
	}
}

func batch(from, n int, prefix string) map[string]any {
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = map[string]any{"id": fmt.Sprintf("%s-%d", prefix, from+i), "type": "ASSET_ADDED",
			"asset": map[string]any{"uuid": fmt.Sprintf("asset-%d", from+i)}}
	}
	return map[string]any{"events": evs}
}

// TestKillUnderLoad: a serving process is killed with SIGKILL while it
// delivers 10,000 events and started again; every event reaches the
// receiver at least once, and the duplicates share their webhook-id.
func TestKillUnderLoad(t *testing.T) {
	_, prefix := redistest.Open(t, redistest.Real)
	redisURL := "redis://" + redistest.Addr()
	rc := newSink(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := serveChild(t, addr, redisURL, prefix)
	createWebhook(t, c.url, rc.URL)
	const n = 10000
	for i := 0; i < n; i += 500 {
		st, body, err := call(http.DefaultClient, "POST", c.url+"/api/v2/events", batch(i, 500, "evt_kill"))
		if err != nil || st != http.StatusAccepted {
			t.Fatalf("ingest: %d %s %v", st, body, err)
		}
	}
	redistest.Eventually(t, 60*time.Second, func() bool { d, _ := rc.counts(); return d >= n/10 }, "deliveries started")
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
	atKill, _ := rc.counts()
	if atKill >= n {
		t.Fatalf("all %d delivered before the kill: the test proved nothing", n)
	}
	killed := time.Now()
	serveChild(t, addr, redisURL, prefix)
	redistest.Eventually(t, 90*time.Second, func() bool { d, _ := rc.counts(); return d == n },
		"every event delivered after the restart")
	distinct, total := rc.counts()
	rc.mu.Lock()
	for ev, hooks := range rc.ids {
		if len(hooks) != 1 {
			t.Errorf("event %s arrived under %d webhook-ids: %v", ev, len(hooks), hooks)
		}
	}
	rc.mu.Unlock()
	t.Logf("kill test: %d delivered before SIGKILL, all %d within %s of it; %d requests, %d duplicates (each with its original webhook-id)",
		atKill, distinct, time.Since(killed).Round(time.Millisecond), total, total-distinct)
}

// redisServer is a redis-server the test owns, with fsync'ed AOF.
type redisServer struct {
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(t *testing.T, port int, dir string) *redisServer {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Skipf("redis-server: %v", err)
	}
	r := &redisServer{port: port, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-r.done })
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer rdb.Close()
	redistest.Eventually(t, 10*time.Second, func() bool {
		return rdb.Ping(context.Background()).Err() == nil
	}, "redis-server on %d up", port)
	return r
}

func (r *redisServer) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// TestRedisRestart: the test's own redis-server is killed under load and
// started again from its append-only file. While it is down the API answers
// 503 within 2 s and /readyz answers 503; afterwards the same serving process
// goes on by itself and every event that got a 202 is delivered.
func TestRedisRestart(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if redistest.Required() {
			t.Fatal("REQUIRE_REDIS=1 but no redis-server binary")
		}
		t.Skip("no redis-server binary")
	}
	port, dir := freePort(t), t.TempDir()
	rs := startRedis(t, port, dir)
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d", port)
	rc := newSink(t)
	c := serveChild(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), redisURL, "{assethooks}")
	createWebhook(t, c.url, rc.URL)

	var mu sync.Mutex
	var accepted []string
	var refused, unclear int
	stop := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		client := &http.Client{Timeout: 5 * time.Second}
		for i := 0; ; i += 20 {
			select {
			case <-stop:
				return
			default:
			}
			b := batch(i, 20, "evt_rr")
			st, _, err := call(client, "POST", c.url+"/api/v2/events", b)
			mu.Lock()
			switch {
			case err == nil && st == http.StatusAccepted:
				for _, ev := range b["events"].([]map[string]any) {
					accepted = append(accepted, ev["id"].(string))
				}
			case err == nil && st == http.StatusServiceUnavailable:
				refused++
			default:
				unclear++
			}
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }
	redistest.Eventually(t, 20*time.Second, func() bool { return count() >= 1000 }, "load before the restart")
	rs.kill()
	down := count()

	for _, path := range []string{"/api/v2/events", "/readyz"} {
		start := time.Now()
		method, body := "POST", any(batch(0, 1, "evt_down"))
		if path == "/readyz" {
			method, body = "GET", nil
		}
		st, b, err := call(http.DefaultClient, method, c.url+path, body)
		if took := time.Since(start); err != nil || st != http.StatusServiceUnavailable || took > 2*time.Second {
			t.Errorf("%s %s with Redis down: %d %s %v after %s; want 503 within 2s", method, path, st, b, err, took)
		}
	}

	startRedis(t, port, dir)
	redistest.Eventually(t, 20*time.Second, func() bool { return count() >= down+1000 }, "load after the restart")
	close(stop)
	<-loaded
	select {
	case <-c.done:
		t.Fatal("assethooks exited when Redis went away")
	default:
	}
	mu.Lock()
	ids := append([]string(nil), accepted...)
	mu.Unlock()
	redistest.Eventually(t, 60*time.Second, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, id := range ids {
			if rc.ids[id] == nil {
				return false
			}
		}
		return true
	}, "every accepted event delivered")
	distinct, total := rc.counts()
	t.Logf("redis restart: %d events accepted (%d before the kill), %d batches refused with 503, %d unclear; receiver got %d events in %d requests",
		len(ids), down, refused, unclear, distinct, total)
	if strings.Contains(c.logs.String(), "panic") {
		t.Errorf("panic in the output")
	}
}
