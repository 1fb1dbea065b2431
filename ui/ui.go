package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/event"
)

// EnvFrameAncestors names the environment variable that sets
// Config.FrameAncestors.
const EnvFrameAncestors = "ASSETHOOKS_UI_FRAME_ANCESTORS"

// DefaultFrameAncestors is the marker panel's frame-ancestors when none is
// configured: only the engine's own origin may frame it.
const DefaultFrameAncestors = "'self'"

// Config configures the UI. Its zero value is ready to use.
type Config struct {
	// FrameAncestors is the Content-Security-Policy frame-ancestors source
	// list of the marker panel: the origins of the DAM pages that may embed
	// it in an iframe, such as "'self' https://dam.example.com". Empty means
	// DefaultFrameAncestors. The admin pages always answer 'self'.
	FrameAncestors string
}

func (c *Config) setDefaults() {
	c.FrameAncestors = strings.Join(strings.Fields(c.FrameAncestors), " ")
	if c.FrameAncestors == "" {
		c.FrameAncestors = DefaultFrameAncestors
	}
}

// sourceRE is one CSP source expression that frame-ancestors accepts: a
// keyword, a scheme ("https:") or a host source with an optional scheme,
// wildcard subdomain, port and path.
var sourceRE = regexp.MustCompile(`^(?:'self'|'none'|[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*://)?(?:\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(?:[0-9]{1,5}|\*))?(?:/[A-Za-z0-9._~%!$&()*+=:@/-]*)?)$`)

// Validate reports a FrameAncestors value that is not a list of CSP source
// expressions (which could otherwise inject other directives into the
// policy); the error names the environment variable.
func (c Config) Validate() error {
	fa := strings.Fields(c.FrameAncestors)
	for _, src := range fa {
		if !sourceRE.MatchString(strings.ToLower(src)) {
			return fmt.Errorf("%s: %q is not a CSP source such as 'self', 'none', https: or https://dam.example.com", EnvFrameAncestors, src)
		}
		if src == "'none'" && len(fa) > 1 {
			return fmt.Errorf("%s: 'none' must stand alone", EnvFrameAncestors)
		}
	}
	return nil
}

// ConfigFromEnv reads the UI's configuration from the environment
// (ASSETHOOKS_UI_FRAME_ANCESTORS) and validates it.
func ConfigFromEnv() (Config, error) {
	c := Config{FrameAncestors: os.Getenv(EnvFrameAncestors)}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	c.setDefaults()
	return c, nil
}

