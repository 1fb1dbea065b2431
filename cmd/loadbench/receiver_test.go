package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTallyLostAndDuplicated(t *testing.T) {
	t.Parallel()
	tl := newTally(8, 1)
	// Events 0..5 belong to the scenario; 4 was refused by the API.
	accepted := []bool{true, true, true, true, false, true, true, true}
	tl.record(0, "msg_a", 0, 100)
	tl.record(0, "msg_a", 0, 900) // a retry of the same delivery: one duplicate
	tl.record(0, "msg_a", 0, 950) // and another
	tl.record(0, "msg_b", 1, 300)
	tl.record(0, "msg_c", 2, 200)
	tl.record(0, "msg_c2", 2, 700) // the same event as a second delivery
	// 3 never arrives: lost.
	tl.record(0, "msg_d", 4, 400) // refused, arrived anyway
	// 5 never arrives: lost.
	tl.record(0, "msg_e", 6, 5000) // outside the scenario
	tl.record(0, "msg_x", -1, 10)  // no seq in the body
	tl.record(0, "msg_y", 99, 10)  // a seq beyond the run

	got := tl.summarize(0, 6, accepted)
	want := summary{delivered: 3, lost: 2, dup: 2, extraIDs: 1, unasked: 1, last: 400}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(summary{})); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if tl.stray != 2 {
		t.Errorf("stray = %d, want 2", tl.stray)
	}
	if at := tl.firstArrival(0, 0); at != 100 {
		t.Errorf("first arrival of 0 = %d, want the first of its arrivals, 100", at)
	}
	if got := tl.summarize(6, 8, accepted); got.delivered != 1 || got.lost != 1 || got.last != 5000 {
		t.Errorf("second scenario = %+v, want 1 delivered, 1 lost, last 5000", got)
	}
}

func TestTallyPerMatchingWebhook(t *testing.T) {
	t.Parallel()
	// Three events, each expected at the 3 matching webhooks (0, 1, 2) of
	// 5; event 2 was refused by the API.
	tl := newTally(3, 3)
	accepted := []bool{true, true, false}
	for hook := range 3 {
		tl.record(hook, "msg_0_"+strconv.Itoa(hook), 0, int64(100+hook)) // 3 distinct ids: no note, no dup
	}
	tl.record(1, "msg_0_1", 0, 900) // a retry of one of them: one duplicate
	tl.record(0, "msg_1_0", 1, 200)
	tl.record(0, "msg_1_0b", 1, 250) // the same event at the same webhook again, under a second id
	tl.record(2, "msg_1_2", 1, 600)  // webhook 1 never gets event 1: lost
	tl.record(3, "msg_1_3", 1, 300)  // a webhook whose condition is false
	tl.record(1, "msg_2_1", 2, 400)  // refused, arrived anyway
	tl.record(-1, "msg_x", 0, 10)    // a path without a webhook

	got := tl.summarize(0, 3, accepted)
	want := summary{delivered: 5, lost: 1, dup: 1, extraIDs: 1, unasked: 1, last: 600}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(summary{})); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if tl.wrongArrivals() != 1 || tl.stray != 1 {
		t.Errorf("wrong = %d, stray = %d; want 1 and 1", tl.wrongArrivals(), tl.stray)
	}
	if at := tl.firstArrival(1, 2); at != 600 {
		t.Errorf("first arrival of event 1 at webhook 2 = %d, want 600", at)
	}
	if got := tl.summarize(1, 2, accepted); got.delivered != 2 || got.lost != 1 || got.dup != 0 {
		t.Errorf("event 1 alone = %+v, want 2 delivered, 1 lost, no duplicate", got)
	}
}

