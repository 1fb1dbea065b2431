package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// Roles of API keys.
const (
	RoleAdmin = "admin"
	RoleUser  = "user"
)

// Engine is what the API needs of the engine: ingest, rule tests and
// samples, its figures, and its stores. *engine.Engine implements it; the
// engine's lifecycle stays with the caller.
type Engine interface {
	Config() engine.Config
	Metrics() *engine.Metrics
	Ping(ctx context.Context) error
	Ingest(ctx context.Context, evs []*event.Event) ([]string, error)
	TestRule(ctx context.Context, cond *rules.Condition, ev *event.Event) (bool, []event.Change, error)
	Samples(ctx context.Context, typ string) ([]*event.Event, error)
	Webhooks() engine.Webhooks
	Deliveries() engine.Deliveries
	Projects() engine.Projects
	Markers() engine.Markers
	Assets() engine.Assets
	Schedules() engine.Schedules
	History() engine.History
}

var _ Engine = (*engine.Engine)(nil)

// Config configures a Server.
type Config struct {
	// Engine does the work and owns the stores; required.
	Engine Engine
	// Keys maps API keys to their role (admin or user).
	Keys map[string]string
	// MaxBody is the largest request body read (default 10 MiB); larger → 413.
	MaxBody int64
	// Logger receives request errors (default slog.Default()).
	Logger *slog.Logger
	// Extra registers further routes (markers, hooks) on the server.
	Extra []func(*Server)
	// Version is the product's version, the info.version of the OpenAPI
	// document (default "dev").
	Version string
}

// Server is the HTTP API.
type Server struct {
	cfg    Config
	eng    Engine
	keys   []apiKey
	router *gin.Engine
	// Admin and User are the route groups for admin-only and user routes
	// under /api/v2, for packages that add routes.
	Admin *gin.RouterGroup
	User  *gin.RouterGroup
}

type apiKey struct {
	hash [32]byte
	role string
	id   string // a stable, non-secret name for the key (owner of REST hooks)
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 10 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true // 405 with an Allow header gin fills in
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(nil)
	s := &Server{cfg: cfg, eng: cfg.Engine, router: r}
	for k, role := range cfg.Keys {
		sum := sha256.Sum256([]byte(k))
		s.keys = append(s.keys, apiKey{hash: sum, role: role, id: "key_" + fmt.Sprintf("%x", sum[:6])})
	}
	r.Use(s.recover, s.errors)
	r.NoRoute(func(c *gin.Context) { _ = c.Error(problem.NotFound("not found")) })
	r.NoMethod(func(c *gin.Context) { _ = c.Error(errMethodNotAllowed) })
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.wrap(s.ready))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.eng.Metrics().Registry, promhttp.HandlerOpts{})))

	v2 := r.Group("/api/v2", s.deadline, s.auth(RoleUser))
	s.User = v2
	s.Admin = v2.Group("/admin", s.requireAdmin)
	s.routes()
	for _, f := range cfg.Extra {
		f(s)
	}
	return s
}

// Handler returns the http.Handler that serves the API.
func (s *Server) Handler() http.Handler { return s.router }

// Engine returns the engine the server calls.
func (s *Server) Engine() Engine { return s.eng }

// HandlerFunc is a handler that returns its error for the error middleware.
type HandlerFunc func(c *gin.Context) error

// Wrap adapts a HandlerFunc to gin: a returned error is recorded for the
// error middleware, which answers it.
func (s *Server) Wrap(h HandlerFunc) gin.HandlerFunc { return s.wrap(h) }

func (s *Server) wrap(h HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			_ = c.Error(err)
		}
	}
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Logger.Error("api: panic", "path", c.FullPath(), "panic", p)
			if !c.Writer.Written() {
				c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
			}
		}
	}()
	c.Next()
}

// errors is the one place errors become HTTP answers.
func (s *Server) errors(c *gin.Context) {
	c.Next()
	if len(c.Errors) == 0 || c.Writer.Written() {
		return
	}
	err := c.Errors.Last().Err
	var pe *problem.Error
	switch {
	case errors.As(err, &pe):
		body := gin.H{"error": pe.Msg}
		for k, v := range pe.Extra {
			body[k] = v
		}
		c.AbortWithStatusJSON(statusOf(pe.Kind), body)
	case errors.Is(err, engine.ErrNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "not found"})
	case errors.Is(err, engine.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), s.eng.Ping(context.Background()) != nil:
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": "storage unavailable, try again"})
	default:
		s.cfg.Logger.Error("api: request failed", "path", c.FullPath(), "err", err)
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
	}
}

