package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// description pads the asset so that one event is about 1 KB of JSON.
const description = "Load-test asset sent by cmd/loadbench. It stands for a photograph uploaded " +
	"to a DAM: a title, a description of a few sentences, tags and labels, image dimensions, " +
	"system metadata from the camera and custom metadata from the DAM's own fields. The engine " +
	"routes it through the rules of every webhook and delivers it to the receiver of loadbench, " +
	"which reads back the sequence number in meta.custom and notes when it arrived."

// appendEvent appends one ASSET_ADDED event for asset run-seq to dst.
func appendEvent(dst []byte, run string, seq int) []byte {
	n := strconv.Itoa(seq)
	dst = append(dst, `{"type":"ASSET_ADDED","actor":{"username":"loadbench","interface":"restapi"},"asset":{"uuid":"`...)
	dst = append(dst, run...)
	dst = append(dst, '-')
	dst = append(dst, n...)
	dst = append(dst, `","name":"IMG_`...)
	dst = append(dst, n...)
	dst = append(dst, `.jpg","path":"/bench/`...)
	dst = append(dst, run...)
	dst = append(dst, `/IMG_`...)
	dst = append(dst, n...)
	dst = append(dst, `.jpg","mime_type":"image/jpeg","size":`...)
	dst = strconv.AppendInt(dst, 2_000_000+int64(seq), 10)
	dst = append(dst, `,"cdn_url":"https://cdn.example.com/bench/IMG_`...)
	dst = append(dst, n...)
	dst = append(dst, `.jpg","info":{"title":"Bench asset `...)
	dst = append(dst, n...)
	dst = append(dst, `","description":"`...)
	dst = append(dst, description...)
	dst = append(dst, `"},"tags":["bench","load","jpeg"],"labels":["benchmark"],"image":{"width":4000,"height":3000},`...)
	dst = append(dst, `"meta":{"system":{"camera":"X-T5","iso":200,"exposure":"1/250"},"custom":{"`+seqKey+`":`...)
	dst = append(dst, n...)
	dst = append(dst, `,"status":"new","owner":"loadbench"}},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}`...)
	return dst
}

// appendBatch appends {"events":[…]} with the events lo ≤ seq < hi to dst.
func appendBatch(dst []byte, run string, lo, hi int) []byte {
	dst = append(dst, `{"events":[`...)
	for seq := lo; seq < hi; seq++ {
		if seq > lo {
			dst = append(dst, ',')
		}
		dst = appendEvent(dst, run, seq)
	}
	return append(dst, "]}"...)
}

// newClient is an HTTP client for loopback targets, with an idle pool
// large enough that conns concurrent requests keep their connections.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * conns,
			MaxIdleConnsPerHost: 2 * conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// call sends body to url with the API key; it returns the status and up to
// 4 KiB of the answer.
func call(ctx context.Context, client *http.Client, method, url, key string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-API-KEY", key)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, b, nil
}

// skipCondition is the condition of the webhooks that match no event: every
// bench asset is about 2 MB.
const skipCondition = "asset.size < 0"

// createWebhook registers a bench webhook for ASSET_ADDED with target; one
// that does not match gets skipCondition, evaluated on every event and
// false for each.
func createWebhook(ctx context.Context, client *http.Client, engineURL, key, target string, match bool) error {
	hook := map[string]any{"name": "bench", "http_url": target, "trigger_events": []string{"ASSET_ADDED"}}
	if !match {
		hook["condition"] = skipCondition
	}
	body, _ := json.Marshal(hook)
	status, answer, err := call(ctx, client, http.MethodPost, engineURL+"/api/v2/admin/webhooks", key, body)
	if err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("create webhook: status %d: %s", status, answer)
	}
	return nil
}

// sendStats is what the clients of one scenario did.
type sendStats struct {
	lo, hi    int   // the scenario's events: lo ≤ seq < hi
	firstSend int64 // ns since the run's start
	lastDone  int64 // end of the last request
	requests  int
	refused   int    // requests that got no 202
	firstErr  string // the first refusal
}

// accepted counts the events of the scenario the API accepted.
func (s sendStats) accepted(accepted []bool) int {
	n := 0
	for _, a := range accepted[s.lo:s.hi] {
		if a {
			n++
		}
	}
	return n
}

// sender sends events to the engines round-robin and notes, per event,
// when its request started and whether it was accepted.
type sender struct {
	run     string
	client  *http.Client
	urls    []string
	key     string
	start   time.Time
	rr      atomic.Uint64
	started []int64 // per seq: ns since start when its request began
	ok      []bool  // per seq: the API answered 202

	mu    sync.Mutex
	stats sendStats
}

func (s *sender) now() int64 { return int64(time.Since(s.start)) }

// post sends the events lo ≤ seq < hi in one request: a single event when
// there is one, else a batch.
func (s *sender) post(ctx context.Context, lo, hi int) {
	var body []byte
	if hi-lo == 1 {
		body = appendEvent(make([]byte, 0, 1200), s.run, lo)
	} else {
		body = appendBatch(make([]byte, 0, (hi-lo)*1100+16), s.run, lo, hi)
	}
	url := s.urls[int(s.rr.Add(1)%uint64(len(s.urls)))] + "/api/v2/events"
	t0 := s.now()
	for seq := lo; seq < hi; seq++ {
		s.started[seq] = t0
	}
	status, answer, err := call(ctx, s.client, http.MethodPost, url, s.key, body)
	done := s.now()
	accepted := err == nil && status == http.StatusAccepted
	if accepted {
		for seq := lo; seq < hi; seq++ {
			s.ok[seq] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.requests++
	s.stats.lastDone = max(s.stats.lastDone, done)
	if !accepted && ctx.Err() == nil {
		s.stats.refused++
		if s.stats.firstErr == "" {
			if err != nil {
				s.stats.firstErr = err.Error()
			} else {
				s.stats.firstErr = fmt.Sprintf("status %d: %s", status, bytes.TrimSpace(answer))
			}
		}
	}
}

// begin resets the statistics for a scenario of the events lo ≤ seq < hi.
func (s *sender) begin(lo, hi int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = sendStats{lo: lo, hi: hi, firstSend: s.now()}
}

// end returns the scenario's statistics.
func (s *sender) end() sendStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// flood has clients goroutines send the events lo ≤ seq < hi, size per
// request, as fast as the engines answer.
func (s *sender) flood(ctx context.Context, lo, hi, size, clients int) sendStats {
	s.begin(lo, hi)
	var next atomic.Int64
	next.Store(int64(lo))
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				a := int(next.Add(int64(size))) - size
				if a >= hi {
					return
				}
				s.post(ctx, a, min(a+size, hi))
			}
		})
	}
	wg.Wait()
	return s.end()
}

// paced sends the events lo ≤ seq < hi one per request at rate a second,
// from a pool of clients goroutines. A send that falls behind its schedule
// goes out at once; the achieved rate is the result's to report.
func (s *sender) paced(ctx context.Context, lo, hi, rate, clients int) sendStats {
	s.begin(lo, hi)
	work := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for seq := range work {
				s.post(ctx, seq, seq+1)
			}
		})
	}
	t0 := time.Now()
	interval := time.Second / time.Duration(rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for seq := lo; seq < hi; seq++ {
		if wait := time.Until(t0.Add(time.Duration(seq-lo) * interval)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		}
		select {
		case work <- seq:
		case <-ctx.Done():
			break loop
		}
	}
	close(work)
	wg.Wait()
	return s.end()
}
