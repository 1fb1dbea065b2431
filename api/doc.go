// Package api is the HTTP API of assethooks (SPEC §3), on gin.
//
// Requests enter through Server.Handler: the middleware chain recovers from
// panics, checks the X-API-KEY and its role, and maps every error a handler
// returns (problem.Error, engine.ErrNotFound, engine.ErrUnavailable, a body
// over the limit) to its status and {"error": …}. Handlers decode and
// validate input, then call the engine, which owns every store; nothing here
// talks to Redis directly.
package api
