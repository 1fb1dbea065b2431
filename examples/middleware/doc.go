// Command middleware is a Zapier-style "Catch Hook" for assethooks: a REST-hook
// subscriber that accepts deliveries as JSON or as form-urlencoded bodies
// (body.format "form", the way Fotoware posts FORM data) and turns both into
// the same nested document, decoding bracket notation
// (data[asset][tags][0]=…) as PHP, Rack, qs and Zapier do.
//
// At start it subscribes itself through POST /api/v2/hooks (Zapier's REST
// hooks: target_url, event, an optional condition) to the assethooks at
// ASSETHOOKS_URL with ASSETHOOKS_API_KEY (a user key is enough), prints every
// caught document as one JSON line, and unsubscribes (DELETE
// /api/v2/hooks/:id) when it stops. REST hooks are delivered as JSON; to
// have form bodies, point an admin webhook with "body": {"format": "form"}
// at the same URL.
//
//	ASSETHOOKS_ALLOW_PRIVATE_TARGETS=true go run ./cmd/assethooks serve
//	ASSETHOOKS_API_KEY=… EVENT=ASSET_MARKER_SELECTED go run ./examples/middleware
//
// Variables: ASSETHOOKS_URL (default http://127.0.0.1:8080), EVENT (default
// ASSET_ADDED), CONDITION (optional expr), MIDDLEWARE_ADDR (default
// 127.0.0.1:8091), MIDDLEWARE_PUBLIC_URL (default http://MIDDLEWARE_ADDR).
package main
