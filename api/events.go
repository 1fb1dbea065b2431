package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// MaxBatch is the most events one ingest request may carry.
const MaxBatch = 1000

// ingest accepts one event or {"events": […]}; all or nothing, 202 once every
// event is in Redis.
func (s *Server) ingest(c *gin.Context) error {
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	now := s.eng.Config().Now()
	var evs []*event.Event
	if raw, batch := m["events"]; batch {
		arr, ok := raw.([]any)
		if !ok {
			return problem.Invalid("events", raw, "Must be an Array")
		}
		if len(arr) == 0 || len(arr) > MaxBatch {
			return problem.Invalid("events", raw, "Must hold 1 to 1000 events")
		}
		evs = make([]*event.Event, len(arr))
		for i, x := range arr {
			prefix := "events[" + strconv.Itoa(i) + "]"
			em, ok := x.(map[string]any)
			if !ok {
				return problem.Invalid(prefix, x, "Must be an Object")
			}
			if evs[i], err = event.Decode(em, now); err != nil {
				return problem.Prefix(prefix+".", err)
			}
		}
	} else {
		ev, err := event.Decode(m, now)
		if err != nil {
			return err
		}
		evs = []*event.Event{ev}
	}
	ids, err := s.eng.Ingest(c, evs)
	if err != nil {
		return err
	}
	// The answer to the busiest route, encoded without reflection over maps.
	type accepted struct {
		ID string `json:"id"`
	}
	out := struct {
		Events []accepted `json:"events"`
	}{make([]accepted, len(ids))}
	for i, id := range ids {
		out.Events[i].ID = id
	}
	b, err := gojson.Marshal(out)
	if err != nil {
		return err
	}
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", b)
	return nil
}

func (s *Server) createProject(c *gin.Context) error {
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	if err := ProjectParams.Check(m); err != nil {
		return err
	}
	name, ok := m["name"].(string)
	if !ok || strings.TrimSpace(name) == "" || len(name) > 255 {
		return problem.Invalid("name", m["name"], "Must be a String")
	}
	id, err := OptString(m, "id")
	if err != nil {
		return err
	}
	if len(id) > 64 || strings.ContainsAny(id, " \t\r\n/") {
		return problem.Invalid("id", id, "Must be a String of at most 64 characters without spaces or slashes")
	}
	p, err := s.eng.Projects().Create(c, id, name)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"project": p})
	return nil
}

func (s *Server) listProjects(c *gin.Context) error {
	ps, err := s.eng.Projects().List(c)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"projects": ps})
	return nil
}

// condition reads and compiles the "condition" field; compile errors are 422
// with line and column.
func condition(m map[string]any) (*rules.Condition, error) {
	src, ok := m["condition"].(string)
	if !ok {
		return nil, problem.Invalid("condition", m["condition"], "Must be a String")
	}
	cond, err := rules.Compile(src)
	if err != nil {
		if ce, ok := err.(*rules.CompileError); ok {
			return nil, &problem.Error{Kind: problem.KindInvalid, Field: "condition", Msg: ce.Msg,
				Extra: map[string]any{"line": ce.Line, "column": ce.Column}}
		}
		return nil, err
	}
	return cond, nil
}

func (s *Server) validateRule(c *gin.Context) error {
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	cond, err := condition(m)
	if err != nil {
		return err
	}
	warnings, err := s.warnings(c, cond)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"valid": true, "warnings": warnings})
	return nil
}

func (s *Server) testRule(c *gin.Context) error {
	m, err := s.Object(c, false)
	if err != nil {
		return err
	}
	cond, err := condition(m)
	if err != nil {
		return err
	}
	if v, given := m["event_id"]; given && v != nil {
		return s.testRuleOn(c, cond, v)
	}
	em, ok := m["event"].(map[string]any)
	if !ok {
		return problem.Invalid("event", m["event"], "Must be an Object")
	}
	ev, err := event.Decode(em, s.eng.Config().Now())
	if err != nil {
		return problem.Prefix("event.", err)
	}
	ok, changes, err := s.eng.TestRule(c, cond, ev)
	if err != nil {
		return err
	}
	if changes == nil {
		changes = []event.Change{}
	}
	c.JSON(http.StatusOK, gin.H{"matches": ok, "changes": changes})
	return nil
}

// toMap renders v as a generic JSON map (numbers as json.Number).
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, event.UnmarshalJSONNumber(b, &m)
}

// mergePatch applies an RFC 7396 JSON merge patch to base.
func mergePatch(base, patch map[string]any) map[string]any {
	for k, v := range patch {
		if v == nil {
			delete(base, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if bm, ok := base[k].(map[string]any); ok {
				base[k] = mergePatch(bm, pm)
				continue
			}
		}
		base[k] = v
	}
	return base
}
