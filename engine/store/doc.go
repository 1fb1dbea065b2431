// Package store is the engine's storage layer: every Redis key, every script
// and every Redis call of assethooks sits behind the typed methods of Store,
// so that the router, the workers, the maintenance loops and the admin
// stores never see a Redis client.
//
// Each script is declared beside the one method that runs it, with its KEYS
// and ARGV documented there and packed from a struct in that method only.
// Documents (webhooks, markers, projects, delivery records, stored events)
// travel as JSON bytes: their Go types belong to the engine, which encodes
// them; the store only decides where they live and what changes together.
//
// Partitions (partition.go): the streams and everything that must change
// with them in one script are split into Partitions() partitions, each
// under its own prefix Pi with its own hash tag. P0 is the deployment's
// prefix P itself ("{assethooks}"), so a deployment made before partitions
// finds its keys in partition 0; Pi, i > 0, is "{T:p<i>.<k>}" for P = "{T}",
// k chosen so that partition i's slot lies in the i'th of n equal stretches
// of the 16384 slots counted from P0's: on a cluster whose masters hold
// contiguous slot ranges, every master holds about n/masters partitions.
// An event goes to the partition of its asset (FNV-1a of the asset uuid,
// or of the event id when it has none), so one asset's events are in one
// stream, in the order they were accepted. Everything of a delivery lives
// in its event's partition; the store returns stream entries qualified
// with it ("<partition>/<stream id>"), and a delivery looked up by id is
// searched in every partition in one pipeline. A script that works on a
// partition is written for one (its KEYS and ARGV) and wrapped by
// blockScript: on a single Redis one call runs every partition's block, so
// partitions cost no commands there; on a cluster, one call per partition,
// pipelined (one round trip per node).
//
// In each partition Pi:
//
//	Pi:events             stream of accepted events (group "router")
//	Pi:deliveries         stream of deliveries to attempt (group "workers")
//	Pi:wait:e, Pi:wait:d  set by a cluster reader that found the stream empty (reader.go)
//	Pi:retry, Pi:retry:msg  due times (zset) and messages (hash) of waiting deliveries
//	Pi:evs:<minute>       hash: event id → stored event of a delivery, one per routing minute
//	Pi:hist:data, Pi:hist:idx, Pi:hist:asset, Pi:hist:type
//	                      the history of routed events and their traces (history.go)
//	Pi:rule_errors        hash: webhook id → run-time rule errors, "<id>:last" → the last
//	Pi:asset:<uuid>       an asset's snapshot: "<kept flags>\n<asset JSON>"
//	Pi:since:<uuid>       an asset's change times for since() (schedules.go)
//	Pi:idem:<id>          an idempotency key (24 h), in the partition of its event
//	Pi:wh:<id>:rec        hash: delivery id → delivery record
//	Pi:wh:<id>:dlv        zset: delivery id by creation time (the index, capped to its share)
//	Pi:wh:<id>:failed     list: the failed log (capped)
//	Pi:qlen, Pi:rlen      hashes: webhook id → deliveries waiting for a first try / a retry
//	Pi:latest             hash: webhook id → latest run
//	Pi:sample:<type>      list: recent events of a type (REST-hook samples), "<history key> <JSON>"
//
// Global, under P (they change alone or together, never with a stream):
//
//	P:webhooks, P:seq:webhook, P:markers, P:projects, P:rev, P:aborts
//	P:aborted             zset: aborted delivery id by time
//	P:health              hash: webhook id → first failure since the last success
//	P:hist:roster:<id>    the webhooks traces refer to
//	P:schedules, P:sched:*, P:tick:*, P:lock:<name>
//	P:rl:<id>             a webhook's rate limit: the time (µs, Redis's clock) of its next token
//	P:disabling:<id>      a webhook's short disabling guard
//	P:bell                the doorbell channel (pub/sub, on a cluster)
//
// Readers (reader.go): on a single Redis one blocking XREADGROUP covers
// every partition's stream. On a cluster a command's keys share a slot, so
// a blocked read per partition would hold a connection per partition;
// instead the reader polls the partitions that gave entries at its last
// read (a pipeline, one round trip per node) with a script that sets the
// partition's wait flag when it finds nothing, and sleeps on the doorbell:
// a writer that adds to a stream deletes the flag in the same script and,
// when there was one, publishes the partition. Every partition is polled
// at least once a second besides.
//
// Counters summed, lists merged: Figures, Gauges, the delivery listings,
// the failed log, samples and the history read every partition (one
// pipeline a step) and merge. Health is global, kept beside the outcomes'
// script by a small one (Complete), so that a success anywhere clears a
// webhook's failure clock and WEBHOOK_RECOVERED is emitted once.
//
// The history is bounded in time and in count by the router's own script:
// each batch, after writing its events, trims the oldest beyond
// RouteBatch.HistoryCap and those received before the retention's start
// (at most its own number plus a thousand), so the bound holds after every
// batch without a sweeper; readers also leave out what is older than the
// retention, should no batch have run since.
package store
