package engine

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// job is one delivery read from the stream and held by this process.
type job struct {
	sid   string // stream entry id; "" for none
	msg   message
	ev    *event.Event
	cache *actions.PayloadCache
	hook  *hook
	// stored is the event as read from Redis; encoded its default json
	// body, when the job sends that.
	stored  *cachedEvent
	encoded []byte
	// abortRev is the engine's abort count when the job was read.
	abortRev int64
	// waited is set when the job waited in its lane's backlog; an abort
	// may have come meanwhile, so it is checked again before the attempt.
	waited bool
}

// outcome is what happened to a job, to be recorded by the flusher.
type outcome struct {
	kind    string // ok, fail, retry, snooze, drop
	job     *job
	record  *Delivery
	latest  *LatestRun
	due     time.Time
	res     actions.Result
	gone    bool
	aborted bool
}

// lane is one webhook's share of the workers: at most PerWebhook running,
// at most Backlog waiting.
type lane struct {
	running int
	backlog []*job
}

// Lane limits adapt (additive increase, multiplicative decrease): a webhook
// starts with PerWebhook slots; each answer within fastAttempt adds one, up
// to half the workers; a slow or failed one halves them, down to PerWebhook.
// A hanging receiver so keeps the small share it started with, while a
// healthy one under a burst grows to use the idle workers.
const fastAttempt = 250 * time.Millisecond

// limitOf is a webhook's current lane limit; called with w.mu held.
func (w *workers) limitOf(id int64) int {
	if n, ok := w.limits[id]; ok {
		return n
	}
	return w.e.cfg.PerWebhook
}

// adapt moves a webhook's lane limit after an attempt; called with w.mu held.
func (w *workers) adapt(o outcome) {
	if o.record == nil || o.record.LastAttempt == nil || o.kind == "snooze" {
		return
	}
	id, lim := o.job.msg.W, w.limitOf(o.job.msg.W)
	top := max(w.e.cfg.PerWebhook, w.e.cfg.Workers/2)
	if o.kind == "ok" && o.res.Duration < fastAttempt {
		lim = min(lim+1, top)
	} else {
		lim = max(lim/2, w.e.cfg.PerWebhook)
	}
	if lim == w.e.cfg.PerWebhook {
		delete(w.limits, id)
	} else {
		w.limits[id] = lim
	}
}

// workers runs deliveries.
type workers struct {
	e       *Engine
	sem     chan struct{}
	results chan outcome
	done    chan struct{} // closed when the flusher has recorded everything

	mu      sync.Mutex
	lanes   map[int64]*lane
	limits  map[int64]int        // lane limits that grew or shrank from PerWebhook
	held    map[string]time.Time // stream ids this process holds until recorded → when read or last renewed
	room    *sync.Cond
	inUse   int // jobs held (running or waiting)
	waiting int // jobs in lane backlogs, all lanes

	cache    eventCache
	inflight sync.WaitGroup
	stopping atomic.Bool
}

func newWorkers(e *Engine) *workers {
	w := &workers{
		e:       e,
		sem:     make(chan struct{}, e.cfg.Workers),
		results: make(chan outcome, e.cfg.Workers*2),
		done:    make(chan struct{}),
		lanes:   map[int64]*lane{},
		limits:  map[int64]int{},
		held:    map[string]time.Time{},
	}
	w.room = sync.NewCond(&w.mu)
	w.cache = newEventCache(512)
	return w
}

// limit is how many jobs a process holds at most: every worker busy and as
// many again queued, so a batch read is always ready.
func (w *workers) limit() int { return w.e.cfg.Workers * 2 }

