package ui_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/markers"
	"github.com/assethooks/assethooks/ui"
)

// step bounds every browser step; the machine may be busy compiling.
const step = 30 * time.Second

// setup starts an engine with the API, the markers and the UI, on the
// embedded backend. A delivery gets one try (an empty retry schedule), so a
// receiver's failure shows as a failed delivery at once.
func setup(t *testing.T, cfg ui.Config) *apitest.Harness {
	t.Helper()
	return apitest.New(t, apitest.Options{
		Engine: engine.Config{RetrySchedule: []time.Duration{}},
		Extra:  []func(*api.Server){markers.Routes, ui.Routes(cfg)},
	})
}

// chromium finds Debian's chromium, or "".
func chromium() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// tab is one headless browser tab pointed at a harness.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string // the engine's URL

	mu  sync.Mutex
	bad []string // console exceptions and CSP violations
	ok  []string // reports provoked on purpose (see expect)
}

// newTab starts a headless chromium with a fresh profile. Without chromium
// the test is skipped, unless REQUIRE_BROWSER=1 makes that a failure. At
// the end, any uncaught exception or Content-Security-Policy violation the
// pages reported fails the test.
func newTab(t *testing.T, base string) *tab {
	t.Helper()
	path := chromium()
	if path == "" {
		if os.Getenv("REQUIRE_BROWSER") == "1" {
			t.Fatal("REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)")
		}
		t.Skip("chromium is not installed; REQUIRE_BROWSER=1 makes this a failure")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		// Pages here talk to loopback only; no name the browser itself
		// might look up (updates, reporting) resolves.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	tb := &tab{t: t, ctx: ctx, base: base}
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || m.Source == "violation" ||
				strings.Contains(m.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.bad = append(tb.bad, string(m.Type)+": "+m.Text+" ("+m.URL+")")
				tb.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, b := range tb.bad {
			if !tb.allowed(b) {
				t.Errorf("the page reported: %s", b)
			}
		}
	})
	return tb
}

// expect lets reports containing s pass (a test that provokes a refusal).
func (b *tab) expect(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ok = append(b.ok, s)
}

// allowed is called with b.mu held.
func (b *tab) allowed(report string) bool {
	for _, s := range b.ok {
		if strings.Contains(report, s) {
			return true
		}
	}
	return false
}

// do runs steps within the step deadline; a failure shows the page's text.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v\n--- page %s ---\n%s", err, b.location(), b.pageText())
	}
}

// open navigates to a UI path and waits for sel to be visible.
func (b *tab) open(path, sel string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	l, _ := chromedp.Run(ctx, chromedp.Location())
	return l
}

func (b *tab) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// text is the textContent of the first element sel matches ("" when none).
func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.PollFunction[string](
		`(sel) => { const e = document.querySelector(sel); return e ? e.textContent : ""; }`,
		chromedp.WithPollingArgs(sel), chromedp.WithPollingTimeout(step)))
	if err != nil && !errors.Is(err, chromedp.ErrPollingTimeout) {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// poll waits until the page function, called with args, returns true. A
// navigation while it waits (a poll does not survive one) starts it again
// in the new page, until the deadline.
func (b *tab) poll(fn string, args ...any) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithDeadline(b.ctx, deadline)
		_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](fn, chromedp.WithPollingArgs(args...),
			chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil || time.Now().After(deadline) || !navigated(err) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // let the new document start
	}
}

// navigated reports an error of a page function whose page went away.
func navigated(err error) bool {
	s := err.Error()
	return strings.Contains(s, "navigated or closed") || strings.Contains(s, "context was destroyed") ||
		strings.Contains(s, "Cannot find context")
}

// waitText waits until the element sel matches holds want in its text.
func (b *tab) waitText(sel, want string) {
	b.t.Helper()
	err := b.poll(`(sel, want) => { const e = document.querySelector(sel); return !!e && e.textContent.includes(want); }`, sel, want)
	if err != nil {
		b.t.Fatalf("waiting for %q in %s: %v; it holds %q\n--- page %s ---\n%s", want, sel, err, b.text(sel), b.location(), b.pageText())
	}
}

// waitJS waits until a JavaScript expression is truthy.
func (b *tab) waitJS(expr string) {
	b.t.Helper()
	if err := b.poll(`() => !!(` + expr + `)`); err != nil {
		b.t.Fatalf("waiting for %s: %v\n--- page %s ---\n%s", expr, err, b.location(), b.pageText())
	}
}

// signIn types key on the sign-in page and waits for the page it leads to.
func (b *tab) signIn(key, then string) {
	b.t.Helper()
	b.open("/ui/login", "#key")
	b.do(chromedp.SendKeys(chromedp.CSS("#key"), key), chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS(then)))
}
