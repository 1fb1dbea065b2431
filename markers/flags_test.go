package markers_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// A flag a user set stays on the asset when the DAM later sends the asset
// without markers (a DAM does not know assethooks' flags): the snapshot keeps
// it, rules see it, and the asset's marker list shows it set. A DAM that does
// send markers is taken at its word; a removal forgets them.
func TestFlagsSurviveDAMEvents(t *testing.T) {
	t.Parallel()
	for _, b := range redistest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := setup(t, b)
			rc := apitest.NewReceiver(t)
			h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "approved", "label": "Approved"})
			hook(h, rc, []string{"ASSET_EDITED_METADATA"}, map[string]any{"condition": `hasMarker("approved")`})
			added(h, image("f-1"))
			h.Must(202, "POST", "/api/v2/assets/f-1/markers/approved", nil)

			// The DAM's own edit carries no markers: the flag is kept.
			h.Send(map[string]any{"type": "ASSET_EDITED_METADATA", "asset": image("f-1")})
			got := decode(t, rc.Wait(t, 1, wait)[0])
			if diff := cmp.Diff([]any{"approved"}, got.Data["asset"].(map[string]any)["markers"]); diff != "" {
				t.Errorf("delivered markers (-want +got):\n%s", diff)
			}
			set := func() any {
				m := h.Must(200, "GET", "/api/v2/assets/f-1/markers", nil)["markers"].([]any)
				return m[0].(map[string]any)["set"]
			}
			if set() != true {
				t.Errorf("the flag is no longer set after a DAM event")
			}

			// A DAM that sends markers itself is authoritative.
			a := image("f-1")
			a["markers"] = []any{}
			h.Send(map[string]any{"type": "ASSET_EDITED_METADATA", "asset": a})
			redistest.Eventually(t, wait, func() bool { return set() == false }, "flag cleared by the DAM's markers")

			// After a removal nothing is kept.
			h.Must(202, "POST", "/api/v2/assets/f-1/markers/approved", nil)
			h.Send(map[string]any{"type": "ASSET_REMOVED", "asset": map[string]any{"uuid": "f-1"}})
			h.Send(map[string]any{"type": "ASSET_ADDED", "asset": image("f-1")})
			redistest.Eventually(t, wait, func() bool { return set() == false }, "flag forgotten after removal")
		})
	}
}

// A selection may name its project, so that webhooks scoped to a project
// receive it; one without project_id reaches only unscoped webhooks.
func TestSelectionInAProject(t *testing.T) {
	t.Parallel()
	h := setup(t, redistest.Embedded)
	scoped, all := apitest.NewReceiver(t), apitest.NewReceiver(t)
	h.Must(200, "POST", "/api/v2/admin/projects", map[string]any{"id": "brand", "name": "Brand"})
	h.Must(200, "POST", "/api/v2/admin/markers", map[string]any{"name": "pick", "label": "Pick", "mode": "action"})
	hook(h, scoped, []string{"ASSET_MARKER_SELECTED"}, map[string]any{"project_id": "brand"})
	hook(h, all, []string{"ASSET_MARKER_SELECTED"}, nil)
	added(h, image("p-1"))
	h.Must(202, "POST", "/api/v2/assets/p-1/markers/pick", map[string]any{"project_id": "brand"})
	h.Must(202, "POST", "/api/v2/markers/pick/select", map[string]any{"asset_ids": []string{"p-1"}})
	all.Wait(t, 2, wait)
	got := decode(t, scoped.Wait(t, 1, wait)[0])
	if got.Data["project_id"] != "brand" {
		t.Errorf("the scoped webhook got project_id %v", got.Data["project_id"])
	}
	redistest.Eventually(t, wait, func() bool { return all.Count() == 2 }, "both selections routed")
	if n := scoped.Count(); n != 1 {
		t.Errorf("the scoped webhook got %d selections, want only the one in its project", n)
	}
	if r := h.Admin("POST", "/api/v2/assets/p-1/markers/pick", map[string]any{"project_id": 7}); r.Status != 422 {
		t.Errorf("a project_id that is not a string: %d %s", r.Status, r.Body)
	}
}