// Routes returns what mounts the UI on an API server, for
// api.Config.Extra: every path under /ui/, and /ui redirecting there. It
// panics when cfg does not validate (check it first with ConfigFromEnv or
// Validate) or when the server's handler is not its gin engine.
func Routes(cfg Config) func(*api.Server) {
	h, err := Handler(cfg)
	if err != nil {
		panic("ui: " + err.Error())
	}
	return func(s *api.Server) {
		r, ok := s.Handler().(*gin.Engine)
		if !ok {
			panic("ui: the API server's handler is not a *gin.Engine; mount ui.Handler in front of it instead")
		}
		r.Any("/ui/*path", gin.WrapH(h))
		r.Any("/ui", gin.WrapH(h))
	}
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is one server-rendered page.
type page struct {
	file   string // template in templates/, without .html
	script string // page script in static/pages/, without .js; "" for none
	title  string
	nav    string // the nav bar item it belongs to
	panel  bool   // the embeddable marker panel: minimal layout, configured frame-ancestors
	types  bool   // renders the event-type catalogue as a datalist
}

// navItem is one entry of the nav bar.
type navItem struct{ Key, Label, Href string }

var navItems = []navItem{
	{"webhooks", "Webhooks", "/ui/webhooks"},
	{"deliveries", "Deliveries", "/ui/deliveries"},
	{"rules", "Rules", "/ui/rules"},
	{"events", "Events", "/ui/events"},
	{"markers", "Markers", "/ui/markers"},
	{"schedules", "Schedules", "/ui/schedules"},
	{"projects", "Projects", "/ui/projects"},
	{"hooks", "REST hooks", "/ui/hooks"},
}

// view is what a page template renders: the page and what its path names.
type view struct {
	Page       string
	Script     string
	Title      string
	Nav        string
	Panel      bool
	ID         string // a webhook or event id from the path
	AssetID    string // the marker panel's asset
	EventTypes []string
	NavItems   []navItem
}

// handler serves the UI.
type handler struct {
	cfg    Config
	mux    *http.ServeMux
	pages  map[string]*template.Template
	static fs.FS
}

// Handler returns the UI as an http.Handler for the paths under /ui/ (and
// /ui itself), for servers that do not mount it through Routes.
func Handler(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	h := &handler{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	var err error
	if h.static, err = fs.Sub(staticFS, "static"); err != nil {
		return nil, err
	}
	base, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]page{
		"login":      {file: "login", script: "login", title: "Sign in"},
		"webhooks":   {file: "webhooks", script: "webhooks", title: "Webhooks", nav: "webhooks"},
		"webhook":    {file: "webhook", script: "webhook", title: "Webhook", nav: "webhooks", types: true},
		"deliveries": {file: "deliveries", script: "deliveries", title: "Deliveries", nav: "deliveries"},
		"rules":      {file: "rules", script: "rules", title: "Rule editor", nav: "rules", types: true},
		"events":     {file: "events", script: "events", title: "Events and traces", nav: "events", types: true},
		"markers":    {file: "markers", script: "markers", title: "Markers", nav: "markers"},
		"schedules":  {file: "schedules", script: "schedules", title: "Schedules", nav: "schedules"},
		"projects":   {file: "projects", script: "projects", title: "Projects", nav: "projects"},
		"hooks":      {file: "hooks", script: "hooks", title: "REST hooks", nav: "hooks", types: true},
		"panel":      {file: "panel", script: "panel", title: "Markers", panel: true},
		"notfound":   {file: "notfound", title: "Not found"},
	}
	for name, p := range pages {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+p.file+".html")
		if err != nil {
			return nil, err
		}
		h.pages[name] = t
	}
	route := func(pattern, name string, params func(*http.Request, *view) bool) {
		p := pages[name]
		h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v := view{Page: name, Script: p.script, Title: p.title, Nav: p.nav, Panel: p.panel, NavItems: navItems}
			if p.types {
				v.EventTypes = event.Types()
			}
			if params != nil && !params(r, &v) {
				h.notFound(w, r)
				return
			}
			h.render(w, r, http.StatusOK, name, v)
		})
	}
	webhookID := func(r *http.Request, v *view) bool {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		v.ID = strconv.FormatInt(id, 10)
		return err == nil && id > 0
	}
	route("GET /ui/{$}", "webhooks", nil)
	route("GET /ui/login", "login", nil)
	route("GET /ui/webhooks", "webhooks", nil)
	route("GET /ui/webhooks/new", "webhook", nil)
	route("GET /ui/webhooks/{id}", "webhook", webhookID)
	route("GET /ui/webhooks/{id}/deliveries", "deliveries", webhookID)
	route("GET /ui/deliveries", "deliveries", nil)
	route("GET /ui/rules", "rules", nil)
	route("GET /ui/events", "events", nil)
	route("GET /ui/events/{id}", "events", func(r *http.Request, v *view) bool {
		v.ID = r.PathValue("id")
		return v.ID != ""
	})
	route("GET /ui/markers", "markers", nil)
	route("GET /ui/schedules", "schedules", nil)
	route("GET /ui/projects", "projects", nil)
	route("GET /ui/hooks", "hooks", nil)
	route("GET /ui/assets/{asset_id}/markers", "panel", func(r *http.Request, v *view) bool {
		v.AssetID = r.PathValue("asset_id")
		return v.AssetID != ""
	})
	h.mux.HandleFunc("GET /ui/static/{file...}", h.serveStatic)
	h.mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	})
	return h, nil
}

// policy is the Content-Security-Policy of every UI response, with the
// given frame-ancestors.
func policy(frameAncestors string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors " + frameAncestors
}

// ServeHTTP implements http.Handler: the security headers on every answer,
// GET and HEAD only, then the page, the static file or a 404 page.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	fa := "'self'"
	if isPanel(r.URL.Path) {
		fa = h.cfg.FrameAncestors
	}
	hd.Set("Content-Security-Policy", policy(fa))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.notFound(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// isPanel reports whether p is the marker panel's path.
func isPanel(p string) bool {
	rest, ok := strings.CutPrefix(p, "/ui/assets/")
	if !ok {
		return false
	}
	id, tail, ok := strings.Cut(rest, "/")
	return ok && id != "" && tail == "markers"
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}

// render writes a page; a template error is a 500 (and a bug).
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		writeJSONError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusNotFound, "notfound", view{Page: "notfound", Title: "Not found", NavItems: navItems})
}

// serveStatic serves an embedded file (never a directory listing).
func (h *handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "" || !fs.ValidPath(name) || path.Ext(name) == "" {
		h.notFound(w, r)
		return
	}
	st, err := fs.Stat(h.static, name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
		h.notFound(w, r)
		return
	}
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, h.static, name)
}
