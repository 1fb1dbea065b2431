package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

func (s *Server) routes() {
	a := s.Admin
	a.POST("/webhooks", s.wrap(s.createWebhook))
	a.GET("/webhooks", s.wrap(s.listWebhooks))
	a.GET("/webhooks/:id", s.wrap(s.getWebhook))
	a.PUT("/webhooks/:id", s.wrap(s.replaceWebhook))
	a.PATCH("/webhooks/:id", s.wrap(s.patchWebhook))
	a.DELETE("/webhooks/:id", s.wrap(s.deleteWebhook))
	a.GET("/webhooks/:id/success", s.wrap(s.log(false)))
	a.GET("/webhooks/:id/failed", s.wrap(s.log(true)))
	a.GET("/webhooks/:id/deliveries", s.wrap(s.deliveries))
	a.POST("/webhooks/:id/deliveries/:delivery_id/retry", s.wrap(s.deliveryAction(s.eng.Deliveries().Retry, http.StatusAccepted)))
	a.POST("/webhooks/:id/deliveries/:delivery_id/abort", s.wrap(s.deliveryAction(s.eng.Deliveries().Abort, http.StatusOK)))
	a.POST("/webhooks/:id/test", s.wrap(s.testWebhook))
	a.POST("/webhooks/:id/rotate-secret", s.wrap(s.rotateSecret))
	s.controlRoutes()
	a.POST("/projects", s.wrap(s.createProject))
	a.GET("/projects", s.wrap(s.listProjects))
	a.POST("/rules/validate", s.wrap(s.validateRule))
	a.POST("/rules/test", s.wrap(s.testRule))
	s.User.POST("/events", s.wrap(s.ingest))
	s.hookRoutes()
	s.discoveryRoutes()
	s.scheduleRoutes() // schedules (schedules.go)
	s.historyRoutes()
}

// WebhookView is a webhook as the API shows it: Media Pocket's fields first,
// then assethooks' own; secrets masked unless shown once on purpose.
type WebhookView struct {
	ID               int64              `json:"id"`
	Name             string             `json:"name"`
	HTTPURL          string             `json:"http_url"`
	HTTPMethod       string             `json:"http_method"`
	TriggerEvents    []string           `json:"trigger_events"`
	CreatedAt        engine.Time        `json:"created_at"`
	UpdatedAt        engine.Time        `json:"updated_at"`
	Disabled         bool               `json:"disabled"`
	ProjectID        *string            `json:"project_id"`
	QueueLength      int64              `json:"queue_length"`
	RetryQueueLength int64              `json:"retry_queue_length"`
	LatestRun        *engine.LatestRun  `json:"latest_run"`
	RuleErrors       engine.RuleErrors  `json:"rule_errors"`
	WebhookUsers     []string           `json:"webhook_users"`
	WebhookHeaders   []actions.Header   `json:"webhook_headers"`
	DisabledReason   string             `json:"disabled_reason,omitempty"`
	Kind             string             `json:"kind"`            // "webhook", or "hook" for a REST-hook subscription
	Owner            string             `json:"owner,omitempty"` // the API key id that subscribed a hook
	Hostname         string             `json:"hostname,omitempty"`
	Path             string             `json:"path,omitempty"`
	Scheme           string             `json:"scheme,omitempty"` // beside hostname: "https" or "http"
	RedundantURLs    []string           `json:"redundant_urls"`
	Condition        string             `json:"condition"`
	Folder           string             `json:"folder"`
	Body             actions.BodyConfig `json:"body"`
	Auth             actions.AuthConfig `json:"auth"`
	SigningSecret    string             `json:"signing_secret"`
	TimeoutSeconds   int                `json:"timeout_seconds"`
	RetrySchedule    []string           `json:"retry_schedule"`
	RateLimit        *int               `json:"rate_limit"` // attempts per second at most; null: none
}

