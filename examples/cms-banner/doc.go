// Command cms-banner is Fotoware's own webhook use case on assethooks: a
// webmaster selects the marker "Use as homepage banner" on a picture in the
// DAM, and the website's homepage shows it at once.
//
// It is a tiny CMS: an http.Handler that serves the homepage (GET /) with
// the current banner and receives the webhook (POST /webhooks/banner),
// verifying its Standard Webhooks signature. At start it registers, against
// the assethooks at ASSETHOOKS_URL with the admin key ASSETHOOKS_API_KEY, a
// webhook to itself and the marker "use-as-homepage-banner" (label "Use as
// homepage banner", offered for images only: condition isImage()) bound to
// that webhook through webhook_ids. The webhook's own trigger is
// ASSET_REMOVED, so that removing the banner's asset takes it off the page.
//
//	ASSETHOOKS_ALLOW_PRIVATE_TARGETS=true go run ./cmd/assethooks serve   # prints an admin key
//	ASSETHOOKS_API_KEY=… go run ./examples/cms-banner                      # CMS on 127.0.0.1:8090
//
// Then make the engine see an image (POST /api/v2/events with ASSET_ADDED)
// and select the marker on it: POST /api/v2/assets/<uuid>/markers/use-as-homepage-banner.
// Variables: ASSETHOOKS_URL (default http://127.0.0.1:8080), CMS_ADDR
// (default 127.0.0.1:8090), CMS_PUBLIC_URL (how assethooks reaches the CMS,
// default http://CMS_ADDR).
package main
