package actions

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
)

// fotowareEvent is an ASSET_ADDED event with a ~20 KB Fotoware-like asset:
// renditions, metadata fields, nested arrays of objects.
func fotowareEvent(b testing.TB) *event.Event {
	b.Helper()
	renditions := make([]any, 12)
	for i := range renditions {
		renditions[i] = map[string]any{
			"href":  fmt.Sprintf("/fotoweb/archives/5000-Images/Folder/IMG_%04d.jpg.info/__renditions/R%d", i, i),
			"width": i * 160, "height": i * 90, "default": i == 0, "sizeFixed": false, "profile": "",
			"display_name": fmt.Sprintf("Rendition %d", i), "description": "JPEG, sRGB, 72 dpi",
		}
	}
	fields := map[string]any{}
	for i := 0; i < 200; i++ {
		fields[fmt.Sprint(i+5)] = map[string]any{"value": fmt.Sprintf("Metadata value number %d with some text — ÆØÅ", i), "n": 3.5 + float64(i)}
	}
	previews := make([]any, 8)
	for i := range previews {
		previews[i] = map[string]any{"size": 200 * (i + 1), "width": 200 * (i + 1), "height": 150 * (i + 1), "href": fmt.Sprintf("/preview/%d.jpg", i), "square": i%2 == 0}
	}
	asset := map[string]any{
		"uuid": "5000-Images-IMG_0042", "name": "IMG_0042.jpg", "path": "/fotoweb/archives/5000-Images/Folder/IMG_0042.jpg",
		"size": json.Number("12345678901234567890"), "mime_type": "image/jpeg", "cdn_url": "https://cdn.example.com/IMG_0042.jpg",
		"info":       map[string]any{"title": "Harbour at dawn", "description": "Boats & nets"},
		"tags":       []any{"harbour", "dawn", "boats", "norway"},
		"image":      map[string]any{"width": 6000, "height": 4000},
		"meta":       map[string]any{"system": map[string]any{"created": "2026-01-01"}, "custom": map[string]any{"status": "approved"}, "embedded": map[string]any{"xmp": fields}},
		"renditions": renditions, "previews": previews,
	}
	raw, _ := json.Marshal(map[string]any{"id": "evt_bench", "type": "ASSET_ADDED", "occurred_at": "2026-11-22T10:00:00Z",
		"actor": map[string]any{"username": "ana", "interface": "web"}, "asset": asset})
	ev := decodeEvent(b, string(raw))
	return ev
}

func benchPayload(b *testing.B, cfg WebhookConfig) {
	ev := fotowareEvent(b)
	cfg.URL, cfg.SigningSecret = "https://example.com/hook", testSecret
	w, err := NewWebhook(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	d := &Delivery{ID: "m", Attempt: 1, Event: ev}
	p, _ := w.payload(d)
	b.SetBytes(int64(len(p.body) + len(p.query)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.payload(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPayloadJSON(b *testing.B) { benchPayload(b, WebhookConfig{}) }
func BenchmarkPayloadForm(b *testing.B) {
	benchPayload(b, WebhookConfig{Body: BodyConfig{Format: FormatForm}})
}
func BenchmarkPayloadQuery(b *testing.B) {
	benchPayload(b, WebhookConfig{Body: BodyConfig{Format: FormatQuery}})
}
func BenchmarkPayloadJSONFields(b *testing.B) {
	benchPayload(b, WebhookConfig{Body: BodyConfig{Fields: []string{"file", "meta.custom", "renditions"}}})
}

func BenchmarkPayloadCacheHit(b *testing.B) {
	ev := fotowareEvent(b)
	w, _ := NewWebhook(WebhookConfig{URL: "https://example.com/hook", SigningSecret: testSecret}, Options{})
	d := &Delivery{ID: "m", Attempt: 1, Event: ev, Cache: NewPayloadCache()}
	if _, err := w.payload(d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.payload(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	key, _ := secretKey(testSecret)
	body := make([]byte, 20<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		sign(key, "msg_1", fmt.Sprint(time.Unix(0, 0).Unix()), body)
	}
}
