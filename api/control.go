package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/problem"
)

// Delivery control (SPEC §3.9): a webhook's rate_limit, and recovering and
// replaying a window of its deliveries.

func (s *Server) controlRoutes() {
	a := s.Admin
	a.POST("/webhooks/:id/recover", s.wrap(s.recoverDeliveries))
	a.POST("/webhooks/:id/replay", s.wrap(s.replayEvents))
}

// ControlDeadline bounds a recover or a replay, which walk a whole window
// of deliveries or stored events: longer than StoreDeadline, which still
// bounds finding the webhook, so that an unreachable Redis answers 503 in
// time.
const ControlDeadline = time.Minute

// RateLimit reads a webhook's optional rate_limit: absent or null is no
// limit, else an integer from 1 to engine.MaxRateLimit.
func RateLimit(m map[string]any) (*int, error) {
	v, ok := m["rate_limit"]
	if !ok || v == nil {
		return nil, nil
	}
	const why = "Must be an Integer from 1 to 10000, or null"
	var n int64
	switch x := v.(type) {
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return nil, problem.Invalid("rate_limit", v, why)
		}
		n = i
	case float64: // a map decoded without json.Number
		if x != float64(int64(x)) {
			return nil, problem.Invalid("rate_limit", v, why)
		}
		n = int64(x)
	default:
		return nil, problem.Invalid("rate_limit", v, why)
	}
	if n < 1 || n > engine.MaxRateLimit {
		return nil, problem.Invalid("rate_limit", v, why)
	}
	r := int(n)
	return &r, nil
}

// window is the body of recover and replay.
type window struct {
	since, until time.Time
	dryRun       bool
}

// readWindow reads {"since": RFC 3339, "until"?: RFC 3339, "dry_run"?: bool}
// (dry_run only when allowed): a missing or unreadable time, until before
// since, or a parameter the route does not know → 422 naming it.
func (s *Server) readWindow(c *gin.Context, dryRun bool) (window, error) {
	var w window
	m, err := s.Object(c, false)
	if err != nil {
		return w, err
	}
	known := map[string]bool{"since": true, "until": true, "dry_run": dryRun}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !known[k] {
			return w, &problem.Error{Kind: problem.KindInvalid, Field: k, Msg: "Invalid parameter '" + k + "': Unknown parameter"}
		}
	}
	if w.since, err = rfc3339(m, "since", true); err != nil {
		return w, err
	}
	if w.until, err = rfc3339(m, "until", false); err != nil {
		return w, err
	}
	if w.until.IsZero() {
		w.until = time.Now()
	} else if w.until.Before(w.since) {
		return w, problem.Invalid("until", m["until"], "Must not be before since")
	}
	if v, ok := m["dry_run"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return w, problem.Invalid("dry_run", v, "Must be a Boolean")
		}
		w.dryRun = b
	}
	return w, nil
}

// rfc3339 reads a time field; a missing one is an error when required.
func rfc3339(m map[string]any, k string, required bool) (time.Time, error) {
	v, ok := m[k]
	if !ok || v == nil {
		if required {
			return time.Time{}, problem.Invalid(k, nil, "Must be an RFC 3339 time")
		}
		return time.Time{}, nil
	}
	str, ok := v.(string)
	if !ok {
		return time.Time{}, problem.Invalid(k, v, "Must be an RFC 3339 time")
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return time.Time{}, problem.Invalid(k, v, "Must be an RFC 3339 time")
	}
	return t, nil
}

// controlContext is the context a recover or replay runs in once its
// webhook is found: detached from the request's StoreDeadline, bounded by
// ControlDeadline.
func controlContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request.Context()), ControlDeadline)
}

func (s *Server) recoverDeliveries(c *gin.Context) error {
	hook, err := s.webhook(c)
	if err != nil {
		return err
	}
	w, err := s.readWindow(c, false)
	if err != nil {
		return err
	}
	ctx, cancel := controlContext(c)
	defer cancel()
	n, err := s.eng.Deliveries().Recover(ctx, hook.ID, w.since, w.until)
	if errors.Is(err, engine.ErrNotFound) {
		return problem.NotFound("webhook not found")
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"requeued": n})
	return nil
}

func (s *Server) replayEvents(c *gin.Context) error {
	hook, err := s.webhook(c)
	if err != nil {
		return err
	}
	w, err := s.readWindow(c, true)
	if err != nil {
		return err
	}
	ctx, cancel := controlContext(c)
	defer cancel()
	res, err := s.eng.Deliveries().Replay(ctx, hook.ID, w.since, w.until, w.dryRun)
	if errors.Is(err, engine.ErrNotFound) {
		return problem.NotFound("webhook not found")
	}
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if w.dryRun {
		status = http.StatusOK
	}
	c.JSON(status, res)
	return nil
}
