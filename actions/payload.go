package actions

import (
	"bytes"
	"encoding/json"

	gojson "github.com/goccy/go-json"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/assethooks/assethooks/event"
)

// payload is an encoded request body (or query string) for one event and
// one body config.
type payload struct {
	body        []byte
	contentType string
	query       string // appended to the target's query; set for query format and GET
}

// PayloadCache holds the payloads encoded for one event, keyed by a
// canonical key of the body config, so that the deliveries of an event to
// many webhooks encode each distinct body once. It is safe for concurrent
// use; make one per event (NewPayloadCache) and drop it afterwards.
type PayloadCache struct {
	mu sync.Mutex
	m  map[string]*cacheEntry
}

type cacheEntry struct {
	once sync.Once
	p    *payload
	err  error
}

// NewPayloadCache returns an empty cache.
func NewPayloadCache() *PayloadCache { return &PayloadCache{m: map[string]*cacheEntry{}} }

func (c *PayloadCache) get(key string, build func() (*payload, error)) (*payload, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	if !ok {
		e = &cacheEntry{}
		c.m[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.p, e.err = build() })
	return e.p, e.err
}

// Len reports how many distinct payloads the cache holds.
func (c *PayloadCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// fieldGroups are the named groups of body.fields (Filerobot's categories).
var fieldGroups = map[string][]string{
	"file": {"name", "size", "path", "mime_type", "cdn_url", "uuid"},
}

// compileFields expands groups and splits dotted paths, shortest first, so
// that a path under one already selected is skipped.
func compileFields(fields []string) [][]string {
	seen := map[string]bool{}
	var paths [][]string
	add := func(p string) {
		if p == "" || seen[p] {
			return
		}
		seen[p] = true
		paths = append(paths, strings.Split(p, "."))
	}
	for _, f := range fields {
		if g, ok := fieldGroups[f]; ok {
			for _, p := range g {
				add(p)
			}
			continue
		}
		add(f)
	}
	sort.SliceStable(paths, func(i, j int) bool { return len(paths[i]) < len(paths[j]) })
	return paths
}

// cacheKey is the canonical key of a body config for PayloadCache.
func cacheKey(format string, paths [][]string) string {
	keys := make([]string, len(paths))
	for i, p := range paths {
		keys[i] = strings.Join(p, ".")
	}
	sort.Strings(keys)
	return format + "|" + strings.Join(keys, ",")
}

// selectFields keeps the chosen paths of an asset, with their nesting, and
// always its uuid. No paths means the whole asset. The asset is not changed.
func selectFields(asset map[string]any, paths [][]string) map[string]any {
	if len(paths) == 0 || asset == nil {
		return asset
	}
	out := make(map[string]any, len(paths)+1)
	taken := make([][]string, 0, len(paths)+1)
	if u, ok := asset["uuid"]; ok {
		out["uuid"] = u
		taken = append(taken, []string{"uuid"})
	}
next:
	for _, p := range paths {
		for _, t := range taken {
			if len(t) <= len(p) && slices.Equal(t, p[:len(t)]) {
				continue next
			}
		}
		v, ok := lookup(asset, p)
		if !ok {
			continue
		}
		setPath(out, p, v)
		taken = append(taken, p)
	}
	return out
}

func lookup(m map[string]any, p []string) (any, bool) {
	var cur any = m
	for _, k := range p {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// setPath sets v at p in out, creating maps on the way. Every map on the way
// was created here: selectFields never sets a path under one already set.
func setPath(out map[string]any, p []string, v any) {
	for _, k := range p[:len(p)-1] {
		next, ok := out[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			out[k] = next
		}
		out = next
	}
	out[p[len(p)-1]] = v
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// buildData is the payload's data for an event: the (selected) asset, or
// assets, or the object, with actor, changes, marker, project_id and
// destination always present, and target, webhook and delivery when set.
func buildData(ev *event.Event, paths [][]string) map[string]any {
	data := make(map[string]any, 10)
	switch {
	case ev.Assets != nil:
		arr := make([]any, len(ev.Assets))
		for i, a := range ev.Assets {
			arr[i] = selectFields(a, paths)
		}
		data["assets"] = arr
	case event.IsAssetType(ev.Type):
		data["asset"] = selectFields(ev.Asset, paths)
	case ev.Object != nil || !event.IsEngineType(ev.Type):
		data["object"] = ev.Object
	}
	actor := make(map[string]any, 2)
	if ev.Actor.Username != "" {
		actor["username"] = ev.Actor.Username
	}
	if ev.Actor.Interface != "" {
		actor["interface"] = ev.Actor.Interface
	}
	data["actor"] = actor
	changes := make([]any, len(ev.Changes))
	for i, c := range ev.Changes {
		changes[i] = map[string]any{"field": c.Field, "old": c.Old, "new": c.New}
	}
	data["changes"] = changes
	data["marker"] = orNil(ev.Marker)
	data["project_id"] = orNil(ev.ProjectID)
	data["destination"] = orNil(ev.Destination)
	if ev.Target != "" {
		data["target"] = ev.Target
	}
	if ev.Webhook != nil {
		data["webhook"] = ev.Webhook
	}
	if ev.Delivery != nil {
		data["delivery"] = ev.Delivery
	}
	if ev.Schedule != nil {
		data["schedule"] = map[string]any{"id": ev.Schedule.ID, "name": ev.Schedule.Name}
		if ev.Assets != nil { // a schedule's digest
			data["truncated"] = ev.Truncated
		}
	}
	return data
}

// timestampLayout is the payload's timestamp: RFC 3339, UTC, milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// document is the payload's envelope, in Standard Webhooks' shape and order.
type document struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

func newDocument(ev *event.Event, data map[string]any) document {
	return document{ID: ev.ID, Type: ev.Type, Timestamp: ev.OccurredAt.UTC().Format(timestampLayout), Data: data}
}

func encodeJSON(doc document) ([]byte, error) {
	var buf bytes.Buffer
	enc := gojson.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// JSONBody returns the json body delivered for ev with the given asset
// fields, or with data replacing the payload's data when it is non-nil:
// exactly the bytes a webhook sends (for samples and tests).
func JSONBody(ev *event.Event, fields []string, data map[string]any) ([]byte, error) {
	if data == nil {
		data = buildData(ev, compileFields(fields))
	}
	return encodeJSON(newDocument(ev, data))
}

// encodeForm flattens the document in bracket notation
// (data[asset][tags][0]=…), envelope keys first, map keys sorted; nulls and
// empty arrays and objects are left out.
func encodeForm(doc document) ([]byte, error) {
	f := formEncoder{buf: make([]byte, 0, 1024)}
	f.value([]byte("id"), doc.ID)
	f.value([]byte("type"), doc.Type)
	f.value([]byte("timestamp"), doc.Timestamp)
	f.value([]byte("data"), doc.Data)
	return f.buf, f.err
}

type formEncoder struct {
	buf []byte
	err error
}

// escaped brackets, as url.QueryEscape writes them.
var (
	openB  = []byte("%5B")
	closeB = []byte("%5D")
)

func (f *formEncoder) pair(key []byte, val string) {
	if len(f.buf) > 0 {
		f.buf = append(f.buf, '&')
	}
	f.buf = append(f.buf, key...)
	f.buf = append(f.buf, '=')
	f.buf = appendEscape(f.buf, val)
}

func child(key []byte, k string) []byte {
	n := make([]byte, 0, len(key)+len(k)+6)
	n = append(n, key...)
	n = append(n, openB...)
	n = appendEscape(n, k)
	return append(n, closeB...)
}

func (f *formEncoder) value(key []byte, v any) {
	switch x := v.(type) {
	case nil:
	case string:
		f.pair(key, x)
	case json.Number:
		f.pair(key, string(x))
	case bool:
		f.pair(key, strconv.FormatBool(x))
	case int:
		f.pair(key, strconv.Itoa(x))
	case int64:
		f.pair(key, strconv.FormatInt(x, 10))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f.value(child(key, k), x[k])
		}
	case []any:
		for i, e := range x {
			f.value(child(key, strconv.Itoa(i)), e)
		}
	case []map[string]any:
		for i, e := range x {
			f.value(child(key, strconv.Itoa(i)), e)
		}
	case []string:
		for i, e := range x {
			f.value(child(key, strconv.Itoa(i)), e)
		}
	default:
		// Anything else (float64, typed slices, structs from a template)
		// is written as JSON would write it.
		b, err := json.Marshal(x)
		if err != nil {
			f.err = err
			return
		}
		var g any
		if err := event.UnmarshalJSONNumber(b, &g); err != nil {
			f.err = err
			return
		}
		f.value(key, g)
	}
}

const upperhex = "0123456789ABCDEF"

// appendEscape appends s escaped as url.QueryEscape does.
func appendEscape(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

// filesAction maps event types to Files.com's action parameter.
var filesAction = map[string]string{
	"ASSET_ADDED":      "create",
	"ASSET_DOWNLOADED": "read",
	"ASSET_UPDATED":    "update",
	"ASSET_REMOVED":    "destroy",
	"ASSET_MOVED":      "move",
	"ASSET_RENAMED":    "move",
	"ASSET_COPIED":     "copy",
}

// filesAt is Files.com's timestamp: Y-m-dTH:M:S+00:00.
const filesAt = "2006-01-02T15:04:05+00:00"

// encodeQuery returns Files.com's parameters for ev (plus event and
// asset_id), sorted by name, leaving out those with no value.
func encodeQuery(ev *event.Event) string {
	v := make(url.Values, 9)
	set := func(k, s string) {
		if s != "" {
			v[k] = []string{s}
		}
	}
	action, ok := filesAction[ev.Type]
	if !ok {
		action = strings.ToLower(ev.Type)
	}
	set("action", action)
	set("interface", ev.Actor.Interface)
	path, _ := ev.Previous["path"].(string)
	if path == "" {
		path, _ = ev.Asset["path"].(string)
	}
	set("path", path)
	set("destination", ev.Destination)
	if !ev.OccurredAt.IsZero() {
		set("at", ev.OccurredAt.UTC().Format(filesAt))
	}
	set("username", ev.Actor.Username)
	typ := ev.Target
	if typ == "" {
		typ = "file"
	}
	set("type", typ)
	set("event", ev.Type)
	set("asset_id", ev.AssetID())
	return v.Encode()
}
