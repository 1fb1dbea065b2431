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
// Schedules (SPEC §3.7; schedule*.go, since.go, housekeeping.go, every
// Redis call in schedule_store.go): every process loads the stored
// schedules (reloaded when their revision counter moves) into one
// robfig/cron runner, each schedule's spec in its own timezone (the
// location set on the parsed schedule, never a TZ= prefix from the user,
// which is refused) and @every anchored to the clock, so that all processes
// agree on when a tick is. At a tick, each process asks for the tick's key
// (SET NX on <p>:tick:schedule:<id>:<unix ms>); the one that gets it runs
// the tick, the others skip it. A tick missed while every process was down
// is not replayed: cron computes the next tick from the start. RunTick runs
// a given tick without cron (tests drive time through it). A run walks the
// asset snapshots with SCAN COUNT Config.ScheduleBatch plus one MGET per
// batch, evaluates the condition in the engine (now() is the tick's time),
// and hands each batch's matches to its action: "events" queues one
// ASSET_SCHEDULED event per asset through Ingest (which never writes a
// scheduled event's asset back over the snapshot); "digest" keeps the
// MaxDigest matches with the smallest asset ids in a heap and queues one
// event whose Targets are the digest's webhooks, which the router sends to
// exactly those. Memory stays at one batch plus the digest. With once, a
// hash per schedule maps asset uuid → digest of the snapshot last sent, so
// an asset is sent again only when its snapshot changes. SCAN walks the
// whole Redis database, so a tick costs in proportion to every key in it:
// give a large deployment a database of its own.
//
// since(path): change times are recorded only for the paths that saved
// schedule conditions pass to since() (collected when they compile). While
// there are any, the router reads every event (subscribed to or not) and,
// in the MULTI of its batch, sets in <p>:since:<uuid> the field "" (first
// seen, HSETNX) and each watched path that the event's changes touch
// (HSET, unix ms of occurred_at, not later than now); a removed asset's
// hash is deleted. The scan reads the hashes of one batch in one pipeline
// and hands each asset's to the rules environment as a lookup function;
// assets stored before any condition read since() get their first-seen
// time from the first scan that looks.
//
// Housekeeping: named periodic jobs on the same cron runner and the same
// tick keys (<p>:tick:housekeeping:<name>:<ms>), so each runs once per tick
// across processes; today, trimming expired entries from the delivery
// indexes.
//
// All keys share one hash tag (Config.Prefix, "{assethooks}" by default), so
// the scripts and MULTIs work on Redis Cluster.
package engine
