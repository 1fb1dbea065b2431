package actions

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/internal/secret"
)

// Defaults and limits of a webhook config (SPEC §3.1).
const (
	DefaultMethod  = "POST"
	DefaultFormat  = "json"
	DefaultTimeout = 10
	MaxTimeout     = 30
	MaxHeaders     = 10
	MaxRedundant   = 10
	MaxURLLen      = 2048
	// Mask replaces passwords, tokens, client secrets and secret header
	// values when a config is shown.
	Mask = "********"
	// RotationOverlap is how long the previous signing secret keeps signing
	// after a rotation.
	RotationOverlap = 24 * time.Hour
)

// Schemes of a target given as hostname + path.
const (
	SchemeHTTPS = "https" // the default
	SchemeHTTP  = "http"
)

// Body formats.
const (
	FormatJSON  = "json"
	FormatForm  = "form"
	FormatQuery = "query"
)

// Auth types.
const (
	AuthNone   = "none"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	AuthOAuth2 = "oauth2"
)

// WebhookConfig is the action part of a webhook, with the JSON names of the
// API (SPEC §3.1). DecodeConfig returns it normalized: URL is set (from
// http_url, or Scheme + "://" + Hostname + Path), Method, Body.Format and
// TimeoutSeconds have their defaults, and SigningSecret is set. Scheme is
// "http" or "https" and only kept beside a Hostname (default "https").
type WebhookConfig struct {
	URL            string     `json:"http_url"`
	Hostname       string     `json:"hostname,omitempty"`
	Path           string     `json:"path,omitempty"`
	Scheme         string     `json:"scheme,omitempty"`
	RedundantURLs  []string   `json:"redundant_urls,omitempty"`
	Method         string     `json:"http_method"`
	Body           BodyConfig `json:"body"`
	Auth           AuthConfig `json:"auth"`
	Headers        []Header   `json:"webhook_headers"`
	SigningSecret  string     `json:"signing_secret"`
	PreviousSecret string     `json:"previous_secret,omitempty"`
	PreviousUntil  time.Time  `json:"previous_until,omitzero"`
	TimeoutSeconds int        `json:"timeout_seconds"`
}

// BodyConfig says how the payload is encoded and what it holds.
type BodyConfig struct {
	// Format is json (default), form or query.
	Format string `json:"format"`
	// Fields selects parts of the asset: groups (file, image, video, info,
	// tags, labels, meta.system, meta.custom, meta.embedded) or dotted
	// paths. Empty means the whole asset.
	Fields []string `json:"fields,omitempty"`
	// Template is the source of an expr expression whose result replaces
	// data; the rules package compiles it.
	Template string `json:"template,omitempty"`
}

