package markers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/api"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/problem"
)

// handler serves the marker routes of one API server.
type handler struct {
	api   *api.Server
	eng   api.Engine
	conds *conditions
}

// Routes registers the marker routes on s: the admin CRUD under
// /api/v2/admin/markers, and the user routes to list, select and clear
// markers on assets and to select one on many assets. Pass it in
// api.Config.Extra.
func Routes(s *api.Server) {
	h := &handler{api: s, eng: s.Engine(), conds: newConditions()}
	a := s.Admin
	a.POST("/markers", s.Wrap(h.create))
	a.GET("/markers", s.Wrap(h.list))
	a.GET("/markers/:name", s.Wrap(h.get))
	a.PUT("/markers/:name", s.Wrap(h.replace))
	a.DELETE("/markers/:name", s.Wrap(h.remove))
	u := s.User
	u.GET("/assets/:asset_id/markers", s.Wrap(h.offered))
	u.POST("/assets/:asset_id/markers/:name", s.Wrap(h.set(true)))
	u.DELETE("/assets/:asset_id/markers/:name", s.Wrap(h.set(false)))
	u.POST("/markers/:name/select", s.Wrap(h.bulk))
}

// marker loads the marker named by the :name parameter, or a 404.
func (h *handler) marker(c *gin.Context) (*engine.Marker, error) {
	m, err := h.eng.Markers().Get(c, c.Param("name"))
	if errors.Is(err, engine.ErrNotFound) {
		return nil, errMarkerNotFound
	}
	return m, err
}

func (h *handler) create(c *gin.Context) error {
	body, err := h.api.Object(c, false)
	if err != nil {
		return err
	}
	m, err := h.decode(c, body, "")
	if err != nil {
		return err
	}
	if err := h.eng.Markers().Create(c, m); err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"marker": m})
	return nil
}

func (h *handler) list(c *gin.Context) error {
	ms, err := h.eng.Markers().List(c)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"markers": ms})
	return nil
}

func (h *handler) get(c *gin.Context) error {
	m, err := h.marker(c)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"marker": m})
	return nil
}

func (h *handler) replace(c *gin.Context) error {
	if _, err := h.marker(c); err != nil {
		return err
	}
	body, err := h.api.Object(c, false)
	if err != nil {
		return err
	}
	m, err := h.decode(c, body, c.Param("name"))
	if err != nil {
		return err
	}
	if err := h.eng.Markers().Update(c, m); errors.Is(err, engine.ErrNotFound) {
		return errMarkerNotFound
	} else if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"marker": m})
	return nil
}

func (h *handler) remove(c *gin.Context) error {
	if err := h.eng.Markers().Delete(c, c.Param("name")); errors.Is(err, engine.ErrNotFound) {
		return errMarkerNotFound
	} else if err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// offeredMarker is one marker offered for an asset.
type offeredMarker struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Mode  string `json:"mode"`
	Set   bool   `json:"set"`
}

func (h *handler) offered(c *gin.Context) error {
	asset, err := h.eng.Assets().Get(c, c.Param("asset_id"))
	if err != nil {
		return err
	}
	if asset == nil {
		return errAssetNotFound
	}
	ms, err := h.eng.Markers().List(c)
	if err != nil {
		return err
	}
	now := h.eng.Config().Now()
	out := make([]offeredMarker, 0, len(ms))
	for _, m := range ms {
		if h.conds.offered(m, asset, now) {
			out = append(out, offeredMarker{Name: m.Name, Label: m.Label, Mode: m.Mode,
				Set: m.Mode == engine.MarkerFlag && hasFlag(asset, m.Name)})
		}
	}
	c.JSON(http.StatusOK, gin.H{"markers": out})
	return nil
}

// origin is who selected and in which project: the body's username, else
// the API key's id, from the web interface; the body's optional project_id,
// so that webhooks scoped to a project receive the selection.
func origin(c *gin.Context, body map[string]any) (event.Actor, string, error) {
	u, err := api.OptString(body, "username")
	if err != nil {
		return event.Actor{}, "", err
	}
	if u == "" {
		u = api.KeyID(c)
	}
	p, err := api.OptString(body, "project_id")
	if err != nil {
		return event.Actor{}, "", err
	}
	return event.Actor{Username: u, Interface: "web"}, p, nil
}

