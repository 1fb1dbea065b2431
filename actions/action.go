package actions

import (
	gojson "github.com/goccy/go-json"

	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/assethooks/assethooks/event"
)

// Delivery is one event for one webhook, as a worker hands it to an action.
type Delivery struct {
	// ID is the webhook-id header: stable across retries (e.g. "msg_…").
	ID string
	// Attempt is 1-based and sent as X-Assethooks-Attempt.
	Attempt int
	// Event is the event, with its Changes already derived by the engine.
	Event *event.Event
	// Data, when non-nil (a template's result), replaces the payload's data
	// in json and form bodies. Query-format and GET deliveries carry
	// Files.com's fixed parameters and ignore it.
	Data map[string]any
	// Cache is optional and shared by the deliveries of one event, so that a
	// body is encoded once per event per body config.
	Cache *PayloadCache
	// Encoded, when set, is the default json body of the event (DefaultJSON),
	// already encoded once per event; a webhook whose body is that default
	// sends it as is, and then reads only Event.ID and Event.Type.
	Encoded []byte
}

// DefaultJSON is the json body of an event for a webhook without fields or
// template: what Delivery.Encoded holds.
func DefaultJSON(ev *event.Event) ([]byte, error) { return JSONBody(ev, nil, nil) }

// DefaultJSONWith is DefaultJSON for an event of an asset type whose asset is
// given as its canonical JSON (event.EncodeJSON) instead of in ev.Asset: the
// same bytes, without decoding the asset.
func DefaultJSONWith(ev *event.Event, asset []byte) ([]byte, error) {
	data := buildData(ev, nil)
	if ev.Assets == nil && event.IsAssetType(ev.Type) {
		data["asset"] = gojson.RawMessage(asset)
	}
	return encodeJSON(newDocument(ev, data))
}

// DefaultBody is implemented by actions that can send Delivery.Encoded; it
// reports whether they would, so that a caller may skip decoding the event.
type DefaultBody interface {
	SendsDefaultJSON() bool
}

// MaxBody is how much of a response body a Result keeps.
const MaxBody = 4 << 10

// Result is the outcome of one attempt.
type Result struct {
	// URL is the URL that answered last (or was tried last), with any
	// password in it redacted.
	URL string
	// StatusCode is 0 when no answer came (timeout, refused, SSRF refusal).
	StatusCode int
	// Duration is how long the request to URL took.
	Duration time.Duration
	// Body is the response body, truncated to MaxBody bytes.
	Body string
	// Err is nil exactly when a 2xx came back in time. It never holds a secret.
	Err error
	// RetryAfter is the receiver's Retry-After on 429/503, clamped to
	// [1s, 1h]; 0 if none.
	RetryAfter time.Duration
	// Gone reports that the receiver answered 410.
	Gone bool
}

// OK reports whether the attempt succeeded.
func (r Result) OK() bool { return r.Err == nil }

// Action runs for one delivery and reports the outcome of that attempt. It
// must be safe for concurrent use.
type Action interface {
	Execute(ctx context.Context, d *Delivery) Result
}

// ActionFunc adapts a function to Action.
type ActionFunc func(ctx context.Context, d *Delivery) Result

// Execute calls f(ctx, d).
func (f ActionFunc) Execute(ctx context.Context, d *Delivery) Result { return f(ctx, d) }

// Middleware wraps an Action, for timeouts, metrics or logging.
type Middleware func(Action) Action

// Chain wraps a in mw, the first middleware outermost.
func Chain(a Action, mw ...Middleware) Action {
	for i := len(mw) - 1; i >= 0; i-- {
		a = mw[i](a)
	}
	return a
}

// Options are the process-wide settings every action receives.
type Options struct {
	// AllowPrivate lets actions reach loopback and private addresses
	// (ASSETHOOKS_ALLOW_PRIVATE_TARGETS).
	AllowPrivate bool
	// Version goes into User-Agent: assethooks/<version>; "dev" when empty.
	Version string
	// Transport, when set, replaces the shared SSRF-guarded transport
	// (NewTransport). Tests and special deployments use it.
	Transport http.RoundTripper
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) transport() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	return sharedTransport(o.AllowPrivate)
}

func (o Options) userAgent() string {
	v := o.Version
	if v == "" {
		v = "dev"
	}
	return "assethooks/" + v
}

// Factory decodes and validates an action's JSON config and returns the
// action.
type Factory func(config json.RawMessage, opts Options) (Action, error)

// Registry maps stable action type names to their factories. It is safe for
// concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]Factory{}} }

// Register adds an action type. A duplicate or empty name, or a nil factory,
// is a programming error and panics.
func (r *Registry) Register(name string, f Factory) {
	if name == "" || f == nil {
		panic("actions: Register with an empty name or a nil factory")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("actions: action type %q registered twice", name))
	}
	r.m[name] = f
}

// New builds an action of type name from its JSON config.
func (r *Registry) New(name string, config json.RawMessage, opts Options) (Action, error) {
	r.mu.RLock()
	f, ok := r.m[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("actions: unknown action type %q", name)
	}
	a, err := f(config, opts)
	if err != nil {
		return nil, fmt.Errorf("actions: %s: %w", name, err)
	}
	return a, nil
}

// Names returns the registered type names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TypeWebhook is the registered name of the webhook action.
const TypeWebhook = "webhook"

// Builtin returns a new registry holding the built-in action types:
// "webhook".
func Builtin() *Registry {
	r := NewRegistry()
	r.Register(TypeWebhook, webhookFactory)
	return r
}

func webhookFactory(config json.RawMessage, opts Options) (Action, error) {
	var cfg WebhookConfig
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	return NewWebhook(cfg, opts)
}
