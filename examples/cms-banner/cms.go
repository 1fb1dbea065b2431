package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"
)

// MarkerName is the marker a webmaster selects on a picture.
const MarkerName = "use-as-homepage-banner"

// Banner is the picture on the homepage.
type Banner struct {
	UUID  string
	Title string
	URL   string
	By    string
}

// CMS serves the homepage and receives the banner webhook. Its zero value
// is not usable: create it with NewCMS.
type CMS struct {
	mu     sync.RWMutex
	key    []byte // the webhook's signing key, set by SetSecret
	banner *Banner
	mux    *http.ServeMux
}

// NewCMS returns a CMS with no banner yet.
func NewCMS() *CMS {
	c := &CMS{mux: http.NewServeMux()}
	c.mux.HandleFunc("GET /{$}", c.home)
	c.mux.HandleFunc("POST /webhooks/banner", c.webhook)
	return c
}

// ServeHTTP implements http.Handler.
func (c *CMS) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// SetSecret sets the webhook's signing secret ("whsec_…"); until it is set,
// every webhook call is refused.
func (c *CMS) SetSecret(secret string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		return errors.New("cms: the signing secret must be whsec_ and base64")
	}
	c.mu.Lock()
	c.key = key
	c.mu.Unlock()
	return nil
}

// Banner returns the current banner, or nil.
func (c *CMS) Banner() *Banner {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.banner
}

var page = template.Must(template.New("home").Parse(`<!doctype html>
<title>Home</title>
<h1>Welcome</h1>
{{with .}}<figure><img src="{{.URL}}" alt="{{.Title}}"><figcaption>{{.Title}} (chosen by {{.By}})</figcaption></figure>
{{else}}<p>No banner yet.</p>
{{end}}`))

func (c *CMS) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, c.Banner())
}

// payload is the part of the delivered JSON the CMS reads.
type payload struct {
	Type string `json:"type"`
	Data struct {
		Asset  map[string]any `json:"asset"`
		Marker string         `json:"marker"`
		Actor  struct {
			Username string `json:"username"`
		} `json:"actor"`
	} `json:"data"`
}

func (c *CMS) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if !c.verify(r.Header, body) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil || p.Data.Asset == nil {
		http.Error(w, "not an asset event", http.StatusBadRequest)
		return
	}
	uuid, _ := p.Data.Asset["uuid"].(string)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case p.Type == "ASSET_MARKER_SELECTED" && p.Data.Marker == MarkerName:
		b := &Banner{UUID: uuid, By: p.Data.Actor.Username}
		b.URL, _ = p.Data.Asset["cdn_url"].(string)
		b.Title, _ = p.Data.Asset["name"].(string)
		if info, ok := p.Data.Asset["info"].(map[string]any); ok {
			if t, ok := info["title"].(string); ok && t != "" {
				b.Title = t
			}
		}
		c.banner = b
	case p.Type == "ASSET_REMOVED" && c.banner != nil && c.banner.UUID == uuid:
		c.banner = nil
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify checks the Standard Webhooks signature: any "v1,<base64>" of the
// header that is the HMAC-SHA256 of "id.timestamp.body".
func (c *CMS) verify(h http.Header, body []byte) bool {
	c.mu.RLock()
	key := c.key
	c.mu.RUnlock()
	if key == nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.", h.Get("webhook-id"), h.Get("webhook-timestamp"))
	m.Write(body)
	want := m.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, ok := strings.CutPrefix(sig, "v1,")
		got, err := base64.StdEncoding.DecodeString(v)
		if ok && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// webhookName names the webhook Setup registers, so a later run finds it.
const webhookName = "CMS homepage banner"

// Setup registers, against the assethooks at base with an admin key, the
// webhook that calls hookURL and the marker bound to it, and returns the
// webhook's signing secret. A webhook left by an earlier run (same name and
// URL) is reused: its secret is rotated, since a secret is shown only when
// it is made. A marker left by an earlier run is replaced.
func Setup(ctx context.Context, client *http.Client, base, key, hookURL string) (string, error) {
	type webhook struct {
		ID            int64  `json:"id"`
		Name          string `json:"name"`
		URL           string `json:"http_url"`
		SigningSecret string `json:"signing_secret"`
	}
	var list struct {
		Webhooks []webhook `json:"webhooks"`
	}
	if err := call(ctx, client, "GET", base+"/api/v2/admin/webhooks", key, nil, &list); err != nil {
		return "", err
	}
	var wh struct {
		Webhook webhook `json:"webhook"`
	}
	for _, w := range list.Webhooks {
		if w.Name == webhookName && w.URL == hookURL {
			wh.Webhook = w
		}
	}
	var err error
	if wh.Webhook.ID != 0 {
		err = call(ctx, client, "POST", fmt.Sprintf("%s/api/v2/admin/webhooks/%d/rotate-secret", base, wh.Webhook.ID), key, nil, &wh)
	} else {
		err = call(ctx, client, "POST", base+"/api/v2/admin/webhooks", key, map[string]any{
			"name": webhookName, "http_url": hookURL, "trigger_events": []string{"ASSET_REMOVED"},
		}, &wh)
	}
	if err != nil {
		return "", err
	}
	marker := map[string]any{"name": MarkerName, "label": "Use as homepage banner", "mode": "action",
		"description": "Shows the picture as the banner of the website's homepage",
		"condition":   "isImage()", "webhook_ids": []int64{wh.Webhook.ID}}
	err = call(ctx, client, "POST", base+"/api/v2/admin/markers", key, marker, nil)
	var se *statusError
	if errors.As(err, &se) && se.status == http.StatusConflict {
		err = call(ctx, client, "PUT", base+"/api/v2/admin/markers/"+MarkerName, key, marker, nil)
	}
	if err != nil {
		return "", err
	}
	return wh.Webhook.SigningSecret, nil
}

type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("assethooks answered %d: %s", e.status, e.body)
}

// call sends a JSON request to the assethooks API and decodes a 2xx answer
// into out (when not nil).
func call(ctx context.Context, client *http.Client, method, url, key string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-KEY", key)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		return &statusError{status: res.StatusCode, body: string(rb)}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(rb, out)
}
