package event

import (
	_ "embed"
	"strings"
)

// Subjects of event types: what an event of the type is about, and so where
// its payload carries it.
const (
	SubjectAsset  = "asset"  // ASSET_* types: the event carries an asset (data.asset)
	SubjectObject = "object" // the DAM's other objects (projects, users…): data.object
	SubjectEngine = "engine" // the engine's own WEBHOOK_* events: data.webhook, data.delivery
)

// Info describes one type of the catalogue.
type Info struct {
	// Name is the type, as events and trigger_events spell it.
	Name string `json:"name"`
	// Group is what the type is about, lowercase: asset, project, user,
	// collection, marker, webhook…
	Group string `json:"group"`
	// Description says in one sentence when an event of the type happens.
	Description string `json:"description"`
	// Subject is SubjectAsset, SubjectObject or SubjectEngine.
	Subject string `json:"subject"`
}

//go:embed catalogue.txt
var catalogueFile string

var infos = loadInfos()

// loadInfos reads catalogue.txt: name, group and description separated by
// tabs. Types missing there still get an entry (Describe's fallback), so
// that the catalogue test, not a panic, reports them.
func loadInfos() map[string]Info {
	m := map[string]Info{}
	for _, line := range strings.Split(catalogueFile, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			continue
		}
		m[f[0]] = Info{Name: f[0], Group: f[1], Description: strings.TrimSpace(f[2]), Subject: SubjectOf(f[0])}
	}
	return m
}

// SubjectOf is the subject of events of type t.
func SubjectOf(t string) string {
	switch {
	case IsEngineType(t):
		return SubjectEngine
	case IsAssetType(t):
		return SubjectAsset
	}
	return SubjectObject
}

// Describe returns what the catalogue says of type t; ok is false for a type
// outside the catalogue.
func Describe(t string) (info Info, ok bool) {
	if !Known(t) {
		return Info{}, false
	}
	if info, ok = infos[t]; ok {
		return info, true
	}
	return Info{Name: t, Subject: SubjectOf(t)}, true
}

// Catalogue describes every type, in the catalogue's documented order.
func Catalogue() []Info {
	out := make([]Info, len(typeList))
	for i, t := range typeList {
		out[i], _ = Describe(t)
	}
	return out
}

// CatalogueRoute is the API route that lists the catalogue; errors about an
// unknown event type point to it.
const CatalogueRoute = "GET /api/v2/event-types"

// UnknownType is the reason given for a type outside the catalogue.
const UnknownType = "Unknown event type, see " + CatalogueRoute
