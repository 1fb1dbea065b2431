package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assethooks/assethooks/actions"
	"github.com/assethooks/assethooks/internal/problem"
	"github.com/assethooks/assethooks/rules"
)

// ErrNotFound is returned for an unknown webhook, project or delivery.
var ErrNotFound = errors.New("engine: not found")

// compileProblem turns a rules compile error into a 422 naming field, with
// the line and column.
func compileProblem(field string, err error) error {
	var ce *rules.CompileError
	if errors.As(err, &ce) {
		return &problem.Error{Status: http.StatusUnprocessableEntity, Field: field,
			Msg:   fmt.Sprintf("Invalid parameter '%s': %s (line %d, column %d)", field, ce.Msg, ce.Line, ce.Column),
			Extra: map[string]any{"line": ce.Line, "column": ce.Column}}
	}
	return err
}

// ParseSchedule reads a retry_schedule: Go durations, at most 20, each
// positive and at most 48 hours.
func ParseSchedule(s []string) ([]time.Duration, error) {
	if len(s) > 20 {
		return nil, problem.Invalid("retry_schedule", nil, "At most 20 entries")
	}
	out := make([]time.Duration, len(s))
	for i, v := range s {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 48*time.Hour {
			return nil, problem.Invalid("retry_schedule["+strconv.Itoa(i)+"]", v, "Must be a positive duration of at most 48h")
		}
		out[i] = d
	}
	return out, nil
}

// Check compiles a webhook as the engine would run it, so that a bad
// condition, template or schedule is refused before anything is stored.
func (e *Engine) Check(w *Webhook) error {
	_, err := e.compile(w)
	return err
}

// CreateWebhook stores a new webhook (secrets sealed), giving it an id and
// timestamps, and returns it with secrets open.
func (e *Engine) CreateWebhook(ctx context.Context, w *Webhook) error {
	if err := e.Check(w); err != nil {
		return err
	}
	id, err := e.rdb.Incr(ctx, e.k.webhookSeq()).Result()
	if err != nil {
		return unavailable(err)
	}
	now := At(e.now())
	w.ID, w.CreatedAt, w.UpdatedAt = id, now, now
	return e.save(ctx, w)
}

// UpdateWebhook replaces a stored webhook, keeping its id, kind, owner and
// creation time.
func (e *Engine) UpdateWebhook(ctx context.Context, w *Webhook) error {
	old, err := e.GetWebhook(ctx, w.ID)
	if err != nil {
		return err
	}
	if err := e.Check(w); err != nil {
		return err
	}
	w.CreatedAt, w.Kind, w.Owner = old.CreatedAt, old.Kind, old.Owner
	w.UpdatedAt = At(e.now())
	return e.save(ctx, w)
}

func (e *Engine) save(ctx context.Context, w *Webhook) error {
	sealed := *w
	sealed.WebhookConfig = cloneConfig(w.WebhookConfig)
	if err := sealed.Seal(e.cfg.Box); err != nil {
		return err
	}
	b, err := json.Marshal(&sealed)
	if err != nil {
		return err
	}
	if err := e.rdb.HSet(ctx, e.k.webhooks(), itoa64(w.ID), b).Err(); err != nil {
		return unavailable(err)
	}
	return e.bump(ctx)
}

