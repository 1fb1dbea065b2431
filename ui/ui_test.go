package ui_test

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/ui"
)

func TestEveryAnswerIsLockedDown(t *testing.T) {
	t.Parallel()
	h := setup(t, ui.Config{FrameAncestors: "'self' https://dam.example.com"})
	tests := []struct {
		name, method, path string
		status             int
		frameAncestors     string
	}{
		{"home", "GET", "/ui/", 200, "'self'"},
		{"sign-in page", "GET", "/ui/login", 200, "'self'"},
		{"webhook form", "GET", "/ui/webhooks/new", 200, "'self'"},
		{"webhook page", "GET", "/ui/webhooks/7", 200, "'self'"},
		{"deliveries", "GET", "/ui/webhooks/7/deliveries", 200, "'self'"},
		{"trace", "GET", "/ui/events/evt_1", 200, "'self'"},
		{"script", "GET", "/ui/static/app.js", 200, "'self'"},
		{"head of a page", "HEAD", "/ui/rules", 200, "'self'"},
		{"marker panel", "GET", "/ui/assets/a-1/markers", 200, "'self' https://dam.example.com"},
		{"unknown page", "GET", "/ui/nothing", 404, "'self'"},
		{"webhook id not a number", "GET", "/ui/webhooks/abc", 404, "'self'"},
		{"webhook id zero", "GET", "/ui/webhooks/0", 404, "'self'"},
		{"static folder", "GET", "/ui/static/pages", 404, "'self'"},
		{"static listing", "GET", "/ui/static/", 404, "'self'"},
		{"missing file", "GET", "/ui/static/nope.js", 404, "'self'"},
		{"a POST", "POST", "/ui/login", 405, "'self'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.Do(tt.method, tt.path, "", nil)
			if r.Status != tt.status {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, r.Status, tt.status)
			}
			want := "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
				"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors " + tt.frameAncestors
			if got := r.Header.Get("Content-Security-Policy"); got != want {
				t.Errorf("CSP:\n got %s\nwant %s", got, want)
			}
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := r.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy %q", got)
			}
		})
	}
	if r := h.Do("POST", "/ui/login", "", nil); r.Header.Get("Allow") != "GET, HEAD" || string(r.Body) != "{\"error\":\"method not allowed\"}\n" {
		t.Errorf("405: Allow %q, body %s", r.Header.Get("Allow"), r.Body)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(h.URL + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("/ui: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The API is still the API beside the UI.
	if r := h.Do("GET", "/api/v2/admin/webhooks", apitest.AdminKey, nil); r.Status != 200 {
		t.Errorf("the API answers %d", r.Status)
	}
	if r := h.Do("GET", "/api/v2/uix", "", nil); r.Status != 401 && r.Status != 404 {
		t.Errorf("an unknown API path answers %d", r.Status)
	}
}

func TestPathValuesAreEscaped(t *testing.T) {
	t.Parallel()
	h := setup(t, ui.Config{})
	r := h.Do("GET", `/ui/assets/%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E/markers`, "", nil)
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	if strings.Contains(string(r.Body), "<script>alert") {
		t.Errorf("the asset id is in the page unescaped:\n%s", r.Body)
	}
	if !strings.Contains(string(r.Body), `data-asset-id="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`) {
		t.Errorf("the asset id is not in the page, escaped:\n%s", r.Body)
	}
}

// TestNoInlineScriptsOrHTMLFromData reads the embedded files: no inline
// script, handler or style in the templates (the CSP would refuse them), and
// no script builds HTML from strings (data goes in as text).
func TestNoInlineScriptsOrHTMLFromData(t *testing.T) {
	t.Parallel()
	inline := []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`<script(?:(?:\s(?:defer|async))*)>`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)javascript:`),
	}
	html := []*regexp.Regexp{
		regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function`),
		regexp.MustCompile(`localStorage|document\.cookie`),
	}
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var res []*regexp.Regexp
		switch filepath.Ext(path) {
		case ".html":
			res = inline
		case ".js":
			res = html
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for _, re := range res {
			if loc := re.FindIndex(b); loc != nil {
				t.Errorf("%s: %q", path, b[loc[0]:min(len(b), loc[1]+40)])
			}
		}
		return nil
	})
	if err != nil || checked < 20 {
		t.Fatalf("checked %d files: %v", checked, err)
	}
}

func TestFrameAncestorsSetting(t *testing.T) {
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"empty is the default", "", true},
		{"self", "'self'", true},
		{"none", "'none'", true},
		{"several origins", "'self' https://dam.example.com https://*.example.org:8443", true},
		{"a scheme", "https:", true},
		{"a directive smuggled in", "'self'; script-src *", false},
		{"a quote", `"self"`, false},
		{"unsafe-inline is no source here", "'unsafe-inline'", false},
		{"none with others", "'none' https://dam.example.com", false},
		{"a comma", "https://a.example.com,https://b.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(ui.EnvFrameAncestors, tt.value)
			cfg, err := ui.ConfigFromEnv()
			if (err == nil) != tt.ok {
				t.Fatalf("ConfigFromEnv(%q) = %v, want ok=%v", tt.value, err, tt.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), ui.EnvFrameAncestors) {
					t.Errorf("the error does not name the variable: %v", err)
				}
				return
			}
			want := tt.value
			if want == "" {
				want = ui.DefaultFrameAncestors
			}
			if cfg.FrameAncestors != want {
				t.Errorf("FrameAncestors %q, want %q", cfg.FrameAncestors, want)
			}
		})
	}
}

func TestHandlerRefusesABadSetting(t *testing.T) {
	t.Parallel()
	if _, err := ui.Handler(ui.Config{FrameAncestors: "* ; sandbox"}); err == nil {
		t.Fatal("Handler accepted a frame-ancestors value with a directive in it")
	}
}
