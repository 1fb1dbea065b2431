package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// engineEnv is what every engine process gets besides its address.
type engineEnv struct {
	redisURL, prefix, apiKey, secretKey string
	workers                             int
}

// engine is one running `assethooks serve`.
type engine struct {
	cmd  *exec.Cmd
	url  string
	out  *capped       // standard output: the start-up banner
	logs *capped       // standard error: the log lines (warn and above)
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done is closed
}

// buildBinary compiles ./cmd/assethooks of the module at root into dir.
func buildBinary(ctx context.Context, root, dir string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build assethooks: no go command in PATH (or pass -binary): %w", err)
	}
	bin := filepath.Join(dir, "assethooks")
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "./cmd/assethooks")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build assethooks: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the nearest directory at or above the working directory
// that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the assethooks module (no go.mod above the working directory); run from the repository or pass -binary")
		}
		dir = parent
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startEngine starts bin serve on a free loopback port and waits, until
// deadline, for its /readyz to answer 200.
func startEngine(ctx context.Context, bin string, env engineEnv, deadline time.Duration) (*engine, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"ASSETHOOKS_ADDR="+addr,
		"ASSETHOOKS_REDIS_URL="+env.redisURL,
		"ASSETHOOKS_REDIS_PREFIX="+env.prefix,
		"ASSETHOOKS_API_KEYS="+env.apiKey+":admin",
		"ASSETHOOKS_SECRET_KEY="+env.secretKey,
		"ASSETHOOKS_ALLOW_PRIVATE_TARGETS=true",
		"ASSETHOOKS_LOG_LEVEL=warn",
	)
	if env.workers > 0 {
		cmd.Env = append(cmd.Env, "ASSETHOOKS_WORKERS="+strconv.Itoa(env.workers))
	}
	setDeathSignal(cmd)
	e := &engine{cmd: cmd, url: "http://" + addr, out: &capped{max: 4 << 10}, logs: &capped{max: 64 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = e.out, e.logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { e.err = cmd.Wait(); close(e.done) }()
	if err := e.waitReady(ctx, deadline); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// waitReady polls /readyz until it answers 200, the process exits or the
// deadline passes.
func (e *engine) waitReady(ctx context.Context, deadline time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/readyz", nil)
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		last = err
		select {
		case <-e.done:
			return fmt.Errorf("assethooks at %s exited before it was ready (%v):\n%s%s", e.url, e.err, e.out, e.logs)
		case <-ctx.Done():
			return fmt.Errorf("assethooks at %s not ready within %s (last: %v):\n%s%s", e.url, deadline, last, e.out, e.logs)
		case <-tick.C:
		}
	}
}

// pid is the process id, for /proc.
func (e *engine) pid() int { return e.cmd.Process.Pid }

// exited reports whether the process has ended.
func (e *engine) exited() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 5 s. It is idempotent.
func (e *engine) stop() {
	if e.exited() {
		return
	}
	_ = e.cmd.Process.Signal(terminate)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// cpuTicks returns the process's utime+stime so far.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// peakRSS returns the process's VmHWM in kB.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(string(b), "VmHWM")
}

// resetPeakRSS sets the process's VmHWM back to its current RSS
// (clear_refs 5, Linux 4.0 and later).
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// capped keeps the first max bytes written to it and counts the lines.
type capped struct {
	mu    sync.Mutex
	max   int
	buf   bytes.Buffer
	lines int
}

// Write keeps what fits and counts newlines.
func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines += bytes.Count(p, []byte{'\n'})
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// Lines returns how many lines were written.
func (c *capped) Lines() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

// Head returns up to n of the first lines written.
func (c *capped) Head(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := strings.Split(strings.TrimRight(c.buf.String(), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines[:min(n, len(lines))]
}

// String returns what was kept.
func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
