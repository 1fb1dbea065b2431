package engine

import "strconv"

// keys names every Redis key of one engine; all share the prefix's hash tag.
type keys struct {
	p string
}

func (k keys) events() string     { return k.p + ":events" }
func (k keys) deliveries() string { return k.p + ":deliveries" }
func (k keys) retry() string      { return k.p + ":retry" }
func (k keys) rev() string        { return k.p + ":rev" }
func (k keys) aborts() string     { return k.p + ":aborts" }
func (k keys) webhooks() string   { return k.p + ":webhooks" }
func (k keys) webhookSeq() string { return k.p + ":seq:webhook" }
func (k keys) projects() string   { return k.p + ":projects" }
func (k keys) qlen() string       { return k.p + ":qlen" }
func (k keys) rlen() string       { return k.p + ":rlen" }
func (k keys) latest() string     { return k.p + ":latest" }
func (k keys) health() string     { return k.p + ":health" }
func (k keys) promoteLock() string {
	return k.p + ":lock:promote"
}
func (k keys) event(id string) string    { return k.p + ":ev:" + id }
func (k keys) asset(uuid string) string  { return k.p + ":asset:" + uuid }
func (k keys) flags(uuid string) string  { return k.p + ":flags:" + uuid }
func (k keys) idem(id string) string     { return k.p + ":idem:" + id }
func (k keys) delivery(id string) string { return k.p + ":dlv:" + id }
func (k keys) abort(id string) string    { return k.p + ":abort:" + id }
func (k keys) index(w int64) string      { return k.p + ":wh:" + strconv.FormatInt(w, 10) + ":dlv" }
func (k keys) successLog(w int64) string { return k.p + ":wh:" + strconv.FormatInt(w, 10) + ":success" }
func (k keys) failedLog(w int64) string  { return k.p + ":wh:" + strconv.FormatInt(w, 10) + ":failed" }
func (k keys) sample(t string) string    { return k.p + ":sample:" + t }
func (k keys) markers() string           { return k.p + ":markers" }
func (k keys) disabling(w int64) string  { return k.p + ":disabling:" + strconv.FormatInt(w, 10) }
