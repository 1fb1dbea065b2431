package store

import "strconv"

// keys names the Redis keys under one prefix: the deployment's global keys
// (its prefix) or one partition's (see partitionPrefixes).
type keys struct{ p string }

func (k keys) events() string       { return k.p + ":events" }
func (k keys) deliveries() string   { return k.p + ":deliveries" }
func (k keys) retry() string        { return k.p + ":retry" }
func (k keys) retryMsg() string     { return k.p + ":retry:msg" }
func (k keys) rev() string          { return k.p + ":rev" }
func (k keys) aborts() string       { return k.p + ":aborts" }
func (k keys) aborted() string      { return k.p + ":aborted" }
func (k keys) webhooks() string     { return k.p + ":webhooks" }
func (k keys) webhookSeq() string   { return k.p + ":seq:webhook" }
func (k keys) projects() string     { return k.p + ":projects" }
func (k keys) markers() string      { return k.p + ":markers" }
func (k keys) qlen() string         { return k.p + ":qlen" }
func (k keys) rlen() string         { return k.p + ":rlen" }
func (k keys) latest() string       { return k.p + ":latest" }
func (k keys) health() string       { return k.p + ":health" }
func (k keys) bell() string         { return k.p + ":bell" }
func (k keys) order() string        { return k.p + ":order" }
func (k keys) lock(n string) string { return k.p + ":lock:" + n }
func (k keys) asset(uuid string) string {
	return k.p + ":asset:" + uuid
}
func (k keys) idem(id string) string  { return k.p + ":idem:" + id }
func (k keys) sample(t string) string { return k.p + ":sample:" + t }
func (k keys) stored(minute int64) string {
	return k.p + ":evs:" + strconv.FormatInt(minute, 10)
}
func (k keys) wh(w int64, what string) string {
	return k.p + ":wh:" + strconv.FormatInt(w, 10) + ":" + what
}
func (k keys) records(w int64) string   { return k.wh(w, "rec") }
func (k keys) index(w int64) string     { return k.wh(w, "dlv") }
func (k keys) failedLog(w int64) string { return k.wh(w, "failed") }
func (k keys) rate(w int64) string      { return k.p + ":rl:" + strconv.FormatInt(w, 10) }
func (k keys) disabling(w int64) string {
	return k.p + ":disabling:" + strconv.FormatInt(w, 10)
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
