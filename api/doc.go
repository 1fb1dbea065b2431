// Package api is the HTTP API of assethooks (SPEC §3), on gin.
//
// Requests enter through Server.Handler: the middleware chain recovers from
// panics, checks the X-API-KEY and its role, and maps every error a handler
// returns (problem.Error, engine.ErrNotFound, engine.ErrUnavailable, a body
// over the limit) to its status and {"error": …}; a known path with another
// method answers 405 with an Allow header. Handlers decode and validate
// input, then call the engine, which owns every store; nothing here talks to
// Redis directly.
//
// The contract is in the repository: GET /openapi.json serves the OpenAPI
// 3.1 document merged from the fragments in openapi/ (see openapi.go), held
// to the routes and the real answers by the tests; GET /api/v2/event-types
// serves the catalogue with sample payloads (EventTypes). The generated
// parts of docs/api.md and docs/events.md come from the same code.
package api

//go:generate env UPDATE=1 go test -count=1 -run ^TestDocs$ .
