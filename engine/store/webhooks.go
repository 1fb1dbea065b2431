package store

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// NextWebhookID returns a new webhook id (1, 2, …).
func (s *Store) NextWebhookID(ctx context.Context) (int64, error) {
	id, err := s.rdb.Incr(ctx, s.k.webhookSeq()).Result()
	return id, unavailable(err)
}

// PutWebhook stores a webhook's document and moves the revision, in one
// MULTI.
func (s *Store) PutWebhook(ctx context.Context, id int64, doc []byte) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.k.webhooks(), itoa(id), doc)
		p.Incr(ctx, s.k.rev())
		return nil
	})
	return unavailable(err)
}

// Webhook returns a webhook's document, or ErrNotFound.
func (s *Store) Webhook(ctx context.Context, id int64) ([]byte, error) {
	b, err := s.rdb.HGet(ctx, s.k.webhooks(), itoa(id)).Bytes()
	if err == redis.Nil {
		return nil, ErrNotFound
	}
	return b, unavailable(err)
}

// Webhooks returns every webhook's document by id.
func (s *Store) Webhooks(ctx context.Context) (map[int64][]byte, error) {
	all, err := s.rdb.HGetAll(ctx, s.k.webhooks()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make(map[int64][]byte, len(all))
	for k, v := range all {
		id, err := strconv.ParseInt(k, 10, 64)
		if err == nil {
			out[id] = []byte(v)
		}
	}
	return out, nil
}

// DeleteWebhook removes a webhook with its records, index, logs and
// figures, and moves the revision; ErrNotFound when it did not exist. Its
// queued deliveries are dropped when they come up.
func (s *Store) DeleteWebhook(ctx context.Context, id int64) error {
	n, err := s.rdb.HDel(ctx, s.k.webhooks(), itoa(id)).Result()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	w := itoa(id)
	err = s.txEach(ctx, func(p redis.Pipeliner, k keys) {
		p.Del(ctx, k.records(id), k.index(id), k.failedLog(id))
		p.HDel(ctx, k.latest(), w)
		p.HDel(ctx, k.qlen(), w)
		p.HDel(ctx, k.rlen(), w)
		p.HDel(ctx, k.ruleErrors(), w, w+":last")
	})
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, s.k.health(), w)
		p.Incr(ctx, s.k.rev())
		return nil
	})
	return unavailable(err)
}

// Figures are a webhook's live figures as stored.
type Figures struct {
	Queued, Retrying int64
	Latest           []byte // the latest run's JSON, nil for none
	RuleErrors       RuleErrors
}

// Figures returns the live figures of webhooks in one pipeline: the
// counters summed over the partitions, the newest latest run and rule
// error of any.
func (s *Store) Figures(ctx context.Context, ids []int64) (map[int64]Figures, error) {
	out := make(map[int64]Figures, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	fields := make([]string, len(ids))
	errFields := make([]string, 0, 2*len(ids))
	for i, id := range ids {
		fields[i] = itoa(id)
		errFields = append(errFields, fields[i], fields[i]+":last")
	}
	type cmds struct{ q, r, l, re *redis.SliceCmd }
	pipe := s.rdb.Pipeline()
	all := make([]cmds, len(s.parts))
	for i, k := range s.parts {
		all[i] = cmds{pipe.HMGet(ctx, k.qlen(), fields...), pipe.HMGet(ctx, k.rlen(), fields...),
			pipe.HMGet(ctx, k.latest(), fields...), pipe.HMGet(ctx, k.ruleErrors(), errFields...)}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, unavailable(err)
	}
	for i, id := range ids {
		var f Figures
		for _, c := range all {
			f.Queued += num(c.q.Val()[i])
			f.Retrying += num(c.r.Val()[i])
			if l, ok := c.l.Val()[i].(string); ok && (f.Latest == nil || atOf(l) > atOf(string(f.Latest))) {
				f.Latest = []byte(l)
			}
			f.RuleErrors.Count += num(c.re.Val()[2*i])
			if l, ok := c.re.Val()[2*i+1].(string); ok && (f.RuleErrors.Last == nil || atOf(l) > atOf(string(f.RuleErrors.Last))) {
				f.RuleErrors.Last = []byte(l)
			}
		}
		f.Queued, f.Retrying = max(f.Queued, 0), max(f.Retrying, 0)
		out[id] = f
	}
	return out, nil
}

// atOf is the "at" time of a JSON document (a latest run, a rule error),
// in the engine's fixed-width UTC format, so that times compare as
// strings; "" when it has none.
func atOf(doc string) string {
	i := strings.Index(doc, `"at":"`)
	if i < 0 {
		return ""
	}
	rest := doc[i+6:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

// ClearHealth forgets a webhook's failure clock (it was disabled, or
// enabled again).
func (s *Store) ClearHealth(ctx context.Context, id int64) error {
	return unavailable(s.rdb.HDel(ctx, s.k.health(), itoa(id)).Err())
}
