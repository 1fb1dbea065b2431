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
// Keys (prefix P holds the deployment's hash tag, "{assethooks}" by default,
// so every multi-key script and MULTI stays in one Redis Cluster slot):
//
//	P:events              stream of accepted events (group "router")
//	P:deliveries          stream of deliveries to attempt (group "workers")
//	P:retry, P:retry:msg  due times (zset) and messages (hash) of waiting deliveries
//	P:evs:<minute>        hash: event id → stored event of a delivery, one per routing minute
//	P:hist:data, P:hist:idx, P:hist:asset, P:hist:type, P:hist:roster:<id>
//	                      the history of routed events and their traces (history.go)
//	P:rule_errors         hash: webhook id → run-time rule errors, "<id>:last" → the last
//	P:asset:<uuid>        an asset's snapshot: "<kept flags>\n<asset JSON>"
//	P:idem:<id>           an idempotency key (24 h)
//	P:webhooks, P:seq:webhook, P:markers, P:projects, P:rev, P:aborts
//	P:wh:<id>:rec         hash: delivery id → delivery record
//	P:wh:<id>:dlv         zset: delivery id by creation time (the index, capped)
//	P:wh:<id>:failed      list: the failed log (capped)
//	P:qlen, P:rlen        hashes: webhook id → deliveries waiting for a first try / a retry
//	P:latest, P:health    hashes: webhook id → latest run / first failure since the last success
//	P:aborted             zset: aborted delivery id by time
//	P:rl:<id>             a webhook's rate limit: the time (µs, Redis's clock) of its next token
//	P:sample:<type>       list: recent events of a type (REST-hook samples)
//	P:lock:<name>         short locks
//
// The history is bounded in time and in count by the router's own script:
// each batch, after writing its events, trims the oldest beyond
// RouteBatch.HistoryCap and those received before the retention's start
// (at most its own number plus a thousand), so the bound holds after every
// batch without a sweeper; readers also leave out what is older than the
// retention, should no batch have run since.
package store
