// Package engine is the heart of assethooks: the Redis Streams queue, the
// stores, the router, the delivery workers and the retry scheduler.
//
// Data enters through Ingest, which appends events to the events stream in one
// Lua script per request (idempotency key, asset snapshot swap and XADD
// together, so the snapshot order is the acceptance order). The router reads
// events in batches (XREADGROUP COUNT), derives what changed from the snapshot
// that the script stored beside each event, matches the in-memory rule index
// (rules.Index, rebuilt when the revision counter moves) and writes one
// delivery per matching webhook to the deliveries stream in one MULTI with the
// event's ack. Workers read deliveries in batches, run each through its
// webhook's action in a per-webhook lane, and record outcomes in batches with
// one Lua script that acks, moves counters and writes logs together, so that
// queue_length and retry_queue_length never drift from the streams. Failed
// attempts wait in a sorted set; the scheduler moves due ones back to the
// deliveries stream under a short lock.
//
// Isolation: every webhook has a lane with a concurrency cap
// (Config.PerWebhook) and a small backlog; a delivery whose lane is full is
// snoozed back to the retry set for a second without counting as an attempt,
// so a hanging receiver holds at most its cap of workers and never stops the
// reader from feeding the others. All backlogs together stay under half of
// what the reader may hold, so several slow lanes cannot starve it either;
// up to Workers/PerWebhook receivers may hang at once before the workers
// themselves run short.
//
// Crash safety: entries read but not acknowledged stay in the consumer
// group's pending list. Every process runs a reclaimer (XAUTOCLAIM with
// Config.ClaimIdle, longer than the longest attempt) and renews the leases of
// the entries it still holds, so a dead process's work is taken over within a
// minute and a live one's is never stolen. An entry stays "held" until its
// outcome is recorded, so neither renewal nor de-duplication has a gap. After
// a Redis outage the router and the workers re-read their own pending lists
// (a read whose reply was lost) and recreate the consumer groups when Redis
// lost them (NOGROUP). Delivery ids are derived from the
// event id and the webhook id, so a delivery keeps its webhook-id across
// retries, re-routes and take-overs.
//
// All keys share one hash tag (Config.Prefix, "{assethooks}" by default), so
// the scripts and MULTIs work on Redis Cluster.
package engine
