package rules

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
)

func benchEvent() *event.Event {
	return &event.Event{
		ID: "evt_1", Type: "ASSET_EDITED_METADATA", ProjectID: "p1",
		Actor: event.Actor{Username: "ana", Interface: "web"},
		Asset: map[string]any{
			"uuid": "a1", "name": "banner.jpg", "path": "/marketing/banner.jpg", "mime_type": "image/jpeg",
			"size":  json.Number("123456"),
			"image": map[string]any{"width": json.Number("2400"), "height": json.Number("1200")},
			"tags":  []any{"summer", "hero"},
			"meta":  map[string]any{"custom": map[string]any{"status": "approved"}},
		},
		Changes: []event.Change{{Field: "meta.custom.status", Old: "draft", New: "approved"}},
	}
}

// BenchmarkEvalCondition evaluates one typical condition against one event.
func BenchmarkEvalCondition(b *testing.B) {
	c, err := Compile(`changedTo("meta.custom.status", "approved") && isImage()`)
	if err != nil {
		b.Fatal(err)
	}
	env := NewEnv(benchEvent(), nil, time.Now())
	e := NewEvaluator()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ok, err := e.Eval(c, env)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}

// BenchmarkIndex1000 routes one event against 1,000 webhooks with
// conditions, spread over 50 event types: only the subscribers of the
// event's type are evaluated.
func BenchmarkIndex1000(b *testing.B) {
	types := event.Types()[:50]
	var rs []*Rule
	for i := range 1000 {
		src := fmt.Sprintf(`changedTo("meta.custom.status", "approved") && asset.image.width > %d`, i)
		c, err := Compile(src)
		if err != nil {
			b.Fatal(err)
		}
		rs = append(rs, &Rule{ID: int64(i + 1), Triggers: []string{types[i%len(types)]}, Folder: "/marketing/**", Condition: c})
	}
	ix := NewIndex(rs)
	env := NewEnv(benchEvent(), nil, time.Now())
	e := NewEvaluator()
	evals := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range ix.Candidates("ASSET_EDITED_METADATA") {
			if _, err := r.Match(e, env); err != nil {
				b.Fatal(err)
			}
			evals++
		}
	}
	b.ReportMetric(float64(evals)/b.Elapsed().Seconds(), "evals/s")
	b.ReportMetric(float64(evals)/float64(b.N), "evals/event")
}
