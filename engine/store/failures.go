package store

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// lastFailure is when a store call of this process last failed to reach
// Redis, or was told the cluster is down (unix ms): unavailable notes it
// for every call, the readers' polls of one partition among many
// included, so that the take-over can wait until every process has had
// the chance to renew what it holds (see LastFailure).
var lastFailure atomic.Int64

// noteFailure notes err unless it is an answer of a working Redis (a
// script's error, NOGROUP, a missing key) or a cancelled call.
func noteFailure(err error) {
	if err == nil || err == redis.Nil || errors.Is(err, context.Canceled) {
		return
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !strings.HasPrefix(err.Error(), "CLUSTERDOWN") && !strings.HasPrefix(err.Error(), "TRYAGAIN") {
		return
	}
	lastFailure.Store(time.Now().UnixMilli())
}

// LastFailure is when a store call of this process last failed to reach
// Redis (or a cluster said it was down); zero when none did. It is the
// process's, whichever store made the call.
func (s *Store) LastFailure() time.Time {
	if ms := lastFailure.Load(); ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}
