// Package actions runs what a matched rule asks for. An Action is one method,
// Execute(ctx, *Delivery) Result, in the shape of net/http's Handler: an
// ActionFunc adapts a function, a Middleware wraps an Action, and a Registry
// maps stable type names ("webhook") to factories that decode and validate a
// JSON config.
//
// Data enters as a Delivery: one event (with its changes already derived by
// the engine) for one webhook, with a stable id and the attempt number. It
// leaves as an outgoing HTTP request (SPEC §6) and a Result: the status, the
// truncated response body, how long it took, and what the engine needs to
// decide on a retry (Err, RetryAfter, Gone).
//
// The webhook action builds the body once per event and body config
// (PayloadCache), signs it as Standard Webhooks require, authenticates with
// basic, bearer or OAuth2 (one token per process), tries the primary then the
// redundant URLs, and dials only public addresses unless private targets are
// allowed: the guard checks the resolved IP when connecting (NewTransport).
//
// The api decodes and validates webhook configs with DecodeConfig, masks them
// for display (Masked), keeps stored secrets on update (KeepSecrets) and
// encrypts them for storage (Seal, Open).
package actions