func (w *workers) run(ctx context.Context) {
	go w.flushLoop()
	go func() { // a reader waiting for room wakes up to stop
		<-ctx.Done()
		w.mu.Lock()
		w.wakeLocked()
		w.mu.Unlock()
	}()
	renew := make(chan struct{})
	go func() { defer close(renew); w.renewLoop(ctx) }()
	var fails int
	for ctx.Err() == nil {
		w.mu.Lock()
		for w.inUse >= w.limit() && ctx.Err() == nil {
			w.room.Wait()
		}
		room := w.limit() - w.inUse
		w.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
		res, err := w.e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: groupWorkers, Consumer: w.e.cfg.Consumer,
			Streams: []string{w.e.k.deliveries(), ">"}, Count: int64(min(room, w.e.cfg.BatchSize)), Block: w.e.cfg.Block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			fails = 0
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fails++
			w.e.trouble(ctx, "workers: read deliveries", err, fails)
			continue
		}
		if fails > 0 {
			// A read whose reply was lost left entries in our own pending
			// list: take them up now rather than after ClaimIdle.
			w.e.ownPending(ctx, w.e.k.deliveries(), groupWorkers, w.holds, func(msgs []redis.XMessage) { w.dispatch(ctx, msgs) })
		}
		fails = 0
		for _, s := range res {
			w.dispatch(ctx, s.Messages)
		}
	}
	// Shutdown: once the reclaimer no longer hands us jobs, waiting jobs go
	// back to the retry set due now (another process or a restart takes them
	// at once); running ones finish and are recorded.
	w.stopping.Store(true)
	if w.e.reclaimed != nil {
		<-w.e.reclaimed
	}
	w.mu.Lock()
	var waiting []*job
	for _, l := range w.lanes {
		waiting = append(waiting, l.backlog...)
		w.waiting -= len(l.backlog)
		l.backlog = nil
	}
	w.mu.Unlock()
	for _, j := range waiting {
		w.finish(outcome{kind: "snooze", job: j, due: w.e.now()}, false)
	}
	w.inflight.Wait()
	close(w.results)
	<-w.done
	<-renew
}

// wakeLocked is called with w.mu held by the reader's condition.
func (w *workers) wakeLocked() { w.room.Broadcast() }

// holds reports whether this process holds a stream entry (running, waiting
// or not yet recorded).
func (w *workers) holds(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.held[id]
	return ok
}

// dispatch loads the events of a batch (one round trip for those not cached,
// and the abort marks) and hands each job to its lane.
func (w *workers) dispatch(ctx context.Context, msgs []redis.XMessage) {
	e := w.e
	now := e.now()
	jobs := make([]*job, 0, len(msgs))
	// An entry this process still holds (reclaimed from ourselves after a
	// lapse of renewals) is not taken twice.
	fresh := msgs[:0:0]
	w.mu.Lock()
	for _, m := range msgs {
		if _, ok := w.held[m.ID]; ok {
			continue
		}
		w.held[m.ID] = time.Now()
		w.inUse++
		fresh = append(fresh, m)
	}
	w.mu.Unlock()
	msgs = fresh
	var bad []*job
	for _, m := range msgs {
		j := &job{sid: m.ID, abortRev: e.abortRev.Load()}
		raw, _ := m.Values["j"].(string)
		if err := json.Unmarshal([]byte(raw), &j.msg); err != nil || j.msg.D == "" {
			e.cfg.Logger.Error("engine: undecodable delivery entry dropped", "entry", m.ID)
			bad = append(bad, j)
			continue
		}
		jobs = append(jobs, j)
	}
	for _, j := range bad {
		w.finish(outcome{kind: "drop", job: j}, false)
	}
	if len(jobs) == 0 {
		return
	}
	// One pipeline: the events we lack, and every job's abort mark.
	var missing []string
	seen := map[string]bool{}
	for _, j := range jobs {
		if c := w.cache.get(j.msg.E); c != nil {
			j.stored = c
		} else if !seen[j.msg.E] {
			seen[j.msg.E] = true
			missing = append(missing, j.msg.E)
		}
	}
	keysToGet := make([]string, 0, len(missing)+len(jobs))
	for _, id := range missing {
		keysToGet = append(keysToGet, e.k.event(id))
	}
	for _, j := range jobs {
		keysToGet = append(keysToGet, e.k.abort(j.msg.D))
	}
	var vals []any
	for fails := 1; ; fails++ {
		var err error
		vals, err = e.rdb.MGet(context.WithoutCancel(ctx), keysToGet...).Result()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			// Leave them pending: the lease lapses and they are reclaimed.
			w.release(jobs)
			return
		}
		e.trouble(ctx, "workers: read events", err, fails)
	}
	for i, id := range missing {
		if s, _ := vals[i].(string); s != "" {
			w.cache.put(id, newCachedEvent(s))
		}
	}
	st := e.state.Load()
	for i, j := range jobs {
		if j.stored == nil {
			j.stored = w.cache.get(j.msg.E)
		}
		j.hook = st.hooks[j.msg.W]
		if j.stored != nil && j.hook != nil {
			j.ev, j.encoded, j.cache = j.stored.forJob(j)
		}
		aborted := vals[len(missing)+i] != nil
		switch {
		case j.hook == nil:
			w.finish(outcome{kind: "drop", job: j}, false)
		case aborted:
			w.finish(w.final(j, "aborted by an admin", now), false)
		case j.ev == nil:
			w.finish(w.final(j, "the event is no longer stored", now), false)
		case j.hook.w.Disabled:
			w.finish(w.final(j, "the webhook is disabled", now), false)
		default:
			w.admit(j)
		}
	}
}

