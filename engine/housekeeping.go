package engine

import (
	"context"
	"time"
)

// Housekeeping jobs are named periodic jobs that run on the schedules'
// cron runner, once per tick across every process sharing one Redis: a
// job's ticks are anchored to the clock (every), and the process that takes
// a tick's key (scheduleStore.claimTick, "housekeeping:<name>") runs it.
// A tick missed while every process was down is not replayed.

// housekeeping is one named periodic job.
type housekeeping struct {
	name  string
	every time.Duration
	run   func(ctx context.Context) error
}

// housekeeping lists the engine's periodic jobs. Stored records expire by
// themselves (TTLs); what needs a hand is listed here:
//
//   - delivery-index: every webhook's delivery index (a sorted set, capped
//     at Config.IndexCap) drops the entries older than Config.RecordTTL,
//     whose delivery records have expired, so a quiet webhook's index does
//     not keep ids that lead nowhere.
//
// Event storage trims itself to Config.EventRetention the same way.
func (e *Engine) housekeeping() []housekeeping {
	return []housekeeping{
		{name: "delivery-index", every: time.Hour, run: func(ctx context.Context) error {
			n, err := e.st.TrimDeliveryIndexes(ctx, e.now().Add(-e.cfg.RecordTTL))
			if n > 0 {
				e.cfg.Logger.Info("engine: housekeeping trimmed delivery indexes", "entries", n)
			}
			return err
		}},
	}
}

// housekeep runs the tick of hk that is due now, if this process takes it.
func (s *scheduler) housekeep(ctx context.Context, hk housekeeping) {
	at, ok := lastTick(everySchedule{hk.every}, time.Now())
	if !ok {
		return
	}
	if _, err := s.e.RunHousekeeping(ctx, hk.name, at); err != nil && ctx.Err() == nil {
		s.log.Warn("engine: housekeeping failed", "job", hk.name, "err", err)
	}
}

// RunHousekeeping runs the tick at of the named housekeeping job unless a
// process sharing the Redis took that tick already; it reports whether it
// ran. ErrNotFound names no job.
func (e *Engine) RunHousekeeping(ctx context.Context, name string, at time.Time) (bool, error) {
	for _, hk := range e.housekeeping() {
		if hk.name != name {
			continue
		}
		ok, err := e.st.ClaimTick(ctx, "housekeeping:"+name, at, e.cfg.Consumer)
		if err != nil || !ok {
			return false, err
		}
		return true, hk.run(ctx)
	}
	return false, ErrNotFound
}