func TestParseSeq(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want int
		ok   bool
	}{
		{"compact", `{"data":{"asset":{"meta":{"custom":{"bench_seq":42,"status":"new"}}}}}`, 42, true},
		{"spaced", `{"data": {"asset": {"meta": {"custom": {"bench_seq" : 7}}}}}`, 7, true},
		{"last field", `{"data":{"asset":{"meta":{"custom":{"bench_seq":19999}}}}}`, 19999, true},
		{"as a string falls back to decoding", `{"data":{"asset":{"meta":{"custom":{"bench_seq":"12"}}}}}`, 12, true},
		{"absent", `{"data":{"asset":{"uuid":"x"}}}`, 0, false},
		{"not JSON", `bench`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseSeq([]byte(tt.body))
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseSeq = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestEventIsAbout1KB(t *testing.T) {
	t.Parallel()
	body := appendEvent(nil, "b1234abcd", 12345)
	if n := len(body); n < 900 || n > 1200 {
		t.Errorf("event is %d bytes, want about 1 KB", n)
	}
	var ev struct {
		Type  string `json:"type"`
		Asset struct {
			UUID     string `json:"uuid"`
			MimeType string `json:"mime_type"`
			Meta     struct {
				Custom map[string]any `json:"custom"`
			} `json:"meta"`
		} `json:"asset"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if ev.Type != "ASSET_ADDED" || ev.Asset.UUID != "b1234abcd-12345" || ev.Asset.MimeType != "image/jpeg" || ev.Asset.Meta.Custom[seqKey] != 12345.0 {
		t.Errorf("event = %+v", ev)
	}
	if seq, ok := parseSeq(body); !ok || seq != 12345 {
		t.Errorf("parseSeq(event) = %d, %v", seq, ok)
	}

	var batch struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(appendBatch(nil, "r", 10, 13), &batch); err != nil || len(batch.Events) != 3 {
		t.Fatalf("batch: %d events, %v", len(batch.Events), err)
	}
	if seq, _ := parseSeq(batch.Events[2]); seq != 12 {
		t.Errorf("third event of the batch has seq %d, want 12", seq)
	}
}

func TestReceiverRecordsByWebhookID(t *testing.T) {
	t.Parallel()
	tl := newTally(4, 1)
	r := &receiver{t: tl, start: time.Now()}
	r.bufs.New = func() any { return new(bytes.Buffer) }
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	deliver := func(id string, seq int) {
		t.Helper()
		body := `{"id":"evt_1","type":"ASSET_ADDED","timestamp":"2026-01-01T00:00:00Z","data":{"asset":` +
			strings.TrimPrefix(string(appendEvent(nil, "r", seq)), `{"type":"ASSET_ADDED","actor":{"username":"loadbench","interface":"restapi"},"asset":`) + `}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hook/0", strings.NewReader(body))
		req.Header.Set("webhook-id", id)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("receiver answered %d", res.StatusCode)
		}
	}
	deliver("msg_1", 1)
	deliver("msg_1", 1)
	deliver("msg_2", 2)
	got := tl.summarize(0, 4, []bool{true, true, true, false})
	if got.delivered != 2 || got.lost != 1 || got.dup != 1 || got.last <= 0 {
		t.Errorf("summary = %+v, want 2 delivered, 1 lost (0), 1 duplicate", got)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	c, err := parseFlags([]string{"-events", "300", "-scenarios", "latency,single"})
	if err != nil {
		t.Fatal(err)
	}
	if c.events != 300 || c.clients != 32 || c.webhooks != 1 || c.matching != 1 || c.redisAddr != "127.0.0.1:6379" || c.latencyEvents() != 10000 ||
		!cmp.Equal(c.scenarios, []string{"latency", "single"}) || c.command != "loadbench -events 300 -scenarios latency,single" {
		t.Errorf("config = %+v", c)
	}
	if c, err := parseFlags([]string{"-webhooks", "100"}); err != nil || c.webhooks != 100 || c.matching != 100 {
		t.Errorf("-webhooks 100: %d, %d, %v; want -matching to default to all 100", c.webhooks, c.matching, err)
	}
	if c, err := parseFlags([]string{"-webhooks", "100", "-matching", "10"}); err != nil || c.webhooks != 100 || c.matching != 10 {
		t.Errorf("-webhooks 100 -matching 10: %d, %d, %v", c.webhooks, c.matching, err)
	}
	for _, args := range [][]string{
		{"-webhooks", "0"},
		{"-webhooks", "5", "-matching", "6"},
		{"-matching", "0"},
		{"-redis", "10.0.0.5:6379"},
		{"-redis", "redis.example.com:6379"},
		{"-scenarios", "soak"},
		{"-batch-size", "1001"},
		{"-procs", "0"},
		{"extra"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
	for _, addr := range []string{"127.0.0.1:6379", "[::1]:6380", "localhost:6379"} {
		if err := checkLoopback(addr); err != nil {
			t.Errorf("checkLoopback(%s): %v", addr, err)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	t.Parallel()
	if got := globEscape(`{bench*a?[b]\}`); got != `{bench\*a\?\[b\]\\}` {
		t.Errorf("globEscape = %s", got)
	}
}
