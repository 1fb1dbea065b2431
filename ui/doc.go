// Package ui is the admin web UI and the marker panel (SPEC §3.11), served
// by the engine under /ui/.
//
// Pages are server-rendered html/template skeletons embedded in the binary
// (go:embed), with the page's plain JavaScript and stylesheet served from
// /ui/static/. No data enters a page on the server: the browser fetches
// everything from the public HTTP API of SPEC §3 with the X-API-KEY the
// user typed once on the sign-in page, kept in sessionStorage for the
// browser session and never put in a URL. So the UI can do exactly what the
// API lets that key do, and nothing more.
//
// Every /ui/ response carries a strict Content-Security-Policy (scripts,
// styles and connections from the engine's own origin only, no inline
// scripts), X-Content-Type-Options: nosniff and no-referrer. The marker
// panel, /ui/assets/:asset_id/markers, is meant to be embedded by a DAM in
// an iframe: its frame-ancestors come from Config.FrameAncestors
// (ASSETHOOKS_UI_FRAME_ANCESTORS); the admin pages may be framed by the
// engine's own origin only.
//
// Register the pages with api.Config{Extra: []func(*api.Server){ui.Routes(cfg)}}.
package ui
