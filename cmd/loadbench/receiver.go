package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// seqKey is the asset field (asset.meta.custom.bench_seq) that carries an
// event's sequence number to the receiver.
const seqKey = "bench_seq"

// tally counts arrivals at the receiver: per sequence number (the event)
// and per webhook-id (the delivery). Times are nanoseconds since the run's
// start on the monotonic clock.
type tally struct {
	mu    sync.Mutex
	first []int64  // first arrival per seq; 0 = none
	count []uint32 // arrivals per seq
	ids   []uint16 // distinct webhook-ids per seq
	perID map[string]idCount
	stray int // arrivals without a known seq
}

// idCount is the arrivals of one webhook-id and the seq it carried.
type idCount struct {
	seq int
	n   uint32
}

func newTally(n int) *tally {
	return &tally{first: make([]int64, n), count: make([]uint32, n), ids: make([]uint16, n), perID: map[string]idCount{}}
}

// record notes that a request with webhook-id id carrying seq arrived at.
// A seq below 0 or beyond the run's events counts as stray.
func (t *tally) record(id string, seq int, at int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq < 0 || seq >= len(t.first) {
		t.stray++
		return
	}
	if t.count[seq] == 0 {
		t.first[seq] = max(at, 1)
	}
	t.count[seq]++
	c, seen := t.perID[id]
	if !seen {
		c.seq = seq
		t.ids[seq]++
	}
	c.n++
	t.perID[id] = c
}

// summary is what arrived of the events lo ≤ seq < hi.
type summary struct {
	delivered int   // accepted events that arrived at least once
	lost      int   // accepted events that did not arrive
	dup       int   // arrivals beyond the first per webhook-id
	extraIDs  int   // webhook-ids beyond the first per event (one event delivered as two deliveries)
	unasked   int   // events that arrived although their ingest request was refused
	last      int64 // latest first arrival
}

// summarize counts the arrivals of lo ≤ seq < hi; accepted says which
// events the API accepted.
func (t *tally) summarize(lo, hi int, accepted []bool) summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s summary
	for seq := lo; seq < hi; seq++ {
		arrived := t.count[seq] > 0
		switch {
		case accepted[seq] && arrived:
			s.delivered++
		case accepted[seq]:
			s.lost++
		case arrived:
			s.unasked++
		}
		if arrived {
			s.last = max(s.last, t.first[seq])
			s.extraIDs += int(t.ids[seq]) - 1
		}
	}
	for _, c := range t.perID {
		if c.seq >= lo && c.seq < hi {
			s.dup += int(c.n) - 1
		}
	}
	return s
}

// firstArrival returns the first arrival of seq, 0 if none.
func (t *tally) firstArrival(seq int) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.first[seq]
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
// 200 at once and records every arrival in its tally.
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
	r.t.record(req.Header.Get("webhook-id"), seq, at)
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}
