package engine

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/assethooks/assethooks/internal/problem"
)

// Projects is the store of projects, the project_id scope of webhooks and
// events.
type Projects struct{ e *Engine }

// Projects returns the engine's projects store.
func (e *Engine) Projects() Projects { return Projects{e} }

// Create stores a project under the given id (a new one when empty)
// and returns it; an id already taken is a conflict.
func (x Projects) Create(ctx context.Context, id, name string) (*Project, error) {
	e := x.e
	if id == "" {
		id = "prj_" + NewEventID(e.now())[4:]
	}
	p := &Project{ID: id, Name: name, CreatedAt: At(e.now())}
	b, _ := json.Marshal(p)
	ok, err := e.st.CreateProject(ctx, p.ID, b)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, problem.New(problem.KindConflict, "project %s exists already", id)
	}
	return p, nil
}

// List lists the projects by creation time.
func (x Projects) List(ctx context.Context) ([]Project, error) {
	e := x.e
	all, err := e.st.Projects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Project, 0, len(all))
	for _, raw := range all {
		var p Project
		if json.Unmarshal(raw, &p) == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt.Time) })
	return out, nil
}

// Exists reports whether a project id is known.
func (x Projects) Exists(ctx context.Context, id string) (bool, error) {
	e := x.e
	return e.st.ProjectExists(ctx, id)
}
