package event_test

import (
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
)

// FuzzDecode feeds arbitrary JSON to the envelope decoder: it must never
// panic, and an accepted event must carry a known type and, for ASSET_*
// types, an asset with a string uuid.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"ASSET_ADDED","asset":{"uuid":"a"}}`,
		`{"type":"ASSET_MOVED","asset":{"uuid":"a","path":"/x"},"destination":"/y","target":"file"}`,
		`{"type":"PROJECT_ADDED","object":{"id":1}}`,
		`{"type":"ASSET_EDITED_METADATA","asset":{"uuid":"a"},"changes":[{"field":"meta.x","old":1,"new":2}]}`,
		`{"type":"ASSET_ADDED","asset":{"uuid":5}}`,
		`{"type":"ASSET_ADDED","asset":{"uuid":"a"},"actor":{"username":["x"]}}`,
		`{"type":"ASSET_ADDED","asset":{"uuid":"a"},"changes":[1]}`,
		`{"type":"ASSET_ADDED","asset":{"uuid":"a"},"occurred_at":"2026-13-40T99:00:00Z"}`,
		`[]`, `null`, `{"type":null}`, `{"events":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if event.UnmarshalJSONNumber(data, &m) != nil || m == nil {
			return
		}
		ev, err := event.Decode(m, time.Unix(0, 0))
		if err != nil {
			return
		}
		if !event.Known(ev.Type) || event.IsEngineType(ev.Type) {
			t.Fatalf("accepted type %q", ev.Type)
		}
		if event.IsAssetType(ev.Type) && ev.AssetID() == "" {
			t.Fatalf("accepted %s without an asset uuid", ev.Type)
		}
	})
}
