package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"sync"
)

// keep is how many documents Caught remembers.
const keep = 100

// Catcher is a catch hook: it accepts JSON and form-urlencoded deliveries,
// decodes each into a document (JSON numbers as json.Number, form values as
// strings) and hands it to Process (in order of arrival).
type Catcher struct {
	// Process receives each caught document; nil keeps them only in Caught.
	Process func(doc map[string]any)
	// MaxBody is the largest body accepted; 1 MiB when zero.
	MaxBody int64

	mu     sync.Mutex
	caught []map[string]any
}

// Caught returns the documents caught so far (the latest 100).
func (c *Catcher) Caught() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.caught...)
}

// ServeHTTP implements http.Handler: 200 for a document, 400 for a body it
// cannot read, 415 for another content type.
func (c *Catcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := c.MaxBody
	if limit <= 0 {
		limit = 1 << 20
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusBadRequest)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var doc map[string]any
	switch ct {
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber() // numbers exactly as sent
		err = dec.Decode(&doc)
	case "application/x-www-form-urlencoded":
		doc, err = DecodeForm(string(body))
	default:
		http.Error(w, "JSON or form bodies only", http.StatusUnsupportedMediaType)
		return
	}
	if err != nil || doc == nil {
		http.Error(w, "undecodable body", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.caught = append(c.caught, doc)
	if len(c.caught) > keep {
		c.caught = c.caught[len(c.caught)-keep:]
	}
	process := c.Process
	c.mu.Unlock()
	if process != nil {
		process(doc)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"success"}`)
}
