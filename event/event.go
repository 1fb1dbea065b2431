package event

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assethooks/assethooks/internal/problem"
)

// Actor is who caused an event and through which interface (web, ftp, robot,
// jsapi, restapi, sftp, dav).
type Actor struct {
	Username  string `json:"username,omitempty"`
	Interface string `json:"interface,omitempty"`
}

// Change is one field of an asset that changed, addressed by a dotted path
// such as "meta.custom.status".
type Change struct {
	Field string `json:"field"`
	Old   any    `json:"old"`
	New   any    `json:"new"`
}

// Event is the envelope of SPEC §4. Object-valued fields hold JSON decoded with
// json.Number for numbers, so that numbers are delivered exactly as they came.
type Event struct {
	ID          string           `json:"id"`
	Type        string           `json:"type"`
	OccurredAt  time.Time        `json:"occurred_at"`
	ProjectID   string           `json:"project_id,omitempty"`
	Actor       Actor            `json:"actor"`
	Asset       map[string]any   `json:"asset,omitempty"`
	Assets      []map[string]any `json:"assets,omitempty"`
	Previous    map[string]any   `json:"previous,omitempty"`
	Changes     []Change         `json:"changes,omitempty"`
	Destination string           `json:"destination,omitempty"`
	Target      string           `json:"target,omitempty"`
	Marker      string           `json:"marker,omitempty"`
	Object      map[string]any   `json:"object,omitempty"`
	// Webhook and Delivery are set on the engine's own WEBHOOK_* events.
	Webhook  map[string]any `json:"webhook,omitempty"`
	Delivery map[string]any `json:"delivery,omitempty"`
	// Schedule is set on ASSET_SCHEDULED events: the schedule that fired.
	Schedule *ScheduleRef `json:"schedule,omitempty"`
	// Truncated is set on a schedule's digest when more assets matched
	// than Assets holds.
	Truncated bool `json:"truncated,omitempty"`
	// Targets, when not empty, are the only webhooks the router sends the
	// event to (a schedule's digest). The engine sets it; Decode never
	// reads it from a request.
	Targets []int64 `json:"targets,omitempty"`
}

// ScheduleRef names the schedule an ASSET_SCHEDULED event comes from.
type ScheduleRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// AssetID is the asset's uuid, or "" when the event carries no asset.
func (e *Event) AssetID() string {
	if e.Asset == nil {
		return ""
	}
	s, _ := e.Asset["uuid"].(string)
	return s
}

// Engine event types: emitted only by the engine, refused at ingest.
const (
	DeliveryFailed   = "WEBHOOK_DELIVERY_FAILED"
	WebhookDisabled  = "WEBHOOK_DISABLED"
	WebhookRecovered = "WEBHOOK_RECOVERED"
	MarkerSelected   = "ASSET_MARKER_SELECTED"
	MarkerCleared    = "ASSET_MARKER_CLEARED"
	AssetRemoved     = "ASSET_REMOVED"
	AssetScheduled   = "ASSET_SCHEDULED"
)

//go:embed types.txt
var typesFile string

var catalogue, typeList = loadTypes()

func loadTypes() (map[string]bool, []string) {
	m := map[string]bool{}
	var list []string
	for _, line := range strings.Split(typesFile, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || m[line] {
			continue
		}
		m[line] = true
		list = append(list, line)
	}
	return m, list
}

// Known reports whether t is in the event catalogue.
func Known(t string) bool { return catalogue[t] }

// Types returns the whole catalogue in its documented order.
func Types() []string { return append([]string(nil), typeList...) }

// IsAssetType reports whether events of type t are about an asset and so must
// carry one.
func IsAssetType(t string) bool { return strings.HasPrefix(t, "ASSET_") }

// IsEngineType reports whether t is one of the engine's own operational events.
func IsEngineType(t string) bool {
	return t == DeliveryFailed || t == WebhookDisabled || t == WebhookRecovered
}

// UnmarshalJSONNumber decodes data as JSON with numbers kept as json.Number.
// Malformed JSON (truncated, trailing data after the value) is a
// *json.SyntaxError whose message and Offset are encoding/json's, so that
// the position it names is exact; the fast decoder's own errors name padding
// bytes ('\u0000') and approximate offsets.
func UnmarshalJSONNumber(data []byte, v any) error {
	dec := gojson.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(v)
	if err == nil && !dec.More() {
		return nil
	}
	if serr := syntaxError(data); serr != nil {
		return serr
	}
	if err == nil { // More without a syntax error: only whitespace follows
		return nil
	}
	return err
}