// View renders a webhook with its live stats; clear shows the signing secret
// (on create and rotation only).
func View(w *engine.Webhook, st engine.Stats, clear bool) WebhookView {
	c := w.WebhookConfig.Masked()
	if clear {
		c.SigningSecret = w.SigningSecret
	}
	v := WebhookView{ID: w.ID, Name: w.Name, HTTPURL: c.URL, HTTPMethod: c.Method, TriggerEvents: w.Triggers,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, Disabled: w.Disabled, QueueLength: st.QueueLength,
		RetryQueueLength: st.RetryQueueLength, LatestRun: st.LatestRun, WebhookUsers: w.Users,
		WebhookHeaders: c.Headers, DisabledReason: w.DisabledReason, Hostname: c.Hostname, Path: c.Path, Scheme: c.Scheme,
		RedundantURLs: c.RedundantURLs, Condition: w.Condition, Folder: w.Folder, Body: c.Body, Auth: c.Auth,
		SigningSecret: c.SigningSecret, TimeoutSeconds: c.TimeoutSeconds, RetrySchedule: w.RetrySchedule,
		Kind: "webhook", Owner: w.Owner, RateLimit: w.RateLimit}
	v.RuleErrors = st.RuleErrors
	if w.Kind != engine.KindWebhook {
		v.Kind = w.Kind
	}
	if w.ProjectID != "" {
		p := w.ProjectID
		v.ProjectID = &p
	}
	if v.TriggerEvents == nil {
		v.TriggerEvents = []string{}
	}
	if v.WebhookUsers == nil {
		v.WebhookUsers = []string{}
	}
	if v.WebhookHeaders == nil {
		v.WebhookHeaders = []actions.Header{}
	}
	if v.RedundantURLs == nil {
		v.RedundantURLs = []string{}
	}
	if len(v.RetrySchedule) == 0 {
		v.RetrySchedule = DefaultRetrySchedule() // the schedule in force
	}
	if v.Body.Fields == nil {
		v.Body.Fields = []string{}
	}
	return v
}

// views renders webhooks with their stats in one round trip.
func (s *Server) views(ctx context.Context, ws []*engine.Webhook) ([]WebhookView, error) {
	ids := make([]int64, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	st, err := s.eng.Webhooks().Stats(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]WebhookView, len(ws))
	for i, w := range ws {
		out[i] = View(w, st[w.ID], false)
	}
	return out, nil
}

// answerWebhook answers 200 {"webhook": …} with its live figures; clear shows
// the signing secret (a rotation's answer).
func (s *Server) answerWebhook(c *gin.Context, w *engine.Webhook, clear bool) error {
	st, err := s.eng.Webhooks().Stats(c, []int64{w.ID})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"webhook": View(w, st[w.ID], clear)})
	return nil
}

// WebhookID parses the :id parameter: positive integers only, else 404.
func WebhookID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, problem.NotFound("webhook not found")
	}
	return id, nil
}

func (s *Server) webhook(c *gin.Context) (*engine.Webhook, error) {
	id, err := WebhookID(c)
	if err != nil {
		return nil, err
	}
	w, err := s.eng.Webhooks().Get(c, id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, problem.NotFound("webhook not found")
	}
	return w, err
}

// DecodeWebhook type-checks and validates a webhook request (Media Pocket's
// wording, the first bad field named); the project must exist. The engine
// compiles the condition, template and schedule when the webhook is saved.
func (s *Server) DecodeWebhook(ctx context.Context, m map[string]any) (*engine.Webhook, error) {
	if err := WebhookParams.Check(m); err != nil {
		return nil, err
	}
	w := &engine.Webhook{}
	name, err := Name(m, "name")
	if err != nil {
		return nil, err
	}
	w.Name = name
	cfg, err := actions.DecodeConfig(m)
	if err != nil {
		return nil, err
	}
	w.WebhookConfig = cfg
	if w.Triggers, err = Strings(m, "trigger_events", true); err != nil {
		return nil, err
	}
	if err := rules.ValidateTriggers(w.Triggers); err != nil {
		return nil, err
	}
	if w.ProjectID, err = OptString(m, "project_id"); err != nil {
		return nil, err
	}
	if v, ok := m["disabled"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return nil, problem.Invalid("disabled", v, "Must be a Boolean")
		}
		w.Disabled = b
	}
	if w.Condition, err = OptString(m, "condition"); err != nil {
		return nil, err
	}
	if w.Folder, err = OptString(m, "folder"); err != nil {
		return nil, err
	}
	if w.Folder != "" {
		if err := rules.ValidateFolder(w.Folder); err != nil {
			return nil, err
		}
	}
	if w.Users, err = Strings(m, "webhook_users", false); err != nil {
		return nil, err
	}
	if w.RetrySchedule, err = Strings(m, "retry_schedule", false); err != nil {
		return nil, err
	}
	if w.RateLimit, err = RateLimit(m); err != nil {
		return nil, err
	}
	if w.ProjectID != "" {
		ok, err := s.eng.Projects().Exists(ctx, w.ProjectID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, problem.NotFound("project not found")
		}
	}
	return w, nil
}

