package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
)

// Zapier-style REST hooks (SPEC §3.5): a subscription is an engine.Webhook of
// kind engine.KindHook owned by the calling key, with one trigger, a JSON
// body and a generated signing secret. The engine removes it when its
// target answers 410 Gone. Admins see them among the webhooks.

func (s *Server) hookRoutes() {
	u := s.User
	u.POST("/hooks", s.wrap(s.subscribe))
	u.GET("/hooks", s.wrap(s.listHooks))
	u.GET("/hooks/sample", s.wrap(s.sampleHooks))
	u.DELETE("/hooks/:id", s.wrap(s.unsubscribe))
}

// HookView is a REST-hook subscription as GET /api/v2/hooks shows it.
type HookView struct {
	ID        int64       `json:"id"`
	TargetURL string      `json:"target_url"`
	Event     string      `json:"event"`
	Condition string      `json:"condition"`
	CreatedAt engine.Time `json:"created_at"`
}

func hookView(w *engine.Webhook) HookView {
	v := HookView{ID: w.ID, TargetURL: w.URL, Condition: w.Condition, CreatedAt: w.CreatedAt}
	if len(w.Triggers) > 0 {
		v.Event = w.Triggers[0]
	}
	return v
}

// renamed returns err with its field from renamed to to (the webhook
// validation names http_url where a hook says target_url).
func renamed(err error, from, to string) error {
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Field != from {
		return err
	}
	cp := *pe
	cp.Field = to
	cp.Msg = strings.Replace(pe.Msg, "'"+from+"'", "'"+to+"'", 1)
	return &cp
}

func (s *Server) subscribe(c *gin.Context) error {
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	if err := HookParams.Check(m); err != nil {
		return err
	}
	target, ok := m["target_url"].(string)
	if !ok {
		return problem.Invalid("target_url", m["target_url"], "Must be a String")
	}
	cfg, err := actions.DecodeConfig(map[string]any{"http_url": target, "http_method": "POST"})
	if err != nil {
		return renamed(err, "http_url", "target_url")
	}
	typ, ok := m["event"].(string)
	if !ok {
		return problem.Invalid("event", m["event"], "Must be a String")
	}
	if !event.Known(typ) {
		return problem.Invalid("event", typ, event.UnknownType)
	}
	cond, err := OptString(m, "condition")
	if err != nil {
		return err
	}
	owner := KeyID(c)
	w := &engine.Webhook{Name: "REST hook " + typ + " (" + owner + ")", Kind: engine.KindHook, Owner: owner,
		Triggers: []string{typ}, Condition: cond, WebhookConfig: cfg}
	if err := s.eng.Webhooks().Create(c, w); err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"id": w.ID})
	return nil
}

func (s *Server) listHooks(c *gin.Context) error {
	ws, err := s.eng.Webhooks().List(c, engine.KindHook)
	if err != nil {
		return err
	}
	out := make([]HookView, 0, len(ws))
	for _, w := range ws {
		if IsAdmin(c) || w.Owner == KeyID(c) {
			out = append(out, hookView(w))
		}
	}
	c.JSON(http.StatusOK, gin.H{"hooks": out})
	return nil
}

// unsubscribe deletes a subscription of the calling key (any, for an admin
// key); anything else is a 404, so that ids of others are not revealed.
func (s *Server) unsubscribe(c *gin.Context) error {
	id, err := WebhookID(c)
	if err != nil {
		return problem.NotFound("hook not found")
	}
	w, err := s.eng.Webhooks().Get(c, id)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && (w.Kind != engine.KindHook || (!IsAdmin(c) && w.Owner != KeyID(c)))) {
		return problem.NotFound("hook not found")
	}
	if err != nil {
		return err
	}
	if err := s.eng.Webhooks().Delete(c, id); errors.Is(err, engine.ErrNotFound) {
		return problem.NotFound("hook not found")
	} else if err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// sampleHooks answers recent payloads of an event type (a synthetic one when
// none was seen), each exactly the JSON a subscription is sent.
func (s *Server) sampleHooks(c *gin.Context) error {
	typ := c.Query("event")
	if typ == "" {
		return problem.Invalid("event", nil, "Must be a String")
	}
	if !event.Known(typ) {
		return problem.Invalid("event", typ, event.UnknownType)
	}
	evs, err := s.eng.Samples(c, typ)
	if err != nil {
		return err
	}
	// Written by hand, not re-encoded, so that each element is byte for
	// byte the body a subscriber gets (no HTML escaping, numbers as they came).
	out := []byte{'['}
	for i, ev := range evs {
		b, err := actions.JSONBody(ev, nil, nil)
		if err != nil {
			return err
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", append(out, ']'))
	return nil
}
