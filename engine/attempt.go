package engine

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/engine/store"
	"github.com/assethooks/assethooks/event"
	"github.com/assethooks/assethooks/rules"
)

// outcome is what happened to a job, to be recorded.
type outcome struct {
	kind    store.Kind
	job     *job
	record  *Delivery
	latest  *LatestRun
	due     time.Time
	res     actions.Result
	gone    bool
	aborted bool
}

// attempt runs one try and decides what follows: success, a retry after
// the webhook's schedule (or the receiver's Retry-After), or failure for
// good when the schedule is spent, the try was a resend by hand, or the
// receiver answered 410.
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
	at := &Attempt{At: At(started), URL: res.URL, DurationMS: res.Duration.Milliseconds(), ResponseBody: res.Body}
	if res.StatusCode != 0 {
		sc := res.StatusCode
		at.StatusCode = &sc
	}
	if res.Err != nil {
		at.Error = res.Err.Error()
	}
	rec := &Delivery{ID: j.msg.D, EventID: j.msg.E, EventType: j.msg.T, WebhookID: j.msg.W,
		Attempts: j.msg.A + 1, CreatedAt: At(time.UnixMilli(j.msg.C)), LastAttempt: at}
	latest := &LatestRun{At: at.At, StatusCode: at.StatusCode, DurationMS: at.DurationMS, DeliveryID: j.msg.D}
	o := outcome{job: j, record: rec, latest: latest, res: res}
	wh := itoa64(j.msg.W)
	switch {
	case res.OK():
		o.kind, rec.Status, latest.Outcome = store.OK, StatusSucceeded, StatusSucceeded
		e.cfg.Metrics.Deliveries.WithLabelValues(wh, StatusSucceeded).Inc()
		e.cfg.Metrics.DeliveryLatency.Observe(e.now().Sub(time.UnixMilli(j.msg.C)).Seconds())
	case res.Gone || j.msg.M || j.msg.A >= len(j.hook.schedule):
		o.kind, rec.Status, latest.Outcome = store.Fail, StatusFailed, StatusFailed
		o.gone = res.Gone
		e.cfg.Metrics.Deliveries.WithLabelValues(wh, StatusFailed).Inc()
	default:
		delay := jitter(j.hook.schedule[j.msg.A], e.cfg.Jitter)
		if res.RetryAfter > 0 {
			delay = res.RetryAfter
		}
		o.kind, rec.Status, latest.Outcome = store.Retry, StatusRetrying, StatusRetrying
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
	return outcome{kind: store.Fail, job: j, record: rec, aborted: true}
}

func jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 {
		return d
	}
	return d + time.Duration((rand.Float64()*2-1)*f*float64(d))
}
