// Package markers serves markers (SPEC §3.3): named flags or one-shot
// buttons that a DAM user selects on one asset or on many, Fotoware's
// "Use as homepage banner" or "Post to Facebook".
//
// Data enters through the HTTP API: admins define markers under
// /api/v2/admin/markers (a name, a label, an availability condition in expr
// over the asset, the webhooks the marker fires directly, a mode and the
// batch switch); users list the markers offered for an asset and select or
// clear them under /api/v2/assets/:asset_id/markers, or select one on many
// assets with /api/v2/markers/:name/select. Definitions are stored by the
// engine (engine.Marker), which routes bound webhooks by their webhook_ids.
//
// Data leaves as events: a selection becomes an ASSET_MARKER_SELECTED event,
// a clear an ASSET_MARKER_CLEARED event, with "marker" set and the actor
// taken from the body or the API key, queued with engine.Ingest and routed
// like any other event. A flag marker is kept on the asset's snapshot as a
// name in asset.markers, so rules can test it (hasMarker("x") or
// "x" in asset.markers); an action marker keeps nothing. A bulk select of a
// marker with "batch": true is one event whose assets list (data.assets in
// the payload) holds every selected asset; otherwise it is one event per
// asset, queued as one batch.
//
// Register the routes with api.Config{Extra: []func(*api.Server){markers.Routes}}.
package markers
