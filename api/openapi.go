package api

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/assethooks/assethooks/event"
)

// The OpenAPI document is written as JSON fragments under openapi/: base.json
// holds the document's frame (info, security, the shared responses,
// parameters and schemas such as Error and Time), and each other file the
// paths of one area with the component schemas they introduce (webhooks.json:
// Webhook, Delivery…; markers.json: Marker…). A new area adds a file; a
// fragment may not redefine a path or a component another one defines.
// The server fills in what the code knows: the event catalogue's enums, the
// version, and WebhookPatch (WebhookRequest with every field optional and
// nullable). Tests hold the document to the routes gin serves and to the
// real answers of the API.
//
//go:embed openapi/*.json
var openapiFiles embed.FS

// OpenAPIRoute is where the server answers its OpenAPI document (no key).
const OpenAPIRoute = "/openapi.json"

// openapiBase is the merged document before the version is set.
var openapiBase = sync.OnceValues(func() (map[string]any, error) {
	doc, err := mergeFragments(openapiFiles)
	if err != nil {
		return nil, err
	}
	return doc, fillCatalogue(doc)
})

// OpenAPI returns the OpenAPI 3.1 document of the API as JSON, with version
// as info.version.
func OpenAPI(version string) ([]byte, error) {
	base, err := openapiBase()
	if err != nil {
		return nil, err
	}
	doc := make(map[string]any, len(base))
	for k, v := range base {
		doc[k] = v
	}
	info := map[string]any{}
	for k, v := range base["info"].(map[string]any) {
		info[k] = v
	}
	info["version"] = version
	doc["info"] = info
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// componentKinds are the sections of components a fragment may add to.
var componentKinds = []string{"schemas", "responses", "parameters", "requestBodies", "headers", "securitySchemes"}

// mergeFragments reads base.json and merges every other fragment's paths
// and components into it.
func mergeFragments(fsys fs.FS) (map[string]any, error) {
	read := func(name string) (map[string]any, error) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("api: openapi fragment %s: %w", name, err)
		}
		return m, nil
	}
	doc, err := read("openapi/base.json")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	paths := doc["paths"].(map[string]any)
	components := doc["components"].(map[string]any)
	for _, name := range names {
		if path.Base(name) == "base.json" {
			continue
		}
		frag, err := read(name)
		if err != nil {
			return nil, err
		}
		for k, v := range frag {
			switch k {
			case "paths":
				for p, item := range v.(map[string]any) {
					if _, dup := paths[p]; dup {
						return nil, fmt.Errorf("api: openapi fragment %s: path %s is defined twice", name, p)
					}
					paths[p] = item
				}
			case "components":
				for kind, defs := range v.(map[string]any) {
					if !contains(componentKinds, kind) {
						return nil, fmt.Errorf("api: openapi fragment %s: unknown components section %s", name, kind)
					}
					section, _ := components[kind].(map[string]any)
					if section == nil {
						section = map[string]any{}
						components[kind] = section
					}
					for n, def := range defs.(map[string]any) {
						if _, dup := section[n]; dup {
							return nil, fmt.Errorf("api: openapi fragment %s: components.%s.%s is defined twice", name, kind, n)
						}
						section[n] = def
					}
				}
			default:
				return nil, fmt.Errorf("api: openapi fragment %s: only paths and components may be added, not %s", name, k)
			}
		}
	}
	return doc, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fillCatalogue sets what the code knows: the enums of event types and
// WebhookPatch, derived from WebhookRequest.
func fillCatalogue(doc map[string]any) error {
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var all, ingest []any
	for _, t := range event.Types() {
		all = append(all, t)
		if !event.IsEngineType(t) {
			ingest = append(ingest, t)
		}
	}
	for name, enum := range map[string][]any{"EventTypeName": all, "IngestEventTypeName": ingest} {
		s, ok := schemas[name].(map[string]any)
		if !ok {
			return fmt.Errorf("api: openapi: components.schemas.%s is missing", name)
		}
		s["enum"] = enum
	}
	req, ok := schemas["WebhookRequest"].(map[string]any)
	if !ok {
		return fmt.Errorf("api: openapi: components.schemas.WebhookRequest is missing")
	}
	props := map[string]any{}
	for k, p := range req["properties"].(map[string]any) {
		props[k] = map[string]any{"anyOf": []any{p, map[string]any{"type": "null"}}}
	}
	schemas["WebhookPatch"] = map[string]any{
		"type":        "object",
		"description": "An RFC 7396 merge patch of a webhook: the fields of WebhookRequest, each optional; null removes a field (its default applies again).",
		"properties":  props,
	}
	return nil
}

// openapi answers the document (no key).
func (s *Server) openapi(c *gin.Context) {
	b, err := OpenAPI(s.cfg.Version)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
}