// GetWebhook returns a stored webhook with its secrets open.
func (e *Engine) GetWebhook(ctx context.Context, id int64) (*Webhook, error) {
	raw, err := e.rdb.HGet(ctx, e.k.webhooks(), itoa64(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return e.decodeWebhook(raw)
}

func (e *Engine) decodeWebhook(raw []byte) (*Webhook, error) {
	var w Webhook
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("engine: stored webhook: %w", err)
	}
	if err := w.Open(e.cfg.Box); err != nil {
		return nil, fmt.Errorf("engine: open webhook %d secrets: %w", w.ID, err)
	}
	return &w, nil
}

// ListWebhooks returns every stored webhook of a kind, by ascending id.
func (e *Engine) ListWebhooks(ctx context.Context, kind string) ([]*Webhook, error) {
	all, err := e.rdb.HGetAll(ctx, e.k.webhooks()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]*Webhook, 0, len(all))
	for _, raw := range all {
		w, err := e.decodeWebhook([]byte(raw))
		if err != nil {
			return nil, err
		}
		if w.Kind == kind {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteWebhook removes a webhook and its logs; its queued deliveries are
// dropped when they come up.
func (e *Engine) DeleteWebhook(ctx context.Context, id int64) error {
	n, err := e.rdb.HDel(ctx, e.k.webhooks(), itoa64(id)).Result()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	e.rdb.Del(ctx, e.k.successLog(id), e.k.failedLog(id), e.k.index(id))
	e.rdb.HDel(ctx, e.k.latest(), itoa64(id))
	e.rdb.HDel(ctx, e.k.health(), itoa64(id))
	return e.bump(ctx)
}

// RotateSecret gives a webhook a new signing secret (generated when empty);
// the previous one keeps signing beside it for 24 hours.
func (e *Engine) RotateSecret(ctx context.Context, id int64, secret string) (*Webhook, error) {
	w, err := e.GetWebhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if secret == "" {
		secret = actions.GenerateSecret()
	}
	w.Rotate(secret, e.now())
	w.UpdatedAt = At(e.now())
	if err := e.save(ctx, w); err != nil {
		return nil, err
	}
	return w, nil
}

// Stats returns the live figures of webhooks, in one round trip.
func (e *Engine) Stats(ctx context.Context, ids []int64) (map[int64]Stats, error) {
	out := make(map[int64]Stats, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = itoa64(id)
	}
	pipe := e.rdb.Pipeline()
	q := pipe.HMGet(ctx, e.k.qlen(), fields...)
	r := pipe.HMGet(ctx, e.k.rlen(), fields...)
	l := pipe.HMGet(ctx, e.k.latest(), fields...)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	for i, id := range ids {
		s := Stats{QueueLength: max(num(q.Val()[i]), 0), RetryQueueLength: max(num(r.Val()[i]), 0)}
		if raw, ok := l.Val()[i].(string); ok {
			var lr LatestRun
			if json.Unmarshal([]byte(raw), &lr) == nil {
				s.LatestRun = &lr
			}
		}
		out[id] = s
	}
	return out, nil
}

func num(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Log returns a webhook's success or failed log, newest first.
func (e *Engine) Log(ctx context.Context, id int64, failed bool, limit int) ([]Delivery, error) {
	key := e.k.successLog(id)
	if failed {
		key = e.k.failedLog(id)
	}
	raws, err := e.rdb.LRange(ctx, key, 0, int64(limit-1)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Delivery, 0, len(raws))
	for _, raw := range raws {
		var d Delivery
		if json.Unmarshal([]byte(raw), &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Deliveries lists a webhook's deliveries newest first, optionally only
// those in one status, up to limit, starting below the delivery before.
func (e *Engine) Deliveries(ctx context.Context, id int64, status string, limit int, before string) ([]Delivery, error) {
	// Paging goes by rank, not by score: many deliveries share a creation
	// millisecond, and an exclusive score bound would skip them.
	var offset int64
	if before != "" {
		r, err := e.rdb.ZRevRank(ctx, e.k.index(id), before).Result()
		if errors.Is(err, redis.Nil) {
			return nil, problem.Invalid("before", before, "Unknown delivery id")
		}
		if err != nil {
			return nil, unavailable(err)
		}
		offset = r + 1
	}
	out := make([]Delivery, 0, limit)
	for scanned := 0; len(out) < limit && scanned < 20000; {
		ids, err := e.rdb.ZRevRange(ctx, e.k.index(id), offset, offset+499).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		if len(ids) == 0 {
			break
		}
		offset += int64(len(ids))
		scanned += len(ids)
		ks := make([]string, len(ids))
		for i, d := range ids {
			ks[i] = e.k.delivery(d)
		}
		vals, err := e.rdb.MGet(ctx, ks...).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		for _, v := range vals {
			s, _ := v.(string)
			var d Delivery
			if s == "" || json.Unmarshal([]byte(s), &d) != nil {
				continue
			}
			if status == "" || d.Status == status {
				out = append(out, d)
				if len(out) == limit {
					break
				}
			}
		}
	}
	return out, nil
}

// GetDelivery returns one delivery record of a webhook.
func (e *Engine) GetDelivery(ctx context.Context, webhookID int64, id string) (*Delivery, error) {
	raw, err := e.rdb.Get(ctx, e.k.delivery(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, unavailable(err)
	}
	var d Delivery
	if err := json.Unmarshal(raw, &d); err != nil || d.WebhookID != webhookID {
		return nil, ErrNotFound
	}
	return &d, nil
}

// RetryDelivery sends a delivery again now: a waiting retry is brought
// forward; a finished (succeeded or failed) delivery gets one more attempt.
func (e *Engine) RetryDelivery(ctx context.Context, webhookID int64, id string) (*Delivery, error) {
	d, err := e.GetDelivery(ctx, webhookID, id)
	if err != nil {
		return nil, err
	}
	now := e.now()
	switch d.Status {
	case StatusRetrying:
		n, err := e.rdb.ZAddXX(ctx, e.k.retry(), redis.Z{Score: float64(now.UnixMilli()), Member: id}).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		_ = n // when absent it is being attempted right now
		d.NextAttemptAt = At(now)
		return d, nil
	case StatusPending:
		return d, nil // its first attempt is already on its way
	}
	if n, err := e.rdb.Exists(ctx, e.k.event(d.EventID)).Result(); err != nil {
		return nil, unavailable(err)
	} else if n == 0 {
		return nil, problem.New(http.StatusConflict, "the event of delivery %s is no longer stored", id)
	}
	m := message{D: d.ID, W: webhookID, E: d.EventID, T: d.EventType, A: max(d.Attempts, 1), C: d.CreatedAt.UnixMilli(), M: true}
	mb, _ := json.Marshal(m)
	d.Status, d.NextAttemptAt = StatusRetrying, At(now)
	rec, _ := json.Marshal(d)
	_, err = e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, e.k.abort(id))
		p.XAdd(ctx, &redis.XAddArgs{Stream: e.k.deliveries(), Values: []any{"j", mb}})
		p.HIncrBy(ctx, e.k.rlen(), itoa64(webhookID), 1)
		p.Set(ctx, e.k.delivery(id), rec, e.cfg.RecordTTL)
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return d, nil
}

// AbortDelivery stops a delivery that has not finished: it is marked failed
// (aborted) and not tried again.
func (e *Engine) AbortDelivery(ctx context.Context, webhookID int64, id string) (*Delivery, error) {
	d, err := e.GetDelivery(ctx, webhookID, id)
	if err != nil {
		return nil, err
	}
	if d.Status == StatusSucceeded || d.Status == StatusFailed {
		return nil, problem.New(http.StatusConflict, "delivery %s has already %s", id, d.Status)
	}
	now := e.now()
	m, err := abortScript.Run(ctx, e.rdb, []string{e.k.retry(), e.k.retry() + ":msg", e.k.rlen(), e.k.qlen()},
		id, webhookID).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	_ = m
	d.Status = StatusFailed
	d.NextAttemptAt = Time{}
	d.LastAttempt = &Attempt{At: At(now), Error: "aborted by an admin"}
	rec, _ := json.Marshal(d)
	if errors.Is(err, redis.Nil) {
		// Not in the retry set: it is in the stream; the worker fails it.
		var n *redis.IntCmd
		if _, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, e.k.abort(id), "1", e.cfg.RecordTTL)
			n = p.Incr(ctx, e.k.aborts())
			return nil
		}); err != nil {
			return nil, unavailable(err)
		}
		e.abortRev.Store(n.Val())
		return d, nil
	}
	_, err = e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, e.k.delivery(id), rec, e.cfg.RecordTTL)
		p.LPush(ctx, e.k.failedLog(webhookID), rec)
		p.LTrim(ctx, e.k.failedLog(webhookID), 0, int64(e.cfg.LogCap-1))
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return d, nil
}

// CreateProject stores a project under the given id (a new one when empty)
// and returns it; an id already taken is a 409.
func (e *Engine) CreateProject(ctx context.Context, id, name string) (*Project, error) {
	if id == "" {
		id = "prj_" + NewEventID(e.now())[4:]
	}
	p := &Project{ID: id, Name: name, CreatedAt: At(e.now())}
	b, _ := json.Marshal(p)
	ok, err := e.rdb.HSetNX(ctx, e.k.projects(), p.ID, b).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if !ok {
		return nil, problem.New(http.StatusConflict, "project %s exists already", id)
	}
	return p, nil
}

// Projects lists the projects by creation time.
func (e *Engine) Projects(ctx context.Context) ([]Project, error) {
	all, err := e.rdb.HGetAll(ctx, e.k.projects()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Project, 0, len(all))
	for _, raw := range all {
		var p Project
		if json.Unmarshal([]byte(raw), &p) == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt.Time) })
	return out, nil
}

// ProjectExists reports whether a project id is known.
func (e *Engine) ProjectExists(ctx context.Context, id string) (bool, error) {
	ok, err := e.rdb.HExists(ctx, e.k.projects(), id).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return ok, nil
}

// Ping reports whether Redis answers within a second.
func (e *Engine) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return e.rdb.Ping(ctx).Err()
}
