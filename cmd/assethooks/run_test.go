package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/assethooks/assethooks/internal/redistest"
)

// interrupt starts cmd in its own process group, waits until its output says
// it listens, sends SIGINT to the whole group (what Ctrl-C in a terminal
// does) and returns the output and the exit error.
func interrupt(t *testing.T, cmd *exec.Cmd) (string, error) {
	t.Helper()
	out := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	text := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return out.w.(*bytes.Buffer).String()
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	redistest.Eventually(t, 3*time.Minute, func() bool { return strings.Contains(text(), "listening on") }, "started: %s", text())
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		return text(), err
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGINT:\n%s", text())
	}
	return "", nil
}

// serve returns nil on SIGINT: the process exits 0.
func TestServeExitsZeroOnInterrupt(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ASSETHOOKS_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)), "ASSETHOOKS_REDIS_URL=", "ASSETHOOKS_API_KEYS=")
	if out, err := interrupt(t, cmd); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, out)
	}
}

// `make run` says it is building before it builds, and Ctrl-C ends it
// cleanly: the binary exits 0, so make reports no error. (GNU make, which
// gets the terminal's SIGINT too, then re-raises it on itself once its child
// is done; a Makefile cannot change that, so make's own status is either 0
// or "killed by SIGINT", never an error exit.)
func TestMakeRun(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "run")
	cmd.Dir = "../.."
	// As from a terminal, also when the test itself runs under make test.
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKELEVEL" && k != "MAKEFLAGS" && k != "MFLAGS" {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "ASSETHOOKS_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)), "ASSETHOOKS_REDIS_URL=", "ASSETHOOKS_API_KEYS=")
	out, err := interrupt(t, cmd)
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
		t.Fatalf("make run after Ctrl-C: %v\n%s", err, out)
	}
	first := strings.SplitN(out, "\n", 2)[0]
	if !strings.Contains(first, "building") {
		t.Errorf("the first line must say it is building, got %q", first)
	}
	if strings.Contains(out, "Error") || strings.Contains(out, "***") {
		t.Errorf("make reported an error:\n%s", out)
	}
}
