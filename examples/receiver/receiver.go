package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options tune the receiver's Handler; the zero value is usable.
type Options struct {
	// Tolerance is how far webhook-timestamp may be from now; 5 minutes
	// when zero.
	Tolerance time.Duration
	// Remember is how long a webhook-id is remembered to drop duplicates;
	// 72 hours (the sender's retry window) when zero.
	Remember time.Duration
	// MaxIDs caps the remembered ids; 100000 when zero.
	MaxIDs int
	// MaxBody is the largest body accepted; 1 MiB when zero.
	MaxBody int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Process is called once per new, verified delivery; when nil the
	// event is printed to Out.
	Process func(id string, header http.Header, body []byte)
	// Out is where events are printed when Process is nil; io.Discard when nil.
	Out io.Writer
	// Basic, as "user:password", makes the receiver require those HTTP
	// Basic credentials (a webhook's "auth": {"type": "basic"}) and answer
	// 401 without them; empty accepts any request.
	Basic string
}

// handler verifies, deduplicates and processes deliveries.
type handler struct {
	key  []byte
	opts Options

	mu    sync.Mutex
	seen  map[string]time.Time
	order []string // ids in the order they were seen, for eviction
}

// Handler returns an http.Handler for deliveries signed with secret
// ("whsec_" + base64). It answers 400 for missing or malformed signature
// headers, 401 for a bad signature or a timestamp outside the tolerance,
// 413 for a body too large, and 200 otherwise (also for a duplicate, which
// is not processed again).
func Handler(secret string, opts Options) (http.Handler, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") || len(key) == 0 {
		return nil, errors.New("receiver: the signing secret must be whsec_ followed by base64")
	}
	if opts.Tolerance == 0 {
		opts.Tolerance = 5 * time.Minute
	}
	if opts.Remember == 0 {
		opts.Remember = 72 * time.Hour
	}
	if opts.MaxIDs == 0 {
		opts.MaxIDs = 100000
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	return &handler{key: key, opts: opts, seen: map[string]time.Time{}}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Basic != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(h.opts.Basic)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="receiver"`)
			http.Error(w, "wrong or missing Basic credentials", http.StatusUnauthorized)
			return
		}
	}
	id := r.Header.Get("webhook-id")
	ts := r.Header.Get("webhook-timestamp")
	sigs := r.Header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		http.Error(w, "missing webhook-id, webhook-timestamp or webhook-signature", http.StatusBadRequest)
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		http.Error(w, "webhook-timestamp is not unix seconds", http.StatusBadRequest)
		return
	}
	now := h.opts.Now()
	if d := now.Sub(time.Unix(sec, 0)); d > h.opts.Tolerance || d < -h.opts.Tolerance {
		http.Error(w, "webhook-timestamp too far from now", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !h.verify(id, ts, body, sigs) {
		http.Error(w, "no valid signature", http.StatusUnauthorized)
		return
	}
	if !h.firstTime(id, now) {
		io.WriteString(w, "duplicate\n")
		return
	}
	if h.opts.Process != nil {
		h.opts.Process(id, r.Header, body)
	} else {
		fmt.Fprintf(h.opts.Out, "%s %s %s attempt=%s webhook-id=%s content-type=%s\n%s\n",
			now.UTC().Format(time.RFC3339), r.Method, r.Header.Get("X-Assethooks-Event"), r.Header.Get("X-Assethooks-Attempt"), id,
			r.Header.Get("Content-Type"), printable(r, body))
	}
	io.WriteString(w, "ok\n")
}

// verify checks the space-separated "v1,<base64>" signatures of
// id.timestamp.body; one match is enough (two are sent during a rotation).
func (h *handler) verify(id, ts string, body []byte, sigs string) bool {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// firstTime records id and reports whether it was new. Ids are forgotten
// after Remember, or oldest first beyond MaxIDs.
func (h *handler) firstTime(id string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.order) > 0 {
		oldest := h.order[0]
		if len(h.order) < h.opts.MaxIDs && now.Sub(h.seen[oldest]) < h.opts.Remember {
			break
		}
		delete(h.seen, oldest)
		h.order = h.order[1:]
	}
	if _, dup := h.seen[id]; dup {
		return false
	}
	h.seen[id] = now
	h.order = append(h.order, id)
	return true
}

// printable is the payload as it came: the body, or the query string of a
// bodiless (GET or query-format) delivery.
func printable(r *http.Request, body []byte) string {
	if len(body) == 0 {
		return r.URL.RawQuery
	}
	return string(body)
}
