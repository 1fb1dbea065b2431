package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/problem"
)

// Schedules (SPEC §3.7): scheduled rules over every stored asset, driven by
// cron. The handlers type-check the request strictly; the engine compiles
// the cron, time zone, condition and action, and runs them.

func (s *Server) scheduleRoutes() {
	a := s.Admin
	a.POST("/schedules", s.wrap(s.createSchedule))
	a.GET("/schedules", s.wrap(s.listSchedules))
	a.GET("/schedules/:id", s.wrap(s.getSchedule))
	a.PUT("/schedules/:id", s.wrap(s.replaceSchedule))
	a.PATCH("/schedules/:id", s.wrap(s.patchSchedule))
	a.DELETE("/schedules/:id", s.wrap(s.deleteSchedule))
	a.POST("/schedules/:id/run", s.wrap(s.runSchedule))
}

// ScheduleView is a schedule as the API shows it, with its last run (null
// before the first) and its next tick (null while disabled).
type ScheduleView struct {
	ID        int64                 `json:"id"`
	Name      string                `json:"name"`
	Cron      string                `json:"cron"`
	Timezone  string                `json:"timezone"`
	Condition string                `json:"condition"`
	Action    engine.ScheduleAction `json:"action"`
	Once      bool                  `json:"once"`
	Disabled  bool                  `json:"disabled"`
	CreatedAt engine.Time           `json:"created_at"`
	UpdatedAt engine.Time           `json:"updated_at"`
	LastRun   *engine.ScheduleRun   `json:"last_run"`
	NextRunAt engine.Time           `json:"next_run_at"`
}

// scheduleParams are the fields a schedule request may set, and those its
// view shows, which a request may send back, ignored.
var scheduleParams = &Params{
	Accepted: []string{"name", "cron", "timezone", "condition", "action", "once", "disabled"},
	Shown:    []string{"id", "created_at", "updated_at", "last_run", "next_run_at"},
	Objects:  map[string]*Params{"action": {Accepted: []string{"type", "webhook_ids"}}},
}

func scheduleView(sc *engine.Schedule, run *engine.ScheduleRun, now time.Time) ScheduleView {
	return ScheduleView{ID: sc.ID, Name: sc.Name, Cron: sc.Cron, Timezone: sc.Timezone, Condition: sc.Condition,
		Action: sc.Action, Once: sc.Once, Disabled: sc.Disabled, CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt,
		LastRun: run, NextRunAt: engine.NextRun(sc, now)}
}

// scheduleViews renders schedules with their last runs in one round trip.
func (s *Server) scheduleViews(ctx context.Context, scs []*engine.Schedule) ([]ScheduleView, error) {
	ids := make([]int64, len(scs))
	for i, sc := range scs {
		ids[i] = sc.ID
	}
	runs, err := s.eng.Schedules().Runs(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := s.eng.Config().Now()
	out := make([]ScheduleView, len(scs))
	for i, sc := range scs {
		out[i] = scheduleView(sc, runs[sc.ID], now)
	}
	return out, nil
}

func (s *Server) answerSchedule(c *gin.Context, status int, sc *engine.Schedule) error {
	vs, err := s.scheduleViews(c, []*engine.Schedule{sc})
	if err != nil {
		return err
	}
	c.JSON(status, gin.H{"schedule": vs[0]})
	return nil
}

// DecodeSchedule type-checks a schedule request (the first bad field
// named); the engine validates the values when the schedule is saved.
func DecodeSchedule(m map[string]any) (*engine.Schedule, error) {
	if err := scheduleParams.Check(m); err != nil {
		return nil, err
	}
	sc := &engine.Schedule{}
	name, err := Name(m, "name")
	if err != nil {
		return nil, err
	}
	sc.Name = name
	cron, ok := m["cron"].(string)
	if !ok {
		return nil, problem.Invalid("cron", m["cron"], "Must be a String")
	}
	sc.Cron = cron
	if sc.Timezone, err = OptString(m, "timezone"); err != nil {
		return nil, err
	}
	cond, ok := m["condition"].(string)
	if !ok {
		return nil, problem.Invalid("condition", m["condition"], "Must be a String")
	}
	sc.Condition = cond
	if sc.Once, err = scheduleBool(m, "once"); err != nil {
		return nil, err
	}
	if sc.Disabled, err = scheduleBool(m, "disabled"); err != nil {
		return nil, err
	}
	if v, ok := m["action"]; ok && v != nil {
		am, ok := v.(map[string]any)
		if !ok {
			return nil, problem.Invalid("action", v, "Must be an Object")
		}
		if sc.Action.Type, err = OptString(am, "type"); err != nil {
			return nil, problem.Prefix("action.", err)
		}
		if sc.Action.WebhookIDs, err = scheduleIDs(am, "webhook_ids"); err != nil {
			return nil, problem.Prefix("action.", err)
		}
	}
	return sc, nil
}

func scheduleBool(m map[string]any, k string) (bool, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, problem.Invalid(k, v, "Must be a Boolean")
	}
	return b, nil
}

