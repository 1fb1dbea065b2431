package actions

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// Webhook is the webhook action for one config. It is safe for concurrent
// use by many workers and holds the config's OAuth2 token (one fetch per
// process).
type Webhook struct {
	cfg     WebhookConfig
	opts    Options
	client  *http.Client
	targets []*url.URL
	shown   []string // targets with passwords redacted, for Result.URL
	paths   [][]string
	key     string // PayloadCache key
	format  string // json, form or query (every GET is query)
	timeout time.Duration
	ua      string
	auth    string // Authorization for basic and bearer
	tokens  *tokenSource
	cur     []byte // HMAC key of the signing secret
	prev    []byte // HMAC key of the previous secret, if any
}

var _ Action = (*Webhook)(nil)

// NewWebhook returns the action for cfg, which DecodeConfig has validated;
// zero Method, Body.Format and TimeoutSeconds take their defaults. It does
// not contact anything: an OAuth2 token is fetched at the first delivery.
func NewWebhook(cfg WebhookConfig, opts Options) (*Webhook, error) {
	if cfg.Method == "" {
		cfg.Method = DefaultMethod
	}
	if cfg.Body.Format == "" {
		cfg.Body.Format = DefaultFormat
	}
	if cfg.TimeoutSeconds == 0 {
		cfg.TimeoutSeconds = DefaultTimeout
	}
	if cfg.Auth.Type == "" {
		cfg.Auth.Type = AuthNone
	}
	if !validMethod(cfg.Method) {
		return nil, fmt.Errorf("webhook: http_method %q is not one of POST, PUT, PATCH, GET", cfg.Method)
	}
	switch cfg.Body.Format {
	case FormatJSON, FormatForm, FormatQuery:
	default:
		return nil, fmt.Errorf("webhook: body.format %q is not one of json, form, query", cfg.Body.Format)
	}
	if cfg.TimeoutSeconds < 1 || cfg.TimeoutSeconds > MaxTimeout {
		return nil, fmt.Errorf("webhook: timeout_seconds %d is not from 1 to %d", cfg.TimeoutSeconds, MaxTimeout)
	}
	w := &Webhook{
		cfg:     cfg,
		opts:    opts,
		paths:   compileFields(cfg.Body.Fields),
		format:  cfg.Body.Format,
		timeout: time.Duration(cfg.TimeoutSeconds) * time.Second,
		ua:      opts.userAgent(),
		client:  &http.Client{Transport: opts.transport(), CheckRedirect: noRedirect},
	}
	if cfg.Method == http.MethodGet {
		w.format = FormatQuery
	}
	w.key = cacheKey(w.format, w.paths)
	targets := cfg.Targets()
	if len(targets) == 0 {
		return nil, errors.New("webhook: no http_url")
	}
	for i, t := range targets {
		if err := checkURL("http_url", t); err != nil {
			return nil, fmt.Errorf("webhook: target %d: %w", i, err)
		}
		u, _ := url.Parse(t)
		u.Fragment, u.RawFragment = "", ""
		w.targets = append(w.targets, u)
		w.shown = append(w.shown, u.Redacted())
	}
	var ok bool
	if w.cur, ok = secretKey(cfg.SigningSecret); !ok {
		return nil, errors.New("webhook: signing_secret is not whsec_ + base64 of 24 to 64 bytes (still sealed or masked?)")
	}
	if cfg.PreviousSecret != "" {
		if w.prev, ok = secretKey(cfg.PreviousSecret); !ok {
			return nil, errors.New("webhook: previous_secret is not a valid signing secret")
		}
	}
	switch cfg.Auth.Type {
	case AuthNone:
	case AuthBasic:
		w.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Auth.Username+":"+cfg.Auth.Password))
	case AuthBearer:
		w.auth = "Bearer " + cfg.Auth.Token
	case AuthOAuth2:
		if cfg.Auth.TokenURL == "" {
			return nil, errors.New("webhook: oauth2 without token_url")
		}
		w.tokens = newTokenSource(cfg.Auth, opts.transport(), opts.now)
	default:
		return nil, fmt.Errorf("webhook: auth.type %q is not one of none, basic, bearer, oauth2", cfg.Auth.Type)
	}
	return w, nil
}

// Config returns the webhook's config (with its secrets: mask it before
// showing it).
func (w *Webhook) Config() WebhookConfig { return w.cfg }

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Execute sends d to the primary URL, then to each redundant URL until one
// answers 2xx. Each URL gets timeout_seconds. The Result is the successful
// one or the last failure.
func (w *Webhook) Execute(ctx context.Context, d *Delivery) Result {
	if d == nil || d.Event == nil {
		return Result{URL: w.shown[0], Err: errors.New("webhook: delivery without an event")}
	}
	p, err := w.payload(d)
	if err != nil {
		return Result{URL: w.shown[0], Err: fmt.Errorf("webhook: encode payload: %w", err)}
	}
	var r Result
	for i := range w.targets {
		var noToken bool
		r, noToken = w.send(ctx, i, d, p)
		// Without a token no URL can be tried: the token is the same for all.
		if r.OK() || noToken || ctx.Err() != nil {
			break
		}
	}
	return r
}

// SendsDefaultJSON reports whether the webhook's body is the event's default
// json body (no fields selected), which Delivery.Encoded may carry.
func (w *Webhook) SendsDefaultJSON() bool { return w.format == FormatJSON && len(w.paths) == 0 }

var _ DefaultBody = (*Webhook)(nil)

func (w *Webhook) payload(d *Delivery) (*payload, error) {
	if d.Data == nil && d.Encoded != nil && w.SendsDefaultJSON() {
		return &payload{body: d.Encoded, contentType: "application/json"}, nil
	}
	if d.Data != nil || d.Cache == nil {
		return w.build(d)
	}
	return d.Cache.get(w.key, func() (*payload, error) { return w.build(d) })
}

