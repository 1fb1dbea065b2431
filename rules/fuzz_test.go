package rules

import (
	"testing"
	"time"

	"github.com/assethooks/assethooks/event"
)

// FuzzCompileEval compiles arbitrary sources and evaluates whatever compiles,
// as a condition and as a template, against a few events: nothing may panic.
// Without -fuzz, `go test` runs the seeds: the cookbook and known traps.
func FuzzCompileEval(f *testing.F) {
	for _, r := range Cookbook {
		f.Add(r.Condition)
	}
	for _, s := range []string{
		``, ` `, `(`, `)`, `"`, `true`, `nil`, `1 +`, `asset`, `asset.x.y.z == 1`, `old.meta.custom == nil`,
		`changed(nil)`, `changedTo(get("x"), nil)`, `get(1)`, `oldGet(nil) == nil`, `inFolder("")`, `inFolder("/[")`,
		`changes[99].field == "x"`, `asset.tags[5] == "x"`, `1/0 > 1`, `int("x") > 0`, `len(1..1000000) > 0`,
		`repeat("x", -1) == ""`, `repeat("x", 100000000) == ""`, `join(1) == ""`, `toJSON(asset) != ""`,
		`fromJSON("{") == nil`, `$env.asset.name == "x"`, `$env == nil`, `let x = asset; x.name == nil`,
		`map(asset.tags, # + #)[0] == ""`, `now().Year() > 2000`, `date("garbage") == now()`,
		`{"a": asset.name + 1}`, `asset.meta?.custom?.status ?? "none"`, `[1,2,3]`, `reduce(1..100, #acc + "x", "") != ""`,
		`timezone("Nowhere/Nope") == nil`, `duration("forever") > duration("1s")`, `matches(asset.name, "(")`,
	} {
		f.Add(s)
	}
	envs := []*Env{
		NewEnv(exampleEvent("ASSET_EDITED_METADATA", nil, event.Change{Field: "meta.custom.status", Old: "draft", New: "approved"}), nil, time.Now()),
		NewEnv(withPrevious(exampleAsset(map[string]any{"path": "/drafts/x.jpg"}), nil), exampleAsset(nil), time.Now()),
		NewEnv(&event.Event{Type: "PROJECT_ADDED"}, nil, time.Now()),
		NewEnv(nil, nil, time.Time{}),
		nil,
	}
	e := NewEvaluator()
	f.Fuzz(func(t *testing.T, src string) {
		if c, err := Compile(src); err == nil {
			for _, env := range envs {
				_, _ = e.Eval(c, env)
			}
		}
		if tp, err := CompileTemplate(src); err == nil {
			for _, env := range envs {
				_, _ = e.Render(tp, env)
			}
		}
	})
}
