package engine

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/assethooks/assethooks/actions"
)

func itoa64(i int64) string { return strconv.FormatInt(i, 10) }

// asInt64 reads an integer from a decoded JSON value (json.Number, float64, int64).
func asInt64(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		i, _ := x.Int64()
		return i
	case float64:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	case string:
		i, _ := strconv.ParseInt(x, 10, 64)
		return i
	}
	return -1
}

// cloneConfig copies a webhook config deeply enough that sealing the copy
// leaves the original's secrets in clear.
func cloneConfig(c actions.WebhookConfig) actions.WebhookConfig {
	c.Headers = append([]actions.Header(nil), c.Headers...)
	c.RedundantURLs = append([]string(nil), c.RedundantURLs...)
	c.Body.Fields = append([]string(nil), c.Body.Fields...)
	return c
}

// every runs f each period until ctx ends (the first run after one period).
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
