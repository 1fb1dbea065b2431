package engine_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/internal/redistest"
)

// TestActionRegistry: a stored webhook names its action type, and the
// engine builds that action from Config.Registry: a type registered beside
// the built-in webhook receives the deliveries of the webhooks naming it.
func TestActionRegistry(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var mu sync.Mutex
		var got []string
		reg := actions.Builtin()
		reg.Register("probe", func(config json.RawMessage, opts actions.Options) (actions.Action, error) {
			return actions.ActionFunc(func(_ context.Context, d *actions.Delivery) actions.Result {
				mu.Lock()
				got = append(got, d.Event.Type+" "+d.ID)
				mu.Unlock()
				return actions.Result{StatusCode: 200}
			}), nil
		})
		e := startEngine(t, rdb, prefix, engine.Config{Registry: reg})
		c, err := actions.DecodeConfig(map[string]any{"http_url": "http://127.0.0.1:1/unused"})
		if err != nil {
			t.Fatal(err)
		}
		w := &engine.Webhook{Name: "probe", Action: "probe", Triggers: []string{"ASSET_ADDED"}, WebhookConfig: c}
		if err := e.Webhooks().Create(context.Background(), w); err != nil {
			t.Fatal(err)
		}
		ids, err := e.Ingest(context.Background(), events(0, 1))
		if err != nil {
			t.Fatal(err)
		}
		want := "ASSET_ADDED " + engine.DeliveryID(ids[0], w.ID)
		redistest.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 }, "probe ran")
		if got[0] != want {
			t.Errorf("probe got %q, want %q", got[0], want)
		}
		stored, _ := e.Webhooks().Get(context.Background(), w.ID)
		if stored.Action != "probe" {
			t.Errorf("stored action %q, want probe", stored.Action)
		}
		// A webhook of an unknown type is refused when saved.
		bad := &engine.Webhook{Name: "bad", Action: "nope", Triggers: []string{"ASSET_ADDED"}, WebhookConfig: c}
		if err := e.Webhooks().Create(context.Background(), bad); err == nil {
			t.Error("a webhook of an unregistered action type was saved")
		}
	})
}
