// Command loadbench is the load program that `make bench` runs: it measures
// the real assethooks binary, end to end, against a real Redis.
//
// It builds ./cmd/assethooks (or takes -binary), starts -procs engine
// processes on the Redis at -redis under a fresh key prefix
// ({bench<random>}), runs its own webhook receiver on 127.0.0.1, registers
// -webhooks webhooks for ASSET_ADDED with the first engine, each to its own
// path of the receiver (/hook/<i>), and sends ~1 KB ASSET_ADDED events to
// the engines round-robin. -matching of the webhooks (all by default) have
// no condition and receive every event; the others have one that no bench
// event meets (asset.size < 0), so the engine evaluates and skips them. A
// delivery is one event at one matching webhook: each accepted event is
// expected -matching times. Each event carries a sequence number in
// asset.meta.custom.bench_seq; the receiver reads it back from the delivered
// JSON body and counts arrivals per webhook path and webhook-id header, so
// that every expected delivery is known to have arrived once, more than once
// (duplicated) or not at all (lost).
//
// Scenarios (-scenarios, in this order):
//
//   - single: -clients concurrent clients send single-event requests as
//     fast as they can, -events in all.
//   - batch: -batch-clients clients send -batch-size events per request,
//     -events in all.
//   - latency: single-event requests paced at -rate a second for -duration.
//
// Each scenario prints one row of a Markdown table: deliveries/s (first send
// to last first arrival), ingest requests/s and events/s, p50/p99/max from
// the start of the request to each delivery's first arrival, engine CPU
// (utime+stime from /proc/<pid>/stat, summed over the engine processes) and
// Redis CPU (INFO cpu) per delivery, Redis commands per delivery (INFO
// commandstats, including the commands scripts run, minus loadbench's own
// INFO calls), the engines' peak RSS (VmHWM, reset before each scenario; the
// largest process), lost and duplicated deliveries and refused ingest
// requests. A header names the machine, the commit, the Redis version, the
// webhooks and the command line, so
// the output can be pasted into BENCHMARKS.md as it is.
//
// With -cluster it starts a Redis Cluster of its own instead (three
// masters with a replica each, six redis-server processes on free loopback
// ports, made with redis-cli --cluster create; internal/redistest) and runs
// the engines on it (ASSETHOOKS_REDIS_URL naming every node). Redis CPU is
// then summed over the six nodes and Redis commands over the three masters
// (a replica replays its master's), and a second table gives, per scenario
// and master, its share of the run's keys at the end of the scenario and of
// the commands served during it. The cluster is stopped and its files
// removed at the end. `make bench-cluster` runs 1, 2 and 3 processes on
// the single Redis and on the cluster.
//
// All traffic stays on loopback and is bounded in count and time (-wait
// after the last send, -timeout for the whole run). loadbench stops the
// engines it started on every exit path (SIGTERM, then SIGKILL) and deletes
// its prefix's keys with SCAN and DEL; it never flushes the Redis, which
// other programs may be using. Redis figures are server-wide, so other
// clients of the same Redis inflate them.
package main
