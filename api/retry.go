package api

import (
	"strings"
	"time"

	"github.com/assethooks/assethooks/engine"
)

// DefaultRetrySchedule is engine.DefaultRetrySchedule as a webhook's view
// shows it when the webhook gives no retry_schedule of its own: Go duration
// strings without zero units ("5s", "5m", "30m", "2h", … "24h").
func DefaultRetrySchedule() []string {
	out := make([]string, len(engine.DefaultRetrySchedule))
	for i, d := range engine.DefaultRetrySchedule {
		out[i] = FormatDelay(d)
	}
	return out
}

// FormatDelay writes d as a Go duration that time.ParseDuration reads back,
// without the zero units Duration.String adds: "5m" for 5m0s, "2h" for
// 2h0m0s, "1h30m" for 1h30m0s; "90s" stays "1m30s".
func FormatDelay(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