// aborted reports whether an admin aborted a job's delivery (false when
// Redis cannot tell: the attempt goes ahead).
func (w *workers) aborted(j *job) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, err := w.e.rdb.Exists(ctx, w.e.k.abort(j.msg.D)).Result()
	return err == nil && n > 0
}

// release forgets jobs without recording anything (they stay pending).
func (w *workers) release(jobs []*job) {
	w.mu.Lock()
	for _, j := range jobs {
		delete(w.held, j.sid)
		w.inUse--
	}
	w.wakeLocked()
	w.mu.Unlock()
}

// admit starts a job in its lane, queues it there, or snoozes it when the
// lane's backlog is full.
func (w *workers) admit(j *job) {
	w.mu.Lock()
	l := w.lanes[j.msg.W]
	if l == nil {
		l = &lane{}
		w.lanes[j.msg.W] = l
	}
	switch {
	case l.running < w.limitOf(j.msg.W):
		l.running++
		w.mu.Unlock()
		w.start(j)
	case len(l.backlog) < max(w.e.cfg.Backlog, 4*w.limitOf(j.msg.W)) && w.waiting < w.e.cfg.Workers && !w.stopping.Load():
		// All backlogs together stay under half the reader's limit, so
		// lanes of slow receivers never leave it without room.
		j.waited = true
		l.backlog = append(l.backlog, j)
		w.waiting++
		w.mu.Unlock()
	default:
		w.mu.Unlock()
		w.finish(outcome{kind: "snooze", job: j, due: w.e.now().Add(time.Second)}, false)
	}
}

func (w *workers) start(j *job) {
	w.inflight.Add(1)
	go func() {
		defer w.inflight.Done()
		w.sem <- struct{}{}
		var o outcome
		switch {
		case w.stopping.Load():
			// Not begun before shutdown: back to the retry set, due now.
			o = outcome{kind: "snooze", job: j, due: w.e.now()}
		case j.waited && w.e.abortRev.Load() != j.abortRev && w.aborted(j):
			o = w.final(j, "aborted by an admin", w.e.now())
		default:
			o = w.attempt(j)
		}
		<-w.sem
		w.finish(o, true)
	}()
}