func (w *Webhook) build(d *Delivery) (*payload, error) {
	ev := d.Event
	if w.format == FormatQuery {
		return &payload{query: encodeQuery(ev)}, nil
	}
	data := d.Data
	if data == nil {
		data = buildData(ev, w.paths)
	}
	doc := newDocument(ev, data)
	if w.format == FormatForm {
		b, err := encodeForm(doc)
		return &payload{body: b, contentType: "application/x-www-form-urlencoded"}, err
	}
	b, err := encodeJSON(doc)
	return &payload{body: b, contentType: "application/json"}, err
}

// send makes one request to target i, fetching an OAuth2 token if needed and
// retrying once with a fresh token after a 401. noToken reports that the
// token could not be had.
func (w *Webhook) send(ctx context.Context, i int, d *Delivery, p *payload) (r Result, noToken bool) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	for try := 0; ; try++ {
		auth := w.auth
		var access string
		if w.tokens != nil {
			start := time.Now()
			tok, err := w.tokens.token(ctx)
			if err != nil {
				return Result{URL: w.shown[i], Duration: time.Since(start), Err: err}, true
			}
			access = tok.AccessToken
			auth = tok.Type() + " " + access
		}
		r = w.do(ctx, i, d, p, auth)
		if r.StatusCode == http.StatusUnauthorized && w.tokens != nil && try == 0 {
			w.tokens.invalidate(access)
			continue
		}
		return r, false
	}
}

func (w *Webhook) do(ctx context.Context, i int, d *Delivery, p *payload, auth string) Result {
	u := w.targets[i]
	if p.query != "" {
		cp := *u
		if cp.RawQuery != "" {
			cp.RawQuery += "&" + p.query
		} else {
			cp.RawQuery = p.query
		}
		u = &cp
	}
	var body io.Reader
	if p.body != nil {
		body = bytes.NewReader(p.body)
	}
	res := Result{URL: w.shown[i]}
	req, err := http.NewRequestWithContext(ctx, w.cfg.Method, u.String(), body)
	if err != nil {
		res.Err = fmt.Errorf("webhook: build request: %w", err)
		return res
	}
	h := req.Header
	h["User-Agent"] = []string{w.ua}
	if p.contentType != "" {
		h["Content-Type"] = []string{p.contentType}
	}
	now := w.opts.now()
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := sign(w.cur, d.ID, ts, p.body)
	if w.prev != nil && now.Before(w.cfg.PreviousUntil) {
		sig += " " + sign(w.prev, d.ID, ts, p.body)
	}
	// Standard Webhooks names its headers in lower case; keep them so.
	h["webhook-id"] = []string{d.ID}
	h["webhook-timestamp"] = []string{ts}
	h["webhook-signature"] = []string{sig}
	h["X-Assethooks-Event"] = []string{d.Event.Type}
	h["X-Assethooks-Attempt"] = []string{strconv.Itoa(max(d.Attempt, 1))}
	set := map[string]bool{}
	for _, hd := range w.cfg.Headers {
		k := http.CanonicalHeaderKey(hd.Name)
		if set[k] {
			h.Add(k, hd.Value)
		} else {
			h.Set(k, hd.Value)
			set[k] = true
		}
	}
	if auth != "" {
		h.Set("Authorization", auth)
	}

	start := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		res.Duration = time.Since(start)
		res.Err = describe(err, w.timeout)
		return res
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 256<<10)) // bounded drain keeps the connection reusable
	resp.Body.Close()
	res.Duration = time.Since(start)
	res.StatusCode = resp.StatusCode
	res.Body = truncateUTF8(b)
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return res
	case code >= 300 && code < 400:
		res.Err = fmt.Errorf("receiver answered %d %s (redirects are not followed)", code, http.StatusText(code))
	default:
		res.Err = fmt.Errorf("receiver answered %d %s", code, http.StatusText(code))
	}
	res.Gone = code == http.StatusGone
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		res.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	return res
}

// sign is the Standard Webhooks signature "v1,<base64 HMAC-SHA256(id.ts.body)>".
func sign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// truncateUTF8 turns a body cut at MaxBody into a string without a broken
// last rune.
func truncateUTF8(b []byte) string {
	if len(b) == MaxBody {
		i := len(b) - 1
		for i > 0 && len(b)-i < utf8.UTFMax && !utf8.RuneStart(b[i]) {
			i--
		}
		if !utf8.FullRune(b[i:]) {
			b = b[:i]
		}
	}
	return string(b)
}

// Retry-After bounds.
const (
	MinRetryAfter = time.Second
	MaxRetryAfter = time.Hour
)

// retryAfter parses Retry-After (delay-seconds or an HTTP date) and clamps
// it to [MinRetryAfter, MaxRetryAfter]; 0 when absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, MinRetryAfter), MaxRetryAfter)
}

// describe turns a transport error into a short reason without the URL
// (which may carry credentials).
func describe(err error, timeout time.Duration) error {
	var oe *net.OpError
	switch {
	case errors.Is(err, ErrRefused):
		for e := err; e != nil; e = errors.Unwrap(e) {
			if _, ok := e.(*net.OpError); !ok {
				if _, ok := e.(*url.Error); !ok {
					return e
				}
			}
		}
		return err
	case errors.Is(err, context.DeadlineExceeded):
		if timeout > 0 {
			return fmt.Errorf("timeout: no answer within %s", timeout)
		}
		return errors.New("timeout: no answer in time")
	case errors.Is(err, context.Canceled):
		return errors.New("canceled")
	case errors.As(err, &oe):
		return fmt.Errorf("connection failed: %s: %v", oe.Op, oe.Err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
