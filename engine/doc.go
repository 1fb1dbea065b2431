// Package engine is the heart of assethooks: the router, the delivery
// workers, the maintenance loops (retry promotion, take-over of abandoned
// work, disabling) and the stores the API reads and writes. Every Redis key,
// script and call lives beneath it, in engine/store; the engine itself
// imports neither go-redis nor net/http.
//
// Data enters through Ingest, which encodes each event once (its asset in
// the canonical form delivered bodies carry, beside a small envelope) and
// appends it to the events stream in one script call per group of requests
// (store.Enqueue: idempotency key, asset snapshot swap and XADD together, so
// the snapshot order is the acceptance order).
//
// The router (router.go) reads events in batches, decodes each envelope,
// and decodes the asset only when something needs it: a candidate webhook's
// condition, folder scope or template, a previous snapshot to derive the
// changes from, or marker flags to merge. It matches the in-memory rule
// index (rules.Index, rebuilt when the revision counter moves) and writes
// the batch in one script call (store.Route): the stored events (a hash per
// routing minute, kept Config.EventRetention), one stream entry per delivery
// (carrying its ready body when its webhook sends the default json body),
// and per webhook its counter, records and index, in batched commands. The
// script writes only for entries still pending in the router group, so a
// batch routed twice (a lost reply, a take-over) queues nothing twice.
//
// History and traces (history.go, trace.go; SPEC §3.8): the same script
// call keeps every routed event, matched or not, as it was routed (the
// changes derived then included) with its routing trace, in one HSET and
// three ZADDs per batch (all events, by asset, by type). The trace is
// recorded by match as it goes: for each webhook it looks at beyond its
// triggers, the stage where it ended (rules.Rule.Check, no evaluation
// beyond the routing's own) and a run-time error's text; the webhooks of
// the routing state (names, triggers, scopes) are a roster stored once per
// state, so a webhook the event's type does not concern costs nothing. An
// event nobody subscribes to is still not decoded when routing it derives
// nothing: its trace is a header. Run-time rule errors are counted per
// webhook in the same call (rule_errors). The history is bounded by
// Config.EventRetention and Config.EventCap (the newest 1,000,000 by
// default): after writing, each batch's script trims the oldest events
// over the count or older than the retention, with their index entries, at
// most its own number plus a thousand a batch, so the bound holds after
// every batch without a sweeper; readers leave out what is older than the
// retention. Delivery bodies stay in the routing minute's hash, kept
// Config.EventRetention for retries and resends whatever the history's
// count bound.
//
// Workers (worker.go) read deliveries in batches; a delivery with a ready
// body needs no further read, the others share one read of their stored
// events (eventcache.go). Each runs through its webhook's action in a
// per-webhook lane (lanes.go) that decides, with the retry policy
// (attempt.go), what follows; outcomes are recorded in batches (recorder.go,
// store.Complete), again only for entries still pending, so counters such
// as queue_length and retry_queue_length never drift from the streams.
// Failed attempts wait in a sorted set; the promoter moves due ones back to
// the deliveries stream.
//
// Isolation: every webhook has a lane with a concurrency limit that adapts
// (AIMD from Config.PerWebhook) and a small backlog; a delivery whose lane is
// full is snoozed back to the retry set for a second without counting as an
// attempt, so a hanging receiver holds its small share of the workers and
// never stops the reader from feeding the others. Beside its lane, every
// delivery needs a slot in its target host's budget (hosts.go: the primary
// URL's host:port, adapting the same way, shared by every webhook calling
// that host), so many webhooks pointing at one hanging host hold one
// budget's worth of workers, not one lane's worth each.
//
// Rate limits (ratelimit.go): a webhook's rate_limit is a GCRA in Redis
// (store.Allow), asked once per webhook per batch for as many tokens as the
// batch holds of its deliveries. Those without a token wait in the
// webhook's gate, a queue in memory woken by one timer when the next tokens
// are due, or, past half a second's worth, are snoozed to the retry set at
// the turn they can expect; neither counts as an attempt or holds a worker.
//
// Delivery control: Deliveries.Recover queues one more attempt for each
// failed delivery of a window, as a manual retry of each would;
// Deliveries.Replay routes the stored events of a window through one
// webhook's current rule and queues the deliveries it never had (only the
// events that matched some webhook when routed are stored: see Replay).
//
// Crash safety: entries read but not acknowledged stay in the consumer
// group's pending list. Every process runs a reclaimer (XAUTOCLAIM with
// Config.ClaimIdle, longer than the longest attempt) and renews the leases
// of every entry it holds (lease.go), so a dead process's work is taken over
// within a minute and a live one's is never stolen. An entry stays "held"
// until its outcome is recorded and "recent" for two ClaimIdle after, so a
// take-over that read it in between does not send it again. After a Redis
// outage the router and the workers re-read their own pending lists and
// recreate the consumer groups when Redis lost them (NOGROUP). Delivery ids
// are derived from the event id and the webhook id, so a delivery keeps its
// webhook-id across retries, re-routes and take-overs.
//
// Aborts: a delivery waiting for a retry is failed at once; one in the
// stream or being attempted gets an abort mark that every process keeps in
// memory (aborts.go), refreshed when the shared abort counter moves.
//
// Partitions (SPEC §2; the keys and how they spread are in package
// store): the events stream, the deliveries stream, the retry set and what
// changes with them in one script (counters, records, indexes, stored
// events, history, snapshots and idempotency keys) are split into
// partitions (store.NewPartitioned; ASSETHOOKS_PARTITIONS, 16 by
// default, the same on every process), each under its own hash tag, so
// every multi-key script stays in one slot while the partitions spread
// over every master of a cluster. Webhooks, markers, projects, schedules,
// locks, rate limits, the abort marks and the health clock stay global
// under the prefix's own tag: they change alone or together, never with a
// stream, and are read far more than written. Events of one asset always go
// to its partition, so per-asset order holds as on one stream. A delivery
// finds its partition from the stream entry it was read from (the store
// qualifies entries with it), and an admin's lookup by delivery id asks
// every partition at once; everything of a delivery (record, retry,
// counters, stored event) is in its event's partition. Every process
// consumes every partition: the router and the workers each read all of
// them with one blocking command on a single Redis and, on a cluster, by
// polling the partitions that have work and sleeping on a doorbell
// channel when none has (no blocked connection per partition). Retry
// promotion runs every partition's script under one lock per tick, so one
// process does it; take-over (XAUTOCLAIM) walks every partition in turn,
// and scheduled ticks and housekeeping are claimed once per tick as before.
// Schedules (SPEC §3.7; schedule*.go, since.go, housekeeping.go, their Redis calls in
// store/schedules.go): every process loads the stored
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
// before its batch is acknowledged, sets in <p>:since:<uuid> the field "" (first
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
package engine