// Name reads a required name-like field: a non-empty string of at most
// 255 characters (422 naming the field otherwise).
func Name(m map[string]any, k string) (string, error) {
	v, ok := m[k].(string)
	if !ok || strings.TrimSpace(v) == "" || len(v) > 255 {
		why := "Must be a String"
		if ok {
			why = "Must be a non-empty String of at most 255 characters"
		}
		return "", problem.Invalid(k, m[k], why)
	}
	return v, nil
}

// OptString reads an optional string field (absent or null is "").
func OptString(m map[string]any, k string) (string, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", problem.Invalid(k, v, "Must be a String")
	}
	return s, nil
}

// Strings reads an array of strings; required makes absence an error.
func Strings(m map[string]any, k string, required bool) ([]string, error) {
	v, ok := m[k]
	if !ok || v == nil {
		if required {
			return nil, problem.Invalid(k, nil, "Must be an Array")
		}
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, problem.Invalid(k, v, "Must be an Array")
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil, problem.Invalid(k+"["+strconv.Itoa(i)+"]", x, "Must be a String")
		}
		out[i] = s
	}
	return out, nil
}

func (s *Server) createWebhook(c *gin.Context) error {
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	w, err := s.DecodeWebhook(c, m)
	if err != nil {
		return err
	}
	if err := actions.ValidateSecret(w.SigningSecret); err != nil {
		return err // a masked secret means nothing on create
	}
	if err := s.eng.Webhooks().Create(c, w); err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"webhook": View(w, engine.Stats{}, true)})
	return nil
}

func (s *Server) listWebhooks(c *gin.Context) error {
	ws, err := s.eng.Webhooks().List(c, engine.KindWebhook)
	if err != nil {
		return err
	}
	hs, err := s.eng.Webhooks().List(c, engine.KindHook) // REST-hook subscriptions are webhooks too
	if err != nil {
		return err
	}
	ws = append(ws, hs...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
	vs, err := s.views(c, ws)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"webhooks": vs})
	return nil
}

func (s *Server) getWebhook(c *gin.Context) error {
	w, err := s.webhook(c)
	if err != nil {
		return err
	}
	return s.answerWebhook(c, w, false)
}

func (s *Server) replaceWebhook(c *gin.Context) error {
	prev, err := s.webhook(c)
	if err != nil {
		return err
	}
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	return s.update(c, prev, m)
}

func (s *Server) patchWebhook(c *gin.Context) error {
	prev, err := s.webhook(c)
	if err != nil {
		return err
	}
	patch, err := s.Object(c, false)
	if err != nil {
		return err
	}
	base, err := toMap(View(prev, engine.Stats{}, false))
	if err != nil {
		return err
	}
	if len(prev.RetrySchedule) == 0 {
		delete(base, "retry_schedule") // shown, not chosen: a PATCH keeps following the default
	}
	return s.update(c, prev, mergePatch(base, patch))
}

// update validates m as the new state of prev and stores it: masked secrets
// sent back keep the stored ones, an absent signing secret keeps the current
// one, and a rotation in progress carries on.
func (s *Server) update(c *gin.Context, prev *engine.Webhook, m map[string]any) error {
	_, hasSecret := m["signing_secret"]
	w, err := s.DecodeWebhook(c, m)
	if err != nil {
		return err
	}
	w.KeepSecrets(prev.WebhookConfig)
	if !hasSecret {
		w.SigningSecret = prev.SigningSecret
	}
	if err := actions.ValidateSecret(w.SigningSecret); err != nil {
		return err // masked, but not the stored secret's mask
	}
	if w.SigningSecret == prev.SigningSecret {
		w.PreviousSecret, w.PreviousUntil = prev.PreviousSecret, prev.PreviousUntil
	}
	w.ID = prev.ID
	if err := s.eng.Webhooks().Update(c, w); err != nil {
		return err
	}
	return s.answerWebhook(c, w, false)
}