// finish hands an outcome to the flusher; for a job that ran, it frees the
// lane slot and starts the next waiting job of that webhook.
func (w *workers) finish(o outcome, ran bool) {
	w.results <- o
	w.mu.Lock()
	w.inUse--
	var next []*job
	if ran {
		w.adapt(o)
		l := w.lanes[o.job.msg.W]
		l.running--
		// Refill the lane up to its (perhaps grown) limit from its backlog.
		for len(l.backlog) > 0 && l.running < w.limitOf(o.job.msg.W) && !w.stopping.Load() {
			next = append(next, l.backlog[0])
			l.backlog = l.backlog[1:]
			l.running++
			w.waiting--
		}
		if l.running == 0 && len(l.backlog) == 0 {
			delete(w.lanes, o.job.msg.W)
		}
	}
	w.wakeLocked()
	w.mu.Unlock()
	for _, j := range next {
		w.start(j)
	}
}

// attempt runs one try and decides what follows.
func (w *workers) attempt(j *job) outcome {
	e := w.e
	d := &actions.Delivery{ID: j.msg.D, Attempt: j.msg.A + 1, Event: j.ev, Cache: j.cache, Encoded: j.encoded}
	if len(j.msg.X) > 0 {
		var data map[string]any
		if event.UnmarshalJSONNumber(j.msg.X, &data) == nil {
			d.Data = data
		}
	} else if j.hook.tmpl != nil {
		// A resend by hand, or a template added since routing: render it
		// now, from the stored event (its changes were derived when routed).
		env := rules.NewEnv(j.ev, j.ev.Previous, e.now())
		if data, err := rules.NewEvaluator().Render(j.hook.tmpl, env); err == nil {
			d.Data = data
		} else {
			e.ruleError(j.msg.W, "template", err)
		}
	}
	started := e.now()
	res := j.hook.action.Execute(context.Background(), d)
	e.cfg.Metrics.AttemptDuration.Observe(res.Duration.Seconds())
	attempts := j.msg.A + 1
	at := &Attempt{At: At(started), URL: res.URL, DurationMS: res.Duration.Milliseconds(),
		ResponseBody: res.Body}
	if res.StatusCode != 0 {
		sc := res.StatusCode
		at.StatusCode = &sc
	}
	if res.Err != nil {
		at.Error = res.Err.Error()
	}
	rec := &Delivery{ID: j.msg.D, EventID: j.msg.E, EventType: j.msg.T, WebhookID: j.msg.W,
		Attempts: attempts, CreatedAt: At(time.UnixMilli(j.msg.C)), LastAttempt: at}
	latest := &LatestRun{At: at.At, StatusCode: at.StatusCode, DurationMS: at.DurationMS, DeliveryID: j.msg.D}
	o := outcome{job: j, record: rec, latest: latest, res: res}
	wh := itoa64(j.msg.W)
	switch {
	case res.OK():
		o.kind, rec.Status, latest.Outcome = "ok", StatusSucceeded, StatusSucceeded
		e.cfg.Metrics.Deliveries.WithLabelValues(wh, StatusSucceeded).Inc()
		e.cfg.Metrics.DeliveryLatency.Observe(e.now().Sub(time.UnixMilli(j.msg.C)).Seconds())
	case res.Gone || j.msg.M || j.msg.A >= len(j.hook.schedule):
		o.kind, rec.Status, latest.Outcome = "fail", StatusFailed, StatusFailed
		o.gone = res.Gone
		e.cfg.Metrics.Deliveries.WithLabelValues(wh, StatusFailed).Inc()
	default:
		delay := jitter(j.hook.schedule[j.msg.A], e.cfg.Jitter)
		if res.RetryAfter > 0 {
			delay = res.RetryAfter
		}
		o.kind, rec.Status, latest.Outcome = "retry", StatusRetrying, StatusRetrying
		o.due = e.now().Add(delay)
		rec.NextAttemptAt = At(o.due)
		e.cfg.Metrics.Deliveries.WithLabelValues(wh, StatusRetrying).Inc()
	}
	return o
}

