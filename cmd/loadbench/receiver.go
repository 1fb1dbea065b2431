package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// seqKey is the asset field (asset.meta.custom.bench_seq) that carries an
// event's sequence number to the receiver.
const seqKey = "bench_seq"

// tally counts arrivals at the receiver: per delivery, that is per
// sequence number (the event) and matching webhook (the receiver's path
// /hook/<i>), and per webhook-id. The webhooks 0 ≤ i < hooks are the
// matching ones, which every event is expected to reach once each. Times
// are nanoseconds since the run's start on the monotonic clock.
type tally struct {
	mu    sync.Mutex
	hooks int      // matching webhooks: the deliveries expected per event
	first []int64  // first arrival per delivery (seq*hooks + hook); 0 = none
	count []uint32 // arrivals per delivery
	ids   []uint16 // distinct webhook-ids per delivery
	perID map[string]idCount
	stray int // arrivals without a known seq or webhook
	wrong int // arrivals at a webhook whose condition no event meets
}

// idCount is the arrivals of one webhook-id and the delivery it carried.
type idCount struct {
	slot int // seq*hooks + hook
	n    uint32
}

// newTally is a tally of n events, each expected at hooks webhooks.
func newTally(n, hooks int) *tally {
	hooks = max(hooks, 1)
	return &tally{hooks: hooks, first: make([]int64, n*hooks), count: make([]uint32, n*hooks), ids: make([]uint16, n*hooks),
		perID: map[string]idCount{}}
}

// record notes that a request with webhook-id id carrying seq arrived at
// webhook hook at at. A seq below 0 or beyond the run's events, or a hook
// below 0, counts as stray; a hook at or beyond the matching ones counts
// as wrong.
func (t *tally) record(hook int, id string, seq int, at int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case seq < 0 || seq >= len(t.first)/t.hooks || hook < 0:
		t.stray++
		return
	case hook >= t.hooks:
		t.wrong++
		return
	}
	slot := seq*t.hooks + hook
	if t.count[slot] == 0 {
		t.first[slot] = max(at, 1)
	}
	t.count[slot]++
	c, seen := t.perID[id]
	if !seen {
		c.slot = slot
		t.ids[slot]++
	}
	c.n++
	t.perID[id] = c
}

// summary is what arrived of the events lo ≤ seq < hi, counted in
// deliveries: an event and one of the matching webhooks.
type summary struct {
	delivered int   // deliveries of accepted events that arrived at least once
	lost      int   // deliveries of accepted events that did not arrive
	dup       int   // arrivals beyond the first per webhook-id
	extraIDs  int   // webhook-ids beyond the first per delivery (one event sent twice to a webhook as two deliveries)
	unasked   int   // events that arrived although their ingest request was refused
	last      int64 // latest first arrival of a delivery
}

// summarize counts the arrivals of lo ≤ seq < hi; accepted says which
// events the API accepted.
func (t *tally) summarize(lo, hi int, accepted []bool) summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s summary
	for seq := lo; seq < hi; seq++ {
		seen := false
		for slot := seq * t.hooks; slot < (seq+1)*t.hooks; slot++ {
			arrived := t.count[slot] > 0
			switch {
			case accepted[seq] && arrived:
				s.delivered++
			case accepted[seq]:
				s.lost++
			}
			if arrived {
				seen = true
				s.last = max(s.last, t.first[slot])
				s.extraIDs += int(t.ids[slot]) - 1
			}
		}
		if seen && !accepted[seq] {
			s.unasked++
		}
	}
	for _, c := range t.perID {
		if c.slot >= lo*t.hooks && c.slot < hi*t.hooks {
			s.dup += int(c.n) - 1
		}
	}
	return s
}

// firstArrival returns the first arrival of seq at matching webhook hook,
// 0 if none.
func (t *tally) firstArrival(seq, hook int) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.first[seq*t.hooks+hook]
}

// wrongArrivals is the number of arrivals at webhooks that should have
// skipped every event.
func (t *tally) wrongArrivals() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wrong
}

// parseSeq finds asset.meta.custom.bench_seq in a delivered JSON body: by a
// scan for the key, which is unique in the document loadbench sends, and by
// decoding the body when the scan finds nothing.
func parseSeq(body []byte) (int, bool) {
	key := []byte(`"` + seqKey + `"`)
	if i := bytes.Index(body, key); i >= 0 {
		rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			rest = bytes.TrimLeft(rest[1:], " \t\r\n")
			j := 0
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			if n, err := strconv.Atoi(string(rest[:j])); err == nil {
				return n, true
			}
		}
	}
	var doc struct {
		Data struct {
			Asset struct {
				Meta struct {
					Custom map[string]json.Number `json:"custom"`
				} `json:"meta"`
			} `json:"asset"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return 0, false
	}
	n, err := doc.Data.Asset.Meta.Custom[seqKey].Int64()
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// receiver is the webhook target: an HTTP server on loopback that answers
// 200 at once and records every arrival in its tally, under the webhook
// its path names (url/<i> for webhook i).
type receiver struct {
	t     *tally
	start time.Time
	srv   *http.Server
	url   string
	bufs  sync.Pool
}

// startReceiver listens on 127.0.0.1 and serves until stop.
func startReceiver(t *tally, start time.Time) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{t: t, start: start, url: "http://" + ln.Addr().String() + "/hook"}
	r.bufs.New = func() any { return new(bytes.Buffer) }
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// ServeHTTP records one arrival and answers 200.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(req.Body)
	at := int64(time.Since(r.start))
	seq, ok := parseSeq(buf.Bytes())
	r.bufs.Put(buf)
	if err != nil || !ok {
		seq = -1
	}
	hook := -1
	if rest, found := strings.CutPrefix(req.URL.Path, "/hook/"); found {
		if n, err := strconv.Atoi(rest); err == nil {
			hook = n
		}
	}
	r.t.record(hook, req.Header.Get("webhook-id"), seq, at)
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}
