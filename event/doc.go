// Package event is the shared domain model of assethooks: the event envelope a
// DAM sends (SPEC §4), the changes derived from it, and the event catalogue.
//
// It is a leaf package of plain types: the api decodes and validates events
// with Decode, the engine queues and routes them, rules read them, and actions
// turn them into outgoing payloads. It imports nothing of the project.
package event