// final is a failed outcome without an attempt (aborted, disabled, expired).
func (w *workers) final(j *job, why string, now time.Time) outcome {
	rec := &Delivery{ID: j.msg.D, EventID: j.msg.E, EventType: j.msg.T, WebhookID: j.msg.W,
		Status: StatusFailed, Attempts: j.msg.A, CreatedAt: At(time.UnixMilli(j.msg.C)),
		LastAttempt: &Attempt{At: At(now), Error: why}}
	return outcome{kind: "fail", job: j, record: rec, aborted: true}
}

func jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 {
		return d
	}
	return d + time.Duration((rand.Float64()*2-1)*f*float64(d))
}

// flushLoop records outcomes in batches: it takes what is ready, up to a
// batch, and writes it in one script call, so the cost per delivery falls as
// the load rises while a lone delivery is recorded at once.
func (w *workers) flushLoop() {
	defer close(w.done)
	batch := make([]outcome, 0, w.e.cfg.BatchSize)
	for o := range w.results {
		batch = append(batch[:0], o)
	more:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-w.results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		w.record(batch)
	}
}

// record writes a batch of outcomes, retrying while Redis is away, then acts
// on what the script reported (recovered, failing for too long, gone).
func (w *workers) record(batch []outcome) {
	e := w.e
	now := e.now()
	ks := make([]string, 7, 7+3*len(batch))
	copy(ks, []string{e.k.deliveries(), e.k.retry(), e.k.retry() + ":msg", e.k.qlen(), e.k.rlen(), e.k.latest(), e.k.health()})
	args := make([]any, 5, 5+9*len(batch))
	args[0], args[1], args[2], args[3], args[4] = groupWorkers, len(batch), int(e.cfg.RecordTTL/time.Second), e.cfg.LogCap-1, now.UnixMilli()
	for _, o := range batch {
		m := o.job.msg
		ctr := "q"
		if m.A > 0 {
			ctr = "r"
		}
		var rec, latest, mb []byte
		if o.record != nil {
			rec, _ = gojson.Marshal(o.record)
		}
		if o.latest != nil {
			latest, _ = gojson.Marshal(o.latest)
		}
		due := int64(0)
		switch o.kind {
		case "retry":
			m.A++
			fallthrough
		case "snooze":
			mb, _ = gojson.Marshal(m)
			due = o.due.UnixMilli()
		}
		ks = append(ks, e.k.delivery(m.D), e.k.successLog(m.W), e.k.failedLog(m.W))
		args = append(args, o.kind, o.job.sid, m.W, ctr, rec, latest, m.D, mb, due)
	}
	var res []int64
	for fails := 1; ; fails++ {
		var err error
		res, err = completeScript.Run(context.Background(), e.rdb, ks, args...).Int64Slice()
		if err == nil {
			break
		}
		if w.stopping.Load() && fails >= 20 {
			// Shutting down with Redis away: the entries stay unacknowledged
			// and another process, or this one restarted, takes them over.
			e.cfg.Logger.Warn("engine: outcomes not recorded at shutdown; their deliveries will be taken over", "count", len(batch), "err", err)
			res = nil
			break
		}
		e.trouble(context.Background(), "workers: record outcomes", err, fails)
	}
	w.mu.Lock()
	for _, o := range batch {
		if o.job.sid != "" {
			delete(w.held, o.job.sid)
		}
	}
	w.mu.Unlock()
	for i, o := range batch {
		if i >= len(res) || res[i] < 0 {
			continue
		}
		w.after(o, res[i], now)
	}
}