// syntaxError is encoding/json's account of what is wrong with data as one
// JSON value, or nil when data is well formed. Called on failures only.
func syntaxError(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// EncodeJSON encodes v in the canonical form of delivered bodies: compact,
// map keys sorted, json.Number verbatim, no HTML escaping.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := gojson.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode validates one envelope decoded from JSON (numbers as json.Number)
// and returns the event. Errors are *problem.Error naming the field; now is
// the default occurred_at.
func Decode(m map[string]any, now time.Time) (*Event, error) {
	e := &Event{}
	var err error
	if e.Type, err = str(m, "type", true); err != nil {
		return nil, err
	}
	if !Known(e.Type) {
		return nil, problem.Invalid("type", e.Type, UnknownType)
	}
	if IsEngineType(e.Type) {
		return nil, problem.Invalid("type", e.Type, "Emitted by the engine only")
	}
	if e.ID, err = str(m, "id", false); err != nil {
		return nil, err
	}
	if len(e.ID) > 200 {
		return nil, problem.Invalid("id", e.ID, "At most 200 characters")
	}
	at, err := str(m, "occurred_at", false)
	if err != nil {
		return nil, err
	}
	if at != "" {
		t, perr := time.Parse(time.RFC3339Nano, at)
		if perr != nil {
			return nil, problem.Invalid("occurred_at", at, "Must be an RFC 3339 time")
		}
		e.OccurredAt = t.UTC()
	} else {
		e.OccurredAt = now.UTC()
	}
	if e.ProjectID, err = str(m, "project_id", false); err != nil {
		return nil, err
	}
	if v, ok := m["actor"]; ok && v != nil {
		am, ok := v.(map[string]any)
		if !ok {
			return nil, problem.Invalid("actor", v, "Must be an Object")
		}
		if e.Actor.Username, err = str(am, "username", false); err != nil {
			return nil, problem.Prefix("actor.", err)
		}
		if e.Actor.Interface, err = str(am, "interface", false); err != nil {
			return nil, problem.Prefix("actor.", err)
		}
	}
	if e.Asset, err = obj(m, "asset"); err != nil {
		return nil, err
	}
	if IsAssetType(e.Type) {
		if e.Asset == nil {
			return nil, problem.Invalid("asset", nil, "Must be an Object")
		}
		if _, ok := e.Asset["uuid"].(string); !ok || e.Asset["uuid"] == "" {
			return nil, problem.Invalid("asset.uuid", e.Asset["uuid"], "Must be a String")
		}
	}
	if e.Previous, err = obj(m, "previous"); err != nil {
		return nil, err
	}
	if e.Object, err = obj(m, "object"); err != nil {
		return nil, err
	}
	if v, ok := m["changes"]; ok && v != nil {
		arr, ok := v.([]any)
		if !ok {
			return nil, problem.Invalid("changes", v, "Must be an Array")
		}
		for i, c := range arr {
			cm, ok := c.(map[string]any)
			if !ok {
				return nil, problem.Invalid("changes["+itoa(i)+"]", c, "Must be an Object")
			}
			f, ferr := str(cm, "field", true)
			if ferr != nil {
				return nil, problem.Prefix("changes["+itoa(i)+"].", ferr)
			}
			e.Changes = append(e.Changes, Change{Field: f, Old: cm["old"], New: cm["new"]})
		}
		if e.Changes == nil {
			e.Changes = []Change{}
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"destination", &e.Destination}, {"target", &e.Target}, {"marker", &e.Marker}} {
		if *f.dst, err = str(m, f.name, false); err != nil {
			return nil, err
		}
	}
	if e.Target != "" && e.Target != "file" && e.Target != "directory" {
		return nil, problem.Invalid("target", e.Target, "Must be \"file\" or \"directory\"")
	}
	return e, nil
}

func str(m map[string]any, k string, required bool) (string, error) {
	v, ok := m[k]
	if !ok || v == nil {
		if required {
			return "", problem.Invalid(k, nil, "Must be a String")
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok || (required && s == "") {
		return "", problem.Invalid(k, v, "Must be a String")
	}
	return s, nil
}

func obj(m map[string]any, k string) (map[string]any, error) {
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

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
