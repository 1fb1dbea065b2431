package store_test

import (
	"testing"
	"time"

	"github.com/assethooks/assethooks/engine/store"
)

// TestRequeue: finished deliveries of a window are queued once more only
// while their record is as read, counted as retries, their abort marks
// dropped; a second requeue of the same reads queues nothing.
func TestRequeue(t *testing.T) {
	eachN(t, 1, func(t *testing.T, b bundle) {
		at := time.UnixMilli(1_700_000_000_000)
		for _, id := range []string{"e1", "e2"} {
			rb, _ := routeOne(t, b, id)
			if _, err := b.st.Route(b.ctx, rb); err != nil {
				t.Fatal(err)
			}
		}
		recs, next, err := b.st.DeliveriesBetween(b.ctx, 7, at, at, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "the window", []any{listedIDs(recs), len(recs), next == nil}, []any{[]string{"d-e1", "d-e2"}, 2, true})
		if later, _, _ := b.st.DeliveriesBetween(b.ctx, 7, at.Add(time.Millisecond), at.Add(time.Hour), nil, 10); len(later) != 0 {
			t.Errorf("a later window holds %v", listedIDs(later))
		}
		if _, _, err := b.st.Abort(b.ctx, 0, 7, "d-e2", []byte(`{}`), 10, at, time.Hour); err != nil {
			t.Fatal(err)
		}
		items := []store.Requeued{
			{DeliveryID: "d-e1", Old: recs[0].Record, Message: []byte(`{"d":"d-e1","m":true}`), Record: []byte(`{"status":"retrying"}`)},
			{DeliveryID: "d-e2", Old: []byte(`{"changed":1}`), Message: []byte(`{}`), Record: []byte(`{}`)},
		}
		ok, err := b.st.Requeue(b.ctx, 7, items)
		if err != nil {
			t.Fatal(err)
		}
		marks, _ := b.st.Aborted(b.ctx)
		diff(t, "first requeue", []any{ok, b.xlen(t, ":deliveries"), b.hget(t, ":rlen", "7"), b.hget(t, ":wh:7:rec", "d-e1"), len(marks)},
			[]any{[]bool{true, false}, int64(3), "1", `{"status":"retrying"}`, 1})
		ok, _ = b.st.Requeue(b.ctx, 7, items[:1])
		diff(t, "the same read again", []any{ok, b.xlen(t, ":deliveries"), b.hget(t, ":rlen", "7")}, []any{[]bool{false}, int64(3), "1"})
	})
}

// TestReplayStore: the stored events of a window are scanned minute by
// minute; a replayed delivery is queued only when the webhook has no
// record of it, with its event stored again in the current minute.
func TestReplayStore(t *testing.T) {
	eachN(t, 1, func(t *testing.T, b bundle) {
		at := time.UnixMilli(1_700_000_000_000)
		rb, _ := routeOne(t, b, "e1")
		if _, err := b.st.Route(b.ctx, rb); err != nil {
			t.Fatal(err)
		}
		have, err := b.st.HaveRecords(b.ctx, 7, []int{0, 0}, []string{"d-e1", "d-e2"})
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "records", have, []bool{true, false})
		now := at.Add(10 * time.Minute)
		items := []store.Replayed{
			{NewDelivery: store.NewDelivery{WebhookID: 7, DeliveryID: "d-e1", Message: []byte(`{}`), Record: []byte(`{}`), Created: now.UnixMilli()}, EventID: "e1", Event: []byte("body\n{}")},
			{NewDelivery: store.NewDelivery{WebhookID: 8, DeliveryID: "d8-e1", Message: []byte(`{"d":"d8-e1"}`), Body: []byte("body"), Record: []byte(`{"status":"pending"}`), Created: now.UnixMilli()}, EventID: "e1", Event: []byte("body\n{}")},
		}
		made, err := b.st.Replay(b.ctx, 8, now, time.Hour, items[1:])
		if err != nil {
			t.Fatal(err)
		}
		again, _ := b.st.Replay(b.ctx, 8, now, time.Hour, items[1:])
		old, _ := b.st.Replay(b.ctx, 7, now, time.Hour, items[:1])
		diff(t, "replayed", []any{made, again, old, b.xlen(t, ":deliveries"), b.hget(t, ":qlen", "8"), b.hget(t, ":wh:8:rec", "d8-e1")},
			[]any{[]bool{true}, []bool{false}, []bool{false}, int64(2), "1", `{"status":"pending"}`})
		ev, err := b.st.StoredEventAt(b.ctx, 0, "e1", now)
		if err != nil || string(ev) != "body\n{}" {
			t.Errorf("the event in the replay's minute: %q %v", ev, err)
		}
	})
}