// set selects (on) or clears a marker on one asset and answers 202 with the
// queued event's id.
func (h *handler) set(on bool) api.HandlerFunc {
	return func(c *gin.Context) error {
		m, err := h.marker(c)
		if err != nil {
			return err
		}
		body, err := h.api.Object(c, true)
		if err != nil {
			return err
		}
		who, project, err := origin(c, body)
		if err != nil {
			return err
		}
		id := c.Param("asset_id")
		asset, err := h.asset(c, body, id)
		if err != nil {
			return err
		}
		typ := event.MarkerSelected
		if on {
			if !h.conds.offered(m, asset, h.eng.Config().Now()) {
				return problem.New(problem.KindInvalid, "marker %s is not offered for asset %s", m.Name, id)
			}
		} else {
			if m.Mode != engine.MarkerFlag {
				return problem.New(problem.KindInvalid, "marker %s is an action: only flags can be cleared", m.Name)
			}
			typ = event.MarkerCleared
		}
		if m.Mode == engine.MarkerFlag {
			asset = withFlag(asset, m.Name, on)
		}
		ev := &event.Event{Type: typ, Actor: who, Asset: asset, Marker: m.Name, ProjectID: project}
		ids, err := h.eng.Ingest(c, []*event.Event{ev})
		if err != nil {
			return err
		}
		c.JSON(http.StatusAccepted, gin.H{"events": idList(ids), "marker": m.Name,
			"set": on && m.Mode == engine.MarkerFlag})
		return nil
	}
}

// asset is the asset a selection is about: the body's asset (its uuid, when
// given, must be the path's), keeping the stored flags when it brings none,
// else the stored snapshot; neither is a 404.
func (h *handler) asset(c *gin.Context, body map[string]any, id string) (map[string]any, error) {
	snap, err := h.eng.Assets().Get(c, id)
	if err != nil {
		return nil, err
	}
	v, ok := body["asset"]
	if !ok || v == nil {
		if snap == nil {
			return nil, errAssetNotFound
		}
		return snap, nil
	}
	a, ok := v.(map[string]any)
	if !ok {
		return nil, problem.Invalid("asset", v, "Must be an Object")
	}
	if u, ok := a["uuid"]; ok && u != id {
		return nil, problem.Invalid("asset.uuid", u, "Must be the asset id of the path "+strconv.Quote(id))
	}
	a["uuid"] = id
	if _, has := a["markers"]; !has && snap != nil && snap["markers"] != nil {
		a["markers"] = snap["markers"]
	}
	return a, nil
}

func idList(ids []string) []gin.H {
	out := make([]gin.H, len(ids))
	for i, id := range ids {
		out[i] = gin.H{"id": id}
	}
	return out
}

// bulk selects a marker on many assets: the known and offered ones fire (one
// batch event, or one event each), the others are reported by id.
func (h *handler) bulk(c *gin.Context) error {
	m, err := h.marker(c)
	if err != nil {
		return err
	}
	body, err := h.api.Object(c, false)
	if err != nil {
		return err
	}
	ids, err := api.Strings(body, "asset_ids", true)
	if err != nil {
		return err
	}
	if len(ids) == 0 || len(ids) > MaxBulk {
		return problem.Invalid("asset_ids", body["asset_ids"], "Must be an Array of 1 to "+strconv.Itoa(MaxBulk)+" asset ids")
	}
	for i, id := range ids {
		if id == "" {
			return problem.Invalid("asset_ids["+strconv.Itoa(i)+"]", id, "Must be a non-empty String")
		}
	}
	who, project, err := origin(c, body)
	if err != nil {
		return err
	}
	ids = dedupe(ids)
	snaps, err := h.eng.Assets().GetMany(c, ids)
	if err != nil {
		return err
	}
	now := h.eng.Config().Now()
	selected, unknown, notOffered := []string{}, []string{}, []string{}
	var assets []map[string]any
	for i, id := range ids {
		a := snaps[i]
		switch {
		case a == nil:
			unknown = append(unknown, id)
		case !h.conds.offered(m, a, now):
			notOffered = append(notOffered, id)
		default:
			if m.Mode == engine.MarkerFlag {
				a = withFlag(a, m.Name, true)
			}
			selected = append(selected, id)
			assets = append(assets, a)
		}
	}
	var evs []*event.Event
	switch {
	case len(assets) == 0:
	case m.Batch:
		if m.Mode == engine.MarkerFlag {
			flagged := make(map[string]map[string]any, len(assets))
			for i, a := range assets {
				flagged[selected[i]] = a
			}
			if err := h.eng.Assets().Put(c, flagged); err != nil {
				return err
			}
		}
		evs = []*event.Event{{Type: event.MarkerSelected, Actor: who, Assets: assets, Marker: m.Name, ProjectID: project}}
	default:
		for _, a := range assets {
			evs = append(evs, &event.Event{Type: event.MarkerSelected, Actor: who, Asset: a, Marker: m.Name, ProjectID: project})
		}
	}
	eids, err := h.eng.Ingest(c, evs)
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"selected": selected, "unknown": unknown, "not_offered": notOffered,
		"events": idList(eids)})
	return nil
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
