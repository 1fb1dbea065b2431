package rules

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
)

func TestScratch(t *testing.T) {
	ev := &event.Event{Type: "ASSET_EDITED_METADATA", Asset: map[string]any{"uuid": "a", "name": "a.jpg", "path": "/marketing/x", "mime_type": "image/jpeg",
		"image": map[string]any{"width": json.Number("2400")}, "meta": map[string]any{"custom": map[string]any{"status": "approved"}}, "tags": []any{"x"}},
		Changes: []event.Change{{Field: "meta.custom.status", Old: "draft", New: "approved"}}}
	env := NewEnv(ev, nil, time.Now())
	e := NewEvaluator()
	for _, src := range []string{
		`changedTo("meta.custom.status","approved") && isImage()`,
		`asset.image.width > 2000`,
		`old == nil`,
		`inFolder("/marketing/**")`,
		`asset.name + "!" == "a.jpg!"`,
		`len(join(asset.tags, ",")) == 1`,
		`let a = repeat("x", 1000); let b = a + a; let c = b+b; let d = c+c; let e=d+d; let f=e+e; let g=f+f; let h=g+g; let i=h+h; let j=i+i; let k=j+j; let l=k+k; len(l) > 0`,
		`$env.asset.name == "a.jpg"`,
		`now() > now() - duration("1h")`,
		`changed(1)`,
		`changedTo(1, 2)`,
		`1 + 2`,
		`foo`,
		`(1 +`,
		`"a" + 1 == "a1"`,
		`inFolder("marketing")`,
		`$env.used > 0`,
		`ext() == "jpg"`,
	} {
		c, err := Compile(src)
		if err != nil {
			t.Logf("%s: compile: %v", src, err)
			continue
		}
		ok, err := e.Eval(c, env)
		t.Logf("%s: %v %v", src, ok, err)
	}
	tp, err := CompileTemplate(`{"n": asset.name + "x", "w": asset.image.width}`)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(e.Render(tp, env))
	_, err = CompileTemplate(`1`)
	t.Log(err)
}
