package actions_test

import (
	"fmt"
	"time"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/event"
)

// The default json body is the Standard Webhooks payload shape; numbers are
// delivered exactly as the DAM sent them.
func ExampleDefaultJSON() {
	ev := &event.Event{ID: "evt_1", Type: "ASSET_ADDED", OccurredAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Actor: event.Actor{Username: "ana", Interface: "web"}}
	if err := event.UnmarshalJSONNumber([]byte(`{"uuid":"a-1","name":"banner.jpg","ratio":1.50}`), &ev.Asset); err != nil {
		panic(err)
	}
	b, _ := actions.DefaultJSON(ev)
	fmt.Println(string(b))
	// Output: {"id":"evt_1","type":"ASSET_ADDED","timestamp":"2026-11-22T10:00:00.000Z","data":{"actor":{"interface":"web","username":"ana"},"asset":{"name":"banner.jpg","ratio":1.50,"uuid":"a-1"},"changes":[],"destination":null,"marker":null,"project_id":null}}
}