// scheduleIDs reads an optional array of positive integer ids.
func scheduleIDs(m map[string]any, k string) ([]int64, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, problem.Invalid(k, v, "Must be an Array")
	}
	out := make([]int64, len(arr))
	for i, x := range arr {
		n, ok := x.(json.Number)
		id, err := n.Int64()
		if !ok || err != nil || id <= 0 {
			return nil, problem.Invalid(k+"["+strconv.Itoa(i)+"]", x, "Must be a positive Integer")
		}
		out[i] = id
	}
	return out, nil
}

// ScheduleID parses the :id parameter: positive integers only, else 404.
func ScheduleID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errScheduleNotFound
	}
	return id, nil
}

var errScheduleNotFound = problem.NotFound("schedule not found")

func (s *Server) schedule(c *gin.Context) (*engine.Schedule, error) {
	id, err := ScheduleID(c)
	if err != nil {
		return nil, err
	}
	sc, err := s.eng.Schedules().Get(c, id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, errScheduleNotFound
	}
	return sc, err
}

func (s *Server) createSchedule(c *gin.Context) error {
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	sc, err := DecodeSchedule(m)
	if err != nil {
		return err
	}
	if err := s.eng.Schedules().Create(c, sc); err != nil {
		return err
	}
	return s.answerSchedule(c, http.StatusOK, sc)
}

func (s *Server) listSchedules(c *gin.Context) error {
	scs, err := s.eng.Schedules().List(c)
	if err != nil {
		return err
	}
	vs, err := s.scheduleViews(c, scs)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"schedules": vs})
	return nil
}

func (s *Server) getSchedule(c *gin.Context) error {
	sc, err := s.schedule(c)
	if err != nil {
		return err
	}
	return s.answerSchedule(c, http.StatusOK, sc)
}

func (s *Server) replaceSchedule(c *gin.Context) error {
	prev, err := s.schedule(c)
	if err != nil {
		return err
	}
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	return s.updateSchedule(c, prev, m)
}

// patchSchedule merges the body (RFC 7396) into the schedule's view and
// saves the result as a PUT would.
func (s *Server) patchSchedule(c *gin.Context) error {
	prev, err := s.schedule(c)
	if err != nil {
		return err
	}
	patch, err := s.Object(c, false)
	if err != nil {
		return err
	}
	base, err := toMap(scheduleView(prev, nil, time.Time{}))
	if err != nil {
		return err
	}
	return s.updateSchedule(c, prev, mergePatch(base, patch))
}

func (s *Server) updateSchedule(c *gin.Context, prev *engine.Schedule, m map[string]any) error {
	sc, err := DecodeSchedule(m)
	if err != nil {
		return err
	}
	sc.ID = prev.ID
	if err := s.eng.Schedules().Update(c, sc); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return errScheduleNotFound
		}
		return err
	}
	return s.answerSchedule(c, http.StatusOK, sc)
}

func (s *Server) deleteSchedule(c *gin.Context) error {
	id, err := ScheduleID(c)
	if err != nil {
		return err
	}
	if err := s.eng.Schedules().Delete(c, id); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return errScheduleNotFound
		}
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// scheduleRunTimeout bounds a run asked for through the API, which goes on past the
// request's own deadline (a scan of every asset takes its time).
const scheduleRunTimeout = 10 * time.Minute

// runSchedule runs a schedule now (an extra tick, disabled or not) and
// answers 202 with what it queued.
func (s *Server) runSchedule(c *gin.Context) error {
	id, err := ScheduleID(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c), scheduleRunTimeout)
	defer cancel()
	run, err := s.eng.Schedules().Run(ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return errScheduleNotFound
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"run": run})
	return nil
}
