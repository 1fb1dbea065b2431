package engine_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/engine"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// TestDeliveriesAcrossPartitions: with deliveries spread over the 16
// partitions, the delivery list is one listing newest first (ties by id
// descending), paged with limit and before without gaps or repeats, with
// and without a status filter; abort, bring forward, resend and recover
// act on deliveries of partitions other than 0, and the failed log merges
// every partition's, newest first.
func TestDeliveriesAcrossPartitions(t *testing.T) { bothBackends(t, testDeliveriesAcrossPartitions) }

func testDeliveriesAcrossPartitions(t *testing.T, backend redistest.Backend) {
	t.Parallel()
	start := time.Now().Add(-time.Second)
	h := setup(t, backend, engine.Config{})
	var mu sync.Mutex
	down := map[string]bool{}
	const n = 24
	for i := 0; i < n; i += 2 {
		down[fmt.Sprintf("asset-%d", i)] = true
	}
	rc := apitest.NewReceiver(t)
	rc.Respond = func(r apitest.Request) (int, string) {
		var p payload
		_ = json.Unmarshal(r.Body, &p)
		mu.Lock()
		defer mu.Unlock()
		if uuid, _ := p.Data.Asset["uuid"].(string); down[uuid] {
			return 500, "down"
		}
		return 200, "ok"
	}
	id := h.CreateWebhook(map[string]any{"name": "parts", "http_url": rc.URL, "trigger_events": []string{"ASSET_ADDED"},
		"retry_schedule": []string{"1h"}})
	path := fmt.Sprintf("/api/v2/admin/webhooks/%d", id)
	for i := range n {
		h.Send(asset(i))
	}
	redistest.Eventually(t, 30*time.Second, func() bool {
		return len(deliveries(t, h, id, "?status=retrying")) == n/2 && len(deliveries(t, h, id, "?status=succeeded")) == n/2
	}, "half retrying, half succeeded")

	// Where each asset's deliveries are (the harness's store has the
	// default partitions).
	parts := store.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), "{x}")
	defer parts.Close()
	partOf := map[string]int{} // delivery id → partition
	assetOf := map[string]string{}
	all := deliveries(t, h, id, "?limit=500")
	if len(all) != n {
		t.Fatalf("%d deliveries, want %d", len(all), n)
	}
	for _, r := range rc.Requests() {
		var p payload
		_ = json.Unmarshal(r.Body, &p)
		uuid, _ := p.Data.Asset["uuid"].(string)
		did := r.Header.Get("webhook-id")
		assetOf[did] = uuid
		partOf[did] = parts.Partition(uuid, "")
	}
	used := map[int]bool{}
	for _, p := range partOf {
		used[p] = true
	}
	if len(used) < 4 {
		t.Fatalf("the deliveries are in %d partitions only", len(used))
	}
	// Newest first, ties by id descending: the order of one sorted set.
	if !sort.SliceIsSorted(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if !a.CreatedAt.Equal(b.CreatedAt.Time) {
			return a.CreatedAt.After(b.CreatedAt.Time)
		}
		return a.ID > b.ID
	}) {
		t.Errorf("not newest first: %v", ids(all))
	}
	page := func(query string, limit int) []engine.Delivery {
		var out []engine.Delivery
		before := ""
		for range 100 {
			q := fmt.Sprintf("?limit=%d%s", limit, query)
			if before != "" {
				q += "&before=" + before
			}
			got := deliveries(t, h, id, q)
			out = append(out, got...)
			if len(got) < limit {
				return out
			}
			before = got[len(got)-1].ID
		}
		t.Fatalf("%s: no end", query)
		return nil
	}
	filter := func(status string) []string {
		var out []string
		for _, d := range all {
			if status == "" || d.Status == status {
				out = append(out, d.ID)
			}
		}
		return out
	}
	for _, c := range []struct {
		status string
		limit  int
	}{{"", 1}, {"", 5}, {"", 7}, {"retrying", 3}, {"succeeded", 4}, {"retrying", 50}} {
		q := ""
		if c.status != "" {
			q = "&status=" + c.status
		}
		if got, want := ids(page(q, c.limit)), filter(c.status); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("status %q in pages of %d: %v, want %v", c.status, c.limit, got, want)
		}
	}
	if r := h.Admin("GET", path+"/deliveries?before=msg_nope", nil); r.Status != 422 {
		t.Errorf("before an unknown delivery: %d", r.Status)
	}

	// Deliveries of partitions other than 0, by status.
	var retrying, succeeded []engine.Delivery
	for _, d := range all {
		if partOf[d.ID] == 0 {
			continue
		}
		switch d.Status {
		case engine.StatusRetrying:
			retrying = append(retrying, d)
		case engine.StatusSucceeded:
			succeeded = append(succeeded, d)
		}
	}
	if len(retrying) < 4 || len(succeeded) < 1 {
		t.Fatalf("too few deliveries outside partition 0: %d retrying, %d succeeded", len(retrying), len(succeeded))
	}
	// Abort three: the failed log lists them newest first.
	for _, d := range retrying[:3] {
		r := h.Must(http.StatusOK, "POST", path+"/deliveries/"+d.ID+"/abort", nil)
		if r["delivery"].(map[string]any)["status"] != "failed" {
			t.Errorf("abort of %s: %v", d.ID, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	log := h.Must(200, "GET", path+"/failed", nil)["failed_log"].([]any)
	var logged []string
	for _, e := range log {
		logged = append(logged, e.(map[string]any)["id"].(string))
	}
	if want := []string{retrying[2].ID, retrying[1].ID, retrying[0].ID}; fmt.Sprint(logged) != fmt.Sprint(want) {
		t.Errorf("failed log %v, want %v", logged, want)
	}
	if s := stats(t, h, id); s.RetryQueueLength != n/2-3 {
		t.Errorf("retry queue length after the aborts: %d, want %d", s.RetryQueueLength, n/2-3)
	}
	// Bring one forward, its receiver up again.
	fwd := retrying[3]
	mu.Lock()
	delete(down, assetOf[fwd.ID])
	delete(down, assetOf[retrying[0].ID])
	mu.Unlock()
	h.Must(http.StatusAccepted, "POST", path+"/deliveries/"+fwd.ID+"/retry", nil)
	// Resend a succeeded one.
	again := succeeded[0]
	h.Must(http.StatusAccepted, "POST", path+"/deliveries/"+again.ID+"/retry", nil)
	// Recover the aborted ones: the first one's receiver is up.
	rec := h.Must(http.StatusAccepted, "POST", path+"/recover", map[string]any{"since": start.UTC().Format(time.RFC3339Nano)})
	if rec["requeued"] != 3.0 {
		t.Errorf("recover: %v, want 3 requeued", rec)
	}
	redistest.Eventually(t, 30*time.Second, func() bool {
		sent := map[string]int{}
		for _, r := range rc.Requests() {
			sent[r.Header.Get("webhook-id")]++
		}
		got := map[string]string{}
		for _, d := range deliveries(t, h, id, "?limit=500") {
			got[d.ID] = d.Status
		}
		return sent[again.ID] == 2 && got[fwd.ID] == engine.StatusSucceeded && got[retrying[0].ID] == engine.StatusSucceeded &&
			got[retrying[1].ID] == engine.StatusFailed && sent[retrying[1].ID] == 2
	}, "brought forward, resent and recovered")
}
