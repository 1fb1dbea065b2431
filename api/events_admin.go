package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// Why did (not) my webhook fire (SPEC §3.8): the stored events, each with
// its changes and its routing trace, and backtests of a rule over them.

func (s *Server) historyRoutes() {
	a := s.Admin
	a.GET("/events", s.wrap(s.listEvents))
	a.GET("/events/:id", s.wrap(s.getEvent))
	a.GET("/events/:id/trace", s.wrap(s.traceEvent))
	a.POST("/rules/backtest", s.wrap(s.backtest))
}

var errEventNotFound = problem.NotFound("event not found")

func (s *Server) listEvents(c *gin.Context) error {
	if err := CheckQuery(c.Request.URL.Query(), "asset_id", "type", "limit", "before"); err != nil {
		return err
	}
	q := engine.EventQuery{AssetID: c.Query("asset_id"), Type: c.Query("type"), Before: c.Query("before")}
	if q.Type != "" && !event.Known(q.Type) {
		return problem.Invalid("type", q.Type, event.UnknownType)
	}
	var err error
	if q.Limit, err = Limit(c, 50, 500); err != nil {
		return err
	}
	evs, err := s.eng.History().List(c, q)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"events": evs})
	return nil
}

func (s *Server) getEvent(c *gin.Context) error {
	ev, err := s.eng.History().Event(c, c.Param("id"))
	if errors.Is(err, engine.ErrNotFound) {
		return errEventNotFound
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"event": ev})
	return nil
}

func (s *Server) traceEvent(c *gin.Context) error {
	t, err := s.eng.History().Trace(c, c.Param("id"))
	if errors.Is(err, engine.ErrNotFound) {
		return errEventNotFound
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, t)
	return nil
}

// backtestParams are the parameters of a backtest: a stored webhook's rule,
// or a rule's own fields, and how far to look.
var backtestParams = &Params{Accepted: []string{"webhook_id", "trigger_events", "project_id", "folder",
	"webhook_users", "condition", "limit", "since"}}

// Backtest limits: how many stored events one backtest scans.
const (
	BacktestDefault = 1000
	BacktestMax     = 10000
)

func (s *Server) backtest(c *gin.Context) error {
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	if err := backtestParams.Check(m); err != nil {
		return err
	}
	limit := BacktestDefault
	if v, ok := m["limit"]; ok && v != nil {
		n, isNum := v.(json.Number)
		i, err := strconv.Atoi(n.String())
		if !isNum || err != nil || i < 1 || i > BacktestMax {
			return problem.Invalid("limit", v, "Must be an Integer from 1 to "+strconv.Itoa(BacktestMax))
		}
		limit = i
	}
	var since time.Time
	if v, err := OptString(m, "since"); err != nil {
		return err
	} else if v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return problem.Invalid("since", v, "Must be an RFC 3339 time")
		}
	}
	br, err := s.backtestRule(c, m)
	if err != nil {
		return err
	}
	res, err := s.eng.History().Backtest(c, br, limit, since)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, res)
	return nil
}

// backtestRule reads the rule of a backtest: a stored webhook's, or one
// made of the request's fields, checked as a webhook's would be.
func (s *Server) backtestRule(c *gin.Context, m map[string]any) (engine.BacktestRule, error) {
	if v, ok := m["webhook_id"]; ok && v != nil {
		n, isNum := v.(json.Number)
		id, err := strconv.ParseInt(n.String(), 10, 64)
		if !isNum || err != nil || id <= 0 {
			return engine.BacktestRule{}, problem.Invalid("webhook_id", v, "Must be a webhook id (a positive Integer)")
		}
		for _, f := range []string{"trigger_events", "project_id", "folder", "webhook_users", "condition"} {
			if _, given := m[f]; given {
				return engine.BacktestRule{}, problem.Invalid(f, m[f], "Must not be given with webhook_id")
			}
		}
		br, err := s.eng.History().WebhookRule(c, id)
		if errors.Is(err, engine.ErrNotFound) {
			return br, problem.NotFound("webhook not found")
		}
		return br, err
	}
	r := &rules.Rule{}
	var err error
	if r.Triggers, err = Strings(m, "trigger_events", true); err != nil {
		return engine.BacktestRule{}, err
	}
	if err := rules.ValidateTriggers(r.Triggers); err != nil {
		return engine.BacktestRule{}, err
	}
	if r.ProjectID, err = OptString(m, "project_id"); err != nil {
		return engine.BacktestRule{}, err
	}
	if r.ProjectID != "" {
		ok, err := s.eng.Projects().Exists(c, r.ProjectID)
		if err != nil {
			return engine.BacktestRule{}, err
		}
		if !ok {
			return engine.BacktestRule{}, problem.NotFound("project not found")
		}
	}
	if r.Folder, err = OptString(m, "folder"); err != nil {
		return engine.BacktestRule{}, err
	}
	if r.Folder != "" {
		if err := rules.ValidateFolder(r.Folder); err != nil {
			return engine.BacktestRule{}, err
		}
	}
	if r.Users, err = Strings(m, "webhook_users", false); err != nil {
		return engine.BacktestRule{}, err
	}
	if src, err := OptString(m, "condition"); err != nil {
		return engine.BacktestRule{}, err
	} else if src != "" {
		if r.Condition, err = condition(m); err != nil {
			return engine.BacktestRule{}, err
		}
	}
	return engine.BacktestRule{Rule: r}, nil
}

// warnings names each asset path the condition reads that no recent stored
// event carried (SPEC §3.4).
func (s *Server) warnings(c *gin.Context, cond *rules.Condition) ([]string, error) {
	out := []string{}
	paths := cond.AssetPaths()
	if len(paths) == 0 {
		return out, nil
	}
	known, err := s.eng.History().KnownPaths(c)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if !known[p] {
			out = append(out, "asset."+p+": no stored event has this field")
		}
	}
	return out, nil
}

// testRuleOn answers rules/test for a stored event (SPEC §3.4): the
// condition tried on the event as it was routed.
func (s *Server) testRuleOn(c *gin.Context, cond *rules.Condition, v any) error {
	id, ok := v.(string)
	if !ok || id == "" {
		return problem.Invalid("event_id", v, "Must be a String")
	}
	ok, changes, err := s.eng.History().TestRule(c, cond, id)
	if errors.Is(err, engine.ErrNotFound) {
		return errEventNotFound
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"matches": ok, "changes": changes})
	return nil
}
