package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/internal/redistest"
	"github.com/assethooks/assethooks/internal/secret"
	"github.com/assethooks/assethooks/rules"
)

// BenchmarkRoute measures the router alone on the real Redis: batches of
// 256 ~1 KB ASSET_ADDED events (new assets, as cmd/loadbench sends) routed
// by Engine.route, with the engine's CPU (this process's user and system
// time, getrusage) per delivery reported as cpu-µs/delivery. Enqueueing
// and reading the batch are outside the measure, the script call's round
// trip inside it. Cases:
//
//   - 1-webhook: one webhook for ASSET_ADDED, no condition (loadbench's).
//   - 100-webhooks-10-match: 10 match; 30 are turned down by their project,
//     30 by a condition evaluated on every event, 30 subscribe to another
//     type; so 70 candidates per event, each one a trace item.
//
// The file uses only what the router had before traces, so that the same
// benchmark runs on a commit without them (copy it there, with a benchTune
// that does nothing):
//
//	REQUIRE_REDIS=1 go test -run '^$' -bench Route -benchtime 200x -count 5 ./engine/
func BenchmarkRoute(b *testing.B) {
	for _, bc := range []struct {
		name     string
		webhooks []map[string]any
		matching int
	}{
		{"1-webhook", []map[string]any{{}}, 1},
		{"100-webhooks-10-match", hundred(), 10},
	} {
		b.Run(bc.name, func(b *testing.B) { benchRoute(b, bc.webhooks, bc.matching) })
	}
}

// hundred is the 100 webhooks of the second case, as changes to a base
// webhook for ASSET_ADDED.
func hundred() []map[string]any {
	var out []map[string]any
	for i := 0; i < 10; i++ {
		out = append(out, map[string]any{})
	}
	for i := 0; i < 30; i++ {
		out = append(out, map[string]any{"project": "other"})
	}
	for i := 0; i < 30; i++ {
		out = append(out, map[string]any{"condition": "asset.size > 1000000"})
	}
	for i := 0; i < 30; i++ {
		out = append(out, map[string]any{"trigger": "ASSET_REMOVED"})
	}
	return out
}

const benchBatch = 256

func benchRoute(b *testing.B, hooks []map[string]any, matching int) {
	rdb, prefix := redistest.Open(b, redistest.Real)
	ctx := context.Background()
	st := store.New(rdb, prefix)
	if err := st.EnsureGroups(ctx); err != nil {
		b.Fatal(err)
	}
	box, _ := secret.NewBox("test-secret-key-0123456789abcdef-0123456789")
	cfg := Config{Box: box, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Actions: actions.Options{AllowPrivate: true}}
	benchTune(&cfg)
	e, err := New(st, cfg)
	if err != nil {
		b.Fatal(err)
	}
	for i, h := range hooks {
		w := &Webhook{Name: fmt.Sprintf("w%d", i), Triggers: []string{"ASSET_ADDED"}}
		if t, ok := h["trigger"].(string); ok {
			w.Triggers = []string{t}
		}
		if p, ok := h["project"].(string); ok {
			if _, err := e.Projects().Create(ctx, p, p); err != nil && i == 10 {
				b.Fatal(err)
			}
			w.ProjectID = p
		}
		w.Condition, _ = h["condition"].(string)
		cfg, err := actions.DecodeConfig(map[string]any{"http_url": "http://127.0.0.1:9/hook"})
		if err != nil {
			b.Fatal(err)
		}
		w.WebhookConfig = cfg
		if err := e.Webhooks().Create(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	evaluator := rules.NewEvaluator()
	filler := strings.Repeat("x", 700)
	var cpu time.Duration
	seq := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if i%20 == 0 { // the deliveries nobody works off, and their stored events
			for i := range e.st.Partitions() {
				pp := e.st.PartitionPrefix(i)
				keys, _ := rdb.Keys(ctx, pp+":evs:*").Result()
				rdb.Del(ctx, append(keys, pp+":deliveries")...)
			}
		}
		evs := make([]*event.Event, benchBatch)
		for j := range evs {
			seq++
			evs[j] = &event.Event{Type: "ASSET_ADDED", Actor: event.Actor{Username: "bench", Interface: "restapi"},
				Asset: map[string]any{"uuid": fmt.Sprintf("bench-%d", seq), "name": "banner.jpg", "path": "/marketing",
					"mime_type": "image/jpeg", "size": 20480, "meta": map[string]any{"custom": map[string]any{"note": filler}}}}
		}
		if _, err := e.Ingest(ctx, evs); err != nil {
			b.Fatal(err)
		}
		entries, err := st.ReadEvents(ctx, e.cfg.Consumer, benchBatch, -1)
		if err != nil || len(entries) != benchBatch {
			b.Fatalf("read %d entries: %v", len(entries), err)
		}
		b.StartTimer()
		before := rusage()
		e.route(ctx, evaluator, entries)
		cpu += rusage() - before
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*benchBatch*matching), "cpu-µs/delivery")
	e.Stop()
}

// rusage is this process's user and system CPU time so far.
func rusage() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
