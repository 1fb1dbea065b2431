package rules_test

import (
	"fmt"
	"time"

	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// A condition is compiled once, when a webhook is saved, and evaluated for
// every event; changes are derived from the previous snapshot when the DAM
// sends only the new asset (Filerobot's "change meta" trigger in one line).
func ExampleCompile() {
	cond, err := rules.Compile(`changedTo("meta.custom.status", "approved") && inFolder("/marketing/**")`)
	if err != nil {
		panic(err)
	}
	old := map[string]any{"uuid": "a-1", "path": "/marketing/2026/", "name": "banner.jpg",
		"meta": map[string]any{"custom": map[string]any{"status": "draft"}}}
	ev := &event.Event{Type: "ASSET_EDITED_METADATA", Asset: map[string]any{"uuid": "a-1", "path": "/marketing/2026/",
		"name": "banner.jpg", "meta": map[string]any{"custom": map[string]any{"status": "approved"}}}}
	ev.Changes = rules.Changes(ev, old)
	ok, err := rules.NewEvaluator().Eval(cond, rules.NewEnv(ev, old, time.Now()))
	fmt.Println(ok, err, ev.Changes)
	// Output: true <nil> [{meta.custom.status draft approved}]
}

// A compile error carries a 1-based line and column, as an editor shows them.
func ExampleCompileError() {
	_, err := rules.Compile("isImage() &&\n  nosuchhelper()")
	if ce, ok := err.(*rules.CompileError); ok {
		fmt.Println(ce.Line, ce.Column)
	}
	// Output: 2 3
}