// AuthConfig is how the webhook authenticates to its receiver.
type AuthConfig struct {
	// Type is none (default), basic, bearer or oauth2.
	Type string `json:"type"`
	// Username and Password are for basic, and for oauth2's password grant.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Token is the bearer token, sent as is.
	Token string `json:"token,omitempty"`
	// TokenURL, ClientID, ClientSecret and Scope are for oauth2: client
	// credentials when no username is given.
	TokenURL     string `json:"token_url,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// Header is one of the webhook's own headers. A secret header's value is
// masked when shown and encrypted when stored.
type Header struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Secret bool   `json:"secret,omitempty"`
}

// Targets returns the primary URL then the redundant ones.
func (c WebhookConfig) Targets() []string {
	t := make([]string, 0, 1+len(c.RedundantURLs))
	if c.URL != "" {
		t = append(t, c.URL)
	}
	return append(t, c.RedundantURLs...)
}

// GenerateSecret returns a new signing secret: "whsec_" + base64 of 32
// random bytes.
func GenerateSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("actions: crypto/rand failed: " + err.Error())
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// secretKey decodes a whsec_ secret into its HMAC key.
func secretKey(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, false
	}
	k, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(k) < 24 || len(k) > 64 {
		return nil, false
	}
	return k, true
}

// maskedSecret is how a signing secret is shown: whsec_**** + its last 4.
func maskedSecret(s string) string {
	if s == "" {
		return ""
	}
	if len(s) < 4 {
		return "whsec_****"
	}
	return "whsec_****" + s[len(s)-4:]
}

func isMaskedSecret(s string) bool {
	return strings.HasPrefix(s, "whsec_****") && len(s) == len("whsec_****")+4
}

// ValidateSecret checks a signing secret chosen by a client (on create or
// rotation): "whsec_" + base64 of 24 to 64 bytes. The error is a 422
// *problem.Error for signing_secret that does not quote the secret.
func ValidateSecret(s string) error {
	if _, ok := secretKey(s); !ok {
		return problem.Invalid("signing_secret", "whsec_…", "Must be whsec_ followed by the base64 of 24 to 64 bytes")
	}
	return nil
}

// Masked returns c as it may be shown: passwords, tokens, client secrets and
// secret header values as Mask, the signing secret as whsec_**** + its last
// 4 characters, and the previous secret dropped.
func (c WebhookConfig) Masked() WebhookConfig {
	m := c
	m.Auth.Password = mask(c.Auth.Password)
	m.Auth.Token = mask(c.Auth.Token)
	m.Auth.ClientSecret = mask(c.Auth.ClientSecret)
	m.Headers = cloneHeaders(c.Headers)
	for i := range m.Headers {
		if m.Headers[i].Secret {
			m.Headers[i].Value = Mask
		}
	}
	m.RedundantURLs = append([]string(nil), c.RedundantURLs...)
	m.Body.Fields = append([]string(nil), c.Body.Fields...)
	m.SigningSecret = maskedSecret(c.SigningSecret)
	m.PreviousSecret = ""
	return m
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return Mask
}

func cloneHeaders(h []Header) []Header {
	if h == nil {
		return nil
	}
	return append([]Header{}, h...)
}

// KeepSecrets restores prev's stored secrets where c holds the masked value
// that Masked showed for them, field by field (headers matched by name,
// case-insensitively), so that a PUT or PATCH sending a masked value back
// unchanged keeps the secret. A kept signing secret keeps its rotation state.
func (c *WebhookConfig) KeepSecrets(prev WebhookConfig) {
	keep := func(cur *string, old string) {
		if *cur == Mask && old != "" {
			*cur = old
		}
	}
	keep(&c.Auth.Password, prev.Auth.Password)
	keep(&c.Auth.Token, prev.Auth.Token)
	keep(&c.Auth.ClientSecret, prev.Auth.ClientSecret)
	for i := range c.Headers {
		h := &c.Headers[i]
		if h.Value != Mask {
			continue
		}
		for _, p := range prev.Headers {
			if p.Secret && strings.EqualFold(p.Name, h.Name) {
				h.Value, h.Secret = p.Value, true
				break
			}
		}
	}
	if prev.SigningSecret != "" && isMaskedSecret(c.SigningSecret) && c.SigningSecret == maskedSecret(prev.SigningSecret) {
		c.SigningSecret = prev.SigningSecret
		c.PreviousSecret, c.PreviousUntil = prev.PreviousSecret, prev.PreviousUntil
	}
}

// secretFields lists pointers to every secret field of c.
func (c *WebhookConfig) secretFields() []struct {
	name string
	p    *string
} {
	f := []struct {
		name string
		p    *string
	}{
		{"auth.password", &c.Auth.Password},
		{"auth.token", &c.Auth.Token},
		{"auth.client_secret", &c.Auth.ClientSecret},
		{"signing_secret", &c.SigningSecret},
		{"previous_secret", &c.PreviousSecret},
	}
	for i := range c.Headers {
		if c.Headers[i].Secret {
			f = append(f, struct {
				name string
				p    *string
			}{"webhook_headers[" + strconv.Itoa(i) + "].value", &c.Headers[i].Value})
		}
	}
	return f
}

// Seal encrypts every secret field of c in place for storage: passwords,
// tokens, client secrets, secret header values and signing secrets. Fields
// already sealed are left as they are.
func (c *WebhookConfig) Seal(box *secret.Box) error {
	if box == nil {
		return fmt.Errorf("actions: seal: nil box")
	}
	c.Headers = cloneHeaders(c.Headers)
	for _, f := range c.secretFields() {
		if *f.p != "" && !secret.Sealed(*f.p) {
			*f.p = box.Seal(*f.p)
		}
	}
	return nil
}

// Open decrypts the fields Seal encrypted, in place. An error names the field
// and never holds the secret.
func (c *WebhookConfig) Open(box *secret.Box) error {
	if box == nil {
		return fmt.Errorf("actions: open: nil box")
	}
	c.Headers = cloneHeaders(c.Headers)
	for _, f := range c.secretFields() {
		plain, err := box.Open(*f.p)
		if err != nil {
			return fmt.Errorf("actions: open %s: %w", f.name, err)
		}
		*f.p = plain
	}
	return nil
}

// Rotate makes newSecret (a generated one when empty) the signing secret;
// the current one keeps signing beside it for RotationOverlap. A second
// rotation within that time retires the oldest at once: only one previous
// secret is kept. newSecret should have passed ValidateSecret.
func (c *WebhookConfig) Rotate(newSecret string, now time.Time) {
	if newSecret == "" {
		newSecret = GenerateSecret()
	}
	if c.SigningSecret != "" {
		c.PreviousSecret = c.SigningSecret
		c.PreviousUntil = now.Add(RotationOverlap).UTC()
	}
	c.SigningSecret = newSecret
}

// DecodeConfig type-checks the action fields of a webhook request decoded as
// a generic JSON map (numbers as json.Number) and returns the config,
// normalized and validated (SPEC §3.1). Errors are *problem.Error (422) in
// Media Pocket's wording, naming the field. The template is only
// type-checked; the rules package compiles it. A signing secret is generated
// when none is given; the masked form Masked shows is accepted, for
// KeepSecrets to resolve.
func DecodeConfig(m map[string]any) (WebhookConfig, error) {
	var c WebhookConfig
	var err error
	rawURL, hasURL, err := optString(m, "http_url")
	if err != nil {
		return c, err
	}
	if c.Hostname, _, err = optString(m, "hostname"); err != nil {
		return c, err
	}
	if c.Path, _, err = optString(m, "path"); err != nil {
		return c, err
	}
	if c.Hostname != "" {
		if !validHost(c.Hostname) {
			return c, problem.Invalid("hostname", c.Hostname, "Must be a host with an optional port")
		}
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		return c, problem.Invalid("path", c.Path, "Must start with /")
	}
	if c.Path != "" && strings.ContainsAny(c.Path, " \t\r\n\x00") {
		return c, problem.Invalid("path", c.Path, "Must not contain spaces")
	}
	scheme, hasScheme, err := optString(m, "scheme")
	if err != nil {
		return c, err
	}
	if hasScheme && scheme != SchemeHTTP && scheme != SchemeHTTPS {
		return c, problem.Invalid("scheme", scheme, `Must be "http" or "https"`)
	}
	if scheme == "" {
		scheme = SchemeHTTPS
	}
	if c.Hostname != "" {
		c.Scheme = scheme
	}
	switch {
	case hasURL && strings.TrimSpace(rawURL) != "":
		parts := strings.Split(rawURL, ",")
		for _, p := range parts {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if err := checkURL("http_url", p); err != nil {
				return c, err
			}
			if c.URL == "" {
				c.URL = p
			} else {
				c.RedundantURLs = append(c.RedundantURLs, p)
			}
		}
		if c.URL == "" { // only separators
			return c, problem.Invalid("http_url", rawURL, "Must be an absolute http or https URL")
		}
	case c.Hostname != "":
		c.URL = c.Scheme + "://" + c.Hostname + c.Path
		if err := checkURL("path", c.URL); err != nil {
			return c, err
		}
	case hasURL:
		return c, problem.Invalid("http_url", rawURL, "Must be a String")
	default:
		return c, problem.Invalid("http_url", nil, "Must be a String")
	}
	if c.Path != "" && c.Hostname == "" {
		return c, problem.Invalid("hostname", nil, "Must be a String")
	}
	if v, ok := m["redundant_urls"]; ok && v != nil {
		arr, ok := v.([]any)
		if !ok {
			return c, problem.Invalid("redundant_urls", v, "Must be an Array")
		}
		for i, e := range arr {
			f := "redundant_urls[" + strconv.Itoa(i) + "]"
			s, ok := e.(string)
			if !ok {
				return c, problem.Invalid(f, e, "Must be a String")
			}
			if err := checkURL(f, s); err != nil {
				return c, err
			}
			c.RedundantURLs = append(c.RedundantURLs, s)
		}
	}
	if len(c.RedundantURLs) > MaxRedundant {
		return c, problem.Invalid("redundant_urls", m["redundant_urls"], fmt.Sprintf("At most %d redundant URLs", MaxRedundant))
	}

	method, hasMethod, err := optString(m, "http_method")
	if err != nil {
		return c, err
	}
	c.Method = DefaultMethod
	if hasMethod {
		c.Method = strings.ToUpper(method)
		if !validMethod(c.Method) {
			return c, problem.Invalid("http_method", method, "Must be one of POST, PUT, PATCH, GET")
		}
	}

	if c.TimeoutSeconds, err = decodeTimeout(m); err != nil {
		return c, err
	}
	if c.Body, err = decodeBody(m); err != nil {
		return c, err
	}
	if c.Auth, err = decodeAuth(m); err != nil {
		return c, err
	}
	if c.Headers, err = decodeHeaders(m, c.Auth.Type != AuthNone); err != nil {
		return c, err
	}

	sec, hasSec, err := optString(m, "signing_secret")
	if err != nil {
		return c, err
	}
	switch {
	case !hasSec || sec == "":
		c.SigningSecret = GenerateSecret()
	case isMaskedSecret(sec):
		c.SigningSecret = sec
	default:
		if err := ValidateSecret(sec); err != nil {
			return c, err
		}
		c.SigningSecret = sec
	}
	return c, nil
}

// optString reads an optional string; null counts as absent.
func optString(m map[string]any, k string) (string, bool, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, problem.Invalid(k, v, "Must be a String")
	}
	return s, true, nil
}

func checkURL(field, s string) error {
	if len(s) > MaxURLLen {
		return problem.Invalid(field, s, fmt.Sprintf("Must be at most %d characters", MaxURLLen))
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return problem.Invalid(field, s, "Must not contain spaces")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return problem.Invalid(field, s, "Must be an absolute http or https URL")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return problem.Invalid(field, s, "Must be an absolute http or https URL")
		}
	}
	return nil
}

func validHost(h string) bool {
	if strings.ContainsAny(h, "/?#@ \t\r\n\x00\\") {
		return false
	}
	host, port := h, ""
	if hp, p, err := net.SplitHostPort(h); err == nil {
		host, port = hp, p
	} else if strings.Contains(strings.Trim(h, "[]"), ":") && !strings.HasPrefix(h, "[") {
		return false
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return false
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	if net.ParseIP(host) != nil {
		return true
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

func validMethod(m string) bool {
	switch m {
	case "POST", "PUT", "PATCH", "GET":
		return true
	}
	return false
}

func decodeTimeout(m map[string]any) (int, error) {
	v, ok := m["timeout_seconds"]
	if !ok || v == nil {
		return DefaultTimeout, nil
	}
	var f float64
	switch x := v.(type) {
	case json.Number:
		n, err := x.Float64()
		if err != nil {
			return 0, problem.Invalid("timeout_seconds", v, "Must be an Integer")
		}
		f = n
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return 0, problem.Invalid("timeout_seconds", v, "Must be an Integer")
	}
	if f != math.Trunc(f) {
		return 0, problem.Invalid("timeout_seconds", v, "Must be an Integer")
	}
	if f < 1 || f > MaxTimeout {
		return 0, problem.Invalid("timeout_seconds", v, fmt.Sprintf("Must be from 1 to %d", MaxTimeout))
	}
	return int(f), nil
}

func optObject(m map[string]any, k string) (map[string]any, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, problem.Invalid(k, v, "Must be an Object")
	}
	return o, nil
}

func decodeBody(m map[string]any) (BodyConfig, error) {
	b := BodyConfig{Format: DefaultFormat}
	o, err := optObject(m, "body")
	if err != nil || o == nil {
		return b, err
	}
	f, has, err := optString(o, "format")
	if err != nil {
		return b, problem.Prefix("body.", err)
	}
	if has {
		b.Format = strings.ToLower(f)
		if b.Format != FormatJSON && b.Format != FormatForm && b.Format != FormatQuery {
			return b, problem.Invalid("body.format", f, "Must be one of json, form, query")
		}
	}
	if v, ok := o["fields"]; ok && v != nil {
		arr, ok := v.([]any)
		if !ok {
			return b, problem.Invalid("body.fields", v, "Must be an Array")
		}
		for i, e := range arr {
			s, ok := e.(string)
			field := "body.fields[" + strconv.Itoa(i) + "]"
			if !ok {
				return b, problem.Invalid(field, e, "Must be a String")
			}
			if s == "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
				return b, problem.Invalid(field, s, "Must be a field group or a dotted path")
			}
			b.Fields = append(b.Fields, s)
		}
	}
	if b.Template, _, err = optString(o, "template"); err != nil {
		return b, problem.Prefix("body.", err)
	}
	return b, nil
}

func decodeAuth(m map[string]any) (AuthConfig, error) {
	a := AuthConfig{Type: AuthNone}
	o, err := optObject(m, "auth")
	if err != nil || o == nil {
		return a, err
	}
	fields := []struct {
		name string
		p    *string
	}{
		{"username", &a.Username}, {"password", &a.Password}, {"token", &a.Token},
		{"token_url", &a.TokenURL}, {"client_id", &a.ClientID},
		{"client_secret", &a.ClientSecret}, {"scope", &a.Scope},
	}
	for _, f := range fields {
		if *f.p, _, err = optString(o, f.name); err != nil {
			return a, problem.Prefix("auth.", err)
		}
	}
	t, has, err := optString(o, "type")
	if err != nil {
		return a, problem.Prefix("auth.", err)
	}
	if has {
		a.Type = strings.ToLower(t)
	}
	need := func(name, v string) error {
		if v == "" {
			return problem.Invalid("auth."+name, o[name], "Must be a String")
		}
		return nil
	}
	switch a.Type {
	case AuthNone:
		return AuthConfig{Type: AuthNone}, nil
	case AuthBasic:
		if err := need("username", a.Username); err != nil {
			return a, err
		}
		if err := need("password", a.Password); err != nil {
			return a, err
		}
		return AuthConfig{Type: a.Type, Username: a.Username, Password: a.Password}, nil
	case AuthBearer:
		if err := need("token", a.Token); err != nil {
			return a, err
		}
		return AuthConfig{Type: a.Type, Token: a.Token}, nil
	case AuthOAuth2:
		if err := need("token_url", a.TokenURL); err != nil {
			return a, err
		}
		if err := checkURL("auth.token_url", a.TokenURL); err != nil {
			return a, err
		}
		if a.Username != "" || a.Password != "" {
			if err := need("username", a.Username); err != nil {
				return a, err
			}
			if err := need("password", a.Password); err != nil {
				return a, err
			}
		} else {
			if err := need("client_id", a.ClientID); err != nil {
				return a, err
			}
			if err := need("client_secret", a.ClientSecret); err != nil {
				return a, err
			}
		}
		a.Token = ""
		return a, nil
	}
	return a, problem.Invalid("auth.type", t, "Must be one of none, basic, bearer, oauth2")
}

var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
}

func decodeHeaders(m map[string]any, authSet bool) ([]Header, error) {
	hs := []Header{}
	v, ok := m["webhook_headers"]
	if !ok || v == nil {
		return hs, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, problem.Invalid("webhook_headers", v, "Must be an Array")
	}
	if len(arr) > MaxHeaders {
		return nil, problem.Invalid("webhook_headers", v, fmt.Sprintf("At most %d headers", MaxHeaders))
	}
	for i, e := range arr {
		prefix := "webhook_headers[" + strconv.Itoa(i) + "]"
		o, ok := e.(map[string]any)
		if !ok {
			return nil, problem.Invalid(prefix, e, "Must be an Object")
		}
		var h Header
		name, has, err := optString(o, "name")
		if err != nil {
			return nil, problem.Prefix(prefix+".", err)
		}
		if !has || name == "" {
			return nil, problem.Invalid(prefix+".name", o["name"], "Must be a String")
		}
		if !isToken(name) {
			return nil, problem.Invalid(prefix+".name", name, "Must be an HTTP header name (RFC 9110 token)")
		}
		lower := strings.ToLower(name)
		if reservedHeaders[lower] || strings.HasPrefix(lower, "x-assethooks-") || (authSet && lower == "authorization") {
			return nil, problem.Invalid(prefix+".name", name, "Is set by assethooks and cannot be overridden")
		}
		value, has, err := optString(o, "value")
		if err != nil {
			return nil, problem.Prefix(prefix+".", err)
		}
		if !has {
			return nil, problem.Invalid(prefix+".value", nil, "Must be a String")
		}
		h.Name, h.Value = name, value
		if sv, ok := o["secret"]; ok && sv != nil {
			b, ok := sv.(bool)
			if !ok {
				return nil, problem.Invalid(prefix+".secret", sv, "Must be a Boolean")
			}
			h.Secret = b
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			shown := any(value)
			if h.Secret {
				shown = Mask
			}
			return nil, problem.Invalid(prefix+".value", shown, "Must not contain CR, LF or NUL")
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// isToken reports whether s is an RFC 9110 token (tchar+).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