// after emits the engine's events and disables webhooks as the outcome asks.
func (w *workers) after(o outcome, r int64, now time.Time) {
	e := w.e
	if o.kind == "ok" && r == 1 {
		e.emit(event.WebhookRecovered, o.job.hook, "", o.record)
	}
	if o.kind == "fail" && !o.aborted && o.job.hook != nil {
		e.cfg.Logger.Warn("engine: delivery failed for good", "webhook", o.job.msg.W, "delivery", o.job.msg.D,
			"attempts", o.record.Attempts, "error", o.record.LastAttempt.Error)
		if !o.job.msg.M && !o.gone { // a 410 says WEBHOOK_DISABLED instead
			e.emit(event.DeliveryFailed, o.job.hook, "", o.record)
		}
	}
	if o.gone {
		go e.gone(o.job.hook)
		return
	}
	if (o.kind == "fail" || o.kind == "retry") && !o.aborted && r > 0 && o.job.hook != nil &&
		now.Sub(time.UnixMilli(r)) >= e.cfg.DisableAfter {
		go e.disable(o.job.hook.w.ID, "deliveries have failed for "+e.cfg.DisableAfter.String()+" without a success")
	}
}

// renewLoop keeps the leases of held entries fresh (XCLAIM to ourselves), so
// a reclaimer elsewhere never takes what this process is still working on.
func (w *workers) renewLoop(ctx context.Context) {
	every := w.e.cfg.ClaimIdle / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now() // leases are Redis idle times: wall clock, not Config.Now
		var ids []string
		w.mu.Lock()
		for id, since := range w.held {
			if now.Sub(since) >= every {
				ids = append(ids, id)
				w.held[id] = now
			}
		}
		w.mu.Unlock()
		for len(ids) > 0 {
			n := min(len(ids), 500)
			w.e.rdb.XClaimJustID(context.Background(), &redis.XClaimArgs{Stream: w.e.k.deliveries(), Group: groupWorkers,
				Consumer: w.e.cfg.Consumer, Messages: ids[:n]})
			ids = ids[n:]
		}
	}
}

// cachedEvent is a stored event as its deliveries share it: the default
// json body the router encoded once, and the event itself, decoded only when
// a delivery needs more than that body.
type cachedEvent struct {
	raw     string // the event's JSON
	encoded []byte // its default json body; nil in entries written without one
	once    sync.Once
	ev      *event.Event
	cache   *actions.PayloadCache
}

// newCachedEvent reads a stored event: the default json body, a newline,
// the event's JSON (compact JSON holds no raw newline).
func newCachedEvent(s string) *cachedEvent {
	c := &cachedEvent{raw: s, cache: actions.NewPayloadCache()}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		c.encoded, c.raw = []byte(s[:i]), s[i+1:]
	}
	return c
}

// event decodes the event once; nil when it does not decode.
func (c *cachedEvent) event() *event.Event {
	c.once.Do(func() {
		var ev event.Event
		if event.UnmarshalJSONNumber([]byte(c.raw), &ev) == nil {
			c.ev = &ev
		}
	})
	return c.ev
}

// forJob returns what a job's action needs: for a webhook that sends the
// default json body (and no template result), that body and the event's id
// and type only; else the decoded event.
func (c *cachedEvent) forJob(j *job) (*event.Event, []byte, *actions.PayloadCache) {
	if db, ok := j.hook.action.(actions.DefaultBody); ok && db.SendsDefaultJSON() && c.encoded != nil &&
		len(j.msg.X) == 0 && j.hook.tmpl == nil {
		return &event.Event{ID: j.msg.E, Type: j.msg.T}, c.encoded, nil
	}
	return c.event(), nil, c.cache
}

// eventCache keeps recent events in two generations: lookups see both, and
// when the young one fills up the old one is dropped.
type eventCache struct {
	mu       sync.Mutex
	size     int
	cur, old map[string]*cachedEvent
}

func newEventCache(size int) eventCache {
	return eventCache{size: size, cur: map[string]*cachedEvent{}, old: map[string]*cachedEvent{}}
}

func (c *eventCache) get(id string) *cachedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[id]; ok {
		return v
	}
	if v, ok := c.old[id]; ok {
		c.cur[id] = v
		return v
	}
	return nil
}

func (c *eventCache) put(id string, v *cachedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= c.size {
		c.old, c.cur = c.cur, make(map[string]*cachedEvent, c.size)
	}
	c.cur[id] = v
}