// statuses are the HTTP statuses of the error kinds.
var statuses = map[problem.Kind]int{
	problem.KindInvalid:     http.StatusUnprocessableEntity,
	problem.KindNotFound:    http.StatusNotFound,
	problem.KindConflict:    http.StatusConflict,
	problem.KindMalformed:   http.StatusBadRequest,
	problem.KindTooLarge:    http.StatusRequestEntityTooLarge,
	problem.KindUnavailable: http.StatusServiceUnavailable,
	problem.KindMethod:      http.StatusMethodNotAllowed,
}

// statusOf is the HTTP status of an error kind (500 for none).
func statusOf(k problem.Kind) int {
	if s, ok := statuses[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

const (
	ctxRole  = "assethooks.role"
	ctxKeyID = "assethooks.key"
)

// auth checks X-API-KEY in constant time against every configured key.
func (s *Server) auth(_ string) gin.HandlerFunc {
	return func(c *gin.Context) {
		given := c.GetHeader("X-API-KEY")
		sum := sha256.Sum256([]byte(given))
		var found *apiKey
		for i := range s.keys {
			if subtle.ConstantTimeCompare(sum[:], s.keys[i].hash[:]) == 1 && given != "" {
				found = &s.keys[i]
			}
		}
		if found == nil {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "Unauthorized"})
			return
		}
		c.Set(ctxRole, found.role)
		c.Set(ctxKeyID, found.id)
		c.Next()
	}
}

// StoreDeadline bounds how long an API call waits for Redis, so that a Redis
// that stopped answering yields a 503 in time rather than a hung request.
const StoreDeadline = 2 * time.Second

// deadline gives every API request a context that ends after StoreDeadline;
// work that must outlive it (a receiver's answer to a test) detaches itself.
func (s *Server) deadline(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), StoreDeadline)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

func (s *Server) requireAdmin(c *gin.Context) {
	if c.GetString(ctxRole) != RoleAdmin {
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "Not admin user"})
		return
	}
	c.Next()
}

// IsAdmin reports whether the request's key is an admin key.
func IsAdmin(c *gin.Context) bool { return c.GetString(ctxRole) == RoleAdmin }

// KeyID is a stable, non-secret name of the request's key.
func KeyID(c *gin.Context) string { return c.GetString(ctxKeyID) }

func (s *Server) ready(c *gin.Context) error {
	if err := s.eng.Ping(c); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": "redis unreachable"})
		return nil
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
	return nil
}

// errMethodNotAllowed answers a known path called with a method it does not
// serve; gin sets the Allow header beside it.
var errMethodNotAllowed = &problem.Error{Kind: problem.KindMethod, Msg: "method not allowed"}

// errTooLarge is the answer to a body over the limit.
var errTooLarge = &problem.Error{Kind: problem.KindTooLarge, Msg: "request body too large"}

// Body reads the request body up to the server's limit.
func (s *Server) Body(c *gin.Context) ([]byte, error) {
	if c.Request.ContentLength > s.cfg.MaxBody {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(c.Request.Body, s.cfg.MaxBody+1))
	if err != nil {
		return nil, problem.BadRequest("could not read the request body")
	}
	if int64(len(b)) > s.cfg.MaxBody {
		return nil, errTooLarge
	}
	return b, nil
}

// Object reads the body as one JSON object (numbers as json.Number). An empty
// body is an empty object when optional is true.
func (s *Server) Object(c *gin.Context, optional bool) (map[string]any, error) {
	b, err := s.Body(c)
	if err != nil {
		return nil, err
	}
	if optional && len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	var v any
	if err := event.UnmarshalJSONNumber(b, &v); err != nil {
		return nil, problem.BadRequest("malformed JSON: %s", jsonError(err))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, problem.BadRequest("malformed JSON: expected an object")
	}
	return m, nil
}

// jsonError says what is wrong with a body and at which byte offset (the
// number of bytes read before the error): "unexpected end of input at byte
// 57", "invalid character 'x' after top-level value at byte 51".
func jsonError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		msg := strings.Replace(se.Error(), "unexpected end of JSON input", "unexpected end of input", 1)
		return fmt.Sprintf("%s at byte %d", msg, se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