func (s *Server) deleteWebhook(c *gin.Context) error {
	w, err := s.webhook(c)
	if err != nil {
		return err
	}
	if err := s.eng.Webhooks().Delete(c, w.ID); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) log(failed bool) HandlerFunc {
	return func(c *gin.Context) error {
		w, err := s.webhook(c)
		if err != nil {
			return err
		}
		limit, err := Limit(c, 100, 1000)
		if err != nil {
			return err
		}
		ds, err := s.eng.Deliveries().Log(c, w.ID, failed, limit)
		if err != nil {
			return err
		}
		key := "success_log"
		if failed {
			key = "failed_log"
		}
		c.JSON(http.StatusOK, gin.H{key: ds})
		return nil
	}
}

// Limit reads ?limit= (def when absent, 1..max else 422).
func Limit(c *gin.Context, def, max int) (int, error) {
	v, ok := c.GetQuery("limit")
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, problem.Invalid("limit", v, "Must be an Integer from 1 to "+strconv.Itoa(max))
	}
	return n, nil
}

func (s *Server) deliveries(c *gin.Context) error {
	w, err := s.webhook(c)
	if err != nil {
		return err
	}
	if err := CheckQuery(c.Request.URL.Query(), "status", "limit", "before", "event_id"); err != nil {
		return err
	}
	status := c.Query("status")
	switch status {
	case "", engine.StatusPending, engine.StatusRetrying, engine.StatusSucceeded, engine.StatusFailed:
	default:
		return problem.Invalid("status", status, "Must be one of pending, retrying, succeeded, failed")
	}
	limit, err := Limit(c, 50, 500)
	if err != nil {
		return err
	}
	var ds []engine.Delivery
	if id, ok := c.GetQuery("event_id"); ok {
		ds, err = s.eng.Deliveries().ForEvent(c, w.ID, id)
		if err == nil && status != "" && len(ds) == 1 && ds[0].Status != status {
			ds = ds[:0]
		}
	} else {
		ds, err = s.eng.Deliveries().List(c, w.ID, status, limit, c.Query("before"))
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"deliveries": ds})
	return nil
}

// deliveryAction answers a retry or abort of one delivery of a webhook.
func (s *Server) deliveryAction(act func(context.Context, int64, string) (*engine.Delivery, error), status int) HandlerFunc {
	return func(c *gin.Context) error {
		w, err := s.webhook(c)
		if err != nil {
			return err
		}
		d, err := act(c, w.ID, c.Param("delivery_id"))
		if errors.Is(err, engine.ErrNotFound) {
			return problem.NotFound("delivery not found")
		}
		if err != nil {
			return err
		}
		c.JSON(status, gin.H{"delivery": d})
		return nil
	}
}

func (s *Server) testWebhook(c *gin.Context) error {
	w, err := s.webhook(c)
	if err != nil {
		return err
	}
	res, err := s.eng.Webhooks().Test(c, w)
	if err != nil {
		return err
	}
	var code *int
	if res.StatusCode != 0 {
		sc := res.StatusCode
		code = &sc
	}
	var msg *string
	if res.Err != nil {
		e := res.Err.Error()
		msg = &e
	}
	c.JSON(http.StatusOK, gin.H{"status_code": code, "duration_ms": res.Duration.Milliseconds(), "body": res.Body, "error": msg})
	return nil
}

func (s *Server) rotateSecret(c *gin.Context) error {
	w, err := s.webhook(c)
	if err != nil {
		return err
	}
	m, err := s.Object(c, true)
	if err != nil {
		return err
	}
	secret, err := OptString(m, "signing_secret")
	if err != nil {
		return err
	}
	if secret != "" {
		if err := actions.ValidateSecret(secret); err != nil {
			return err
		}
	}
	w, err = s.eng.Webhooks().Rotate(c, w.ID, secret)
	if err != nil {
		return err
	}
	return s.answerWebhook(c, w, true)
}
