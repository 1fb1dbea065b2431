package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assethooks/assethooks/internal/apitest"
	"github.com/assethooks/assethooks/internal/redistest"
)

// counter is a receiver that only counts, and notes when each numbered
// asset ("uuid":"n-<i>") arrived.
type counter struct {
	n       atomic.Int64
	mu      sync.Mutex
	arrived map[int]time.Time
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if i := bytes.Index(b, []byte(`"uuid":"n-`)); i >= 0 {
		rest := b[i+len(`"uuid":"n-`):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			if k, err := strconv.Atoi(string(rest[:j])); err == nil {
				c.mu.Lock()
				if _, seen := c.arrived[k]; !seen {
					c.arrived[k] = time.Now()
				}
				c.mu.Unlock()
			}
		}
	}
	c.n.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func pipeline(b *testing.B, backend redistest.Backend) (*apitest.Harness, *counter, *http.Client) {
	b.Helper()
	h := apitest.New(b, apitest.Options{Backend: backend})
	c := &counter{arrived: map[int]time.Time{}}
	rs := httptest.NewServer(c)
	b.Cleanup(rs.Close)
	h.CreateWebhook(map[string]any{"name": "bench", "http_url": rs.URL, "trigger_events": []string{"ASSET_ADDED"}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	return h, c, client
}

func post(b *testing.B, client *http.Client, url string, i int) time.Time {
	body := fmt.Sprintf(`{"type":"ASSET_ADDED","actor":{"username":"bench","interface":"restapi"},`+
		`"asset":{"uuid":"n-%d","name":"a.jpg","path":"/bench/a.jpg","size":1024,"mime_type":"image/jpeg","tags":["x"]}}`, i)
	req, _ := http.NewRequest("POST", url+"/api/v2/events", bytes.NewBufferString(body))
	req.Header.Set("X-API-KEY", apitest.AdminKey)
	res, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		b.Fatalf("ingest: %d", res.StatusCode)
	}
	return time.Now()
}

// BenchmarkPipeline sends b.N single-event requests from 16 clients and
// waits until the receiver has them all: ingest → route → deliver → record.
func BenchmarkPipeline(b *testing.B) {
	for _, backend := range redistest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			h, c, client := pipeline(b, backend)
			b.ResetTimer()
			start := time.Now()
			var next atomic.Int64
			var wg sync.WaitGroup
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1)); i <= b.N; i = int(next.Add(1)) {
						post(b, client, h.URL, i)
					}
				}()
			}
			wg.Wait()
			ingested := time.Since(start)
			redistest.Eventually(b, time.Minute, func() bool { return c.n.Load() >= int64(b.N) }, "delivered %d of %d", c.n.Load(), b.N)
			total := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/ingested.Seconds(), "ingest/s")
			b.ReportMetric(float64(b.N)/total.Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkLatency sends events at 1,000 a second and reports the p50 and
// p99 time from the 202 to the receiver.
func BenchmarkLatency(b *testing.B) {
	for _, backend := range redistest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			h, c, client := pipeline(b, backend)
			sent := make([]time.Time, b.N+1)
			b.ResetTimer()
			tick := time.NewTicker(time.Millisecond)
			var wg sync.WaitGroup
			for i := 1; i <= b.N; i++ {
				<-tick.C
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					sent[i] = post(b, client, h.URL, i)
				}(i)
			}
			tick.Stop()
			wg.Wait()
			redistest.Eventually(b, time.Minute, func() bool { return c.n.Load() >= int64(b.N) }, "delivered %d of %d", c.n.Load(), b.N)
			b.StopTimer()
			c.mu.Lock()
			lat := make([]float64, 0, b.N)
			for i := 1; i <= b.N; i++ {
				lat = append(lat, float64(c.arrived[i].Sub(sent[i]))/float64(time.Millisecond))
			}
			c.mu.Unlock()
			sort.Float64s(lat)
			b.ReportMetric(lat[len(lat)/2], "p50-ms")
			b.ReportMetric(lat[len(lat)*99/100], "p99-ms")
		})
	}
}
