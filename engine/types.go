package engine

import (
	"encoding/json"
	"time"

	"github.com/assethooks/assethooks/actions"
)

// Time is a UTC instant that marshals with millisecond precision, as
// "2023-11-27T09:42:39.937Z" (Media Pocket's format).
type Time struct{ time.Time }

// TimeFormat is the layout of every time the API answers with.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// At wraps t as a Time.
func At(t time.Time) Time { return Time{t.UTC()} }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(TimeFormat)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeFormat)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := time.Parse(time.RFC3339Nano, s)
	t.Time = p.UTC()
	return err
}

// Webhook kinds.
const (
	KindWebhook = ""     // configured by an admin
	KindHook    = "hook" // a Zapier-style REST-hook subscription
)

// Webhook is a stored webhook: the rule that selects its events and the
// configuration of its action. Secrets in Config are sealed at rest.
type Webhook struct {
	ID             int64    `json:"id"`
	Name           string   `json:"name"`
	Kind           string   `json:"kind,omitempty"`
	Owner          string   `json:"owner,omitempty"`
	ProjectID      string   `json:"project_id"`
	Triggers       []string `json:"trigger_events"`
	Disabled       bool     `json:"disabled"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
	Condition      string   `json:"condition,omitempty"`
	Folder         string   `json:"folder,omitempty"`
	Users          []string `json:"webhook_users"`
	RetrySchedule  []string `json:"retry_schedule,omitempty"`
	// RateLimit caps the webhook's attempts per second, across every
	// process on one Redis (1 to MaxRateLimit); nil is no limit.
	RateLimit *int `json:"rate_limit,omitempty"`
	// Action names the action type (Config.Registry) that runs the
	// configuration; "webhook" when empty.
	Action string `json:"action,omitempty"`
	actions.WebhookConfig
	CreatedAt Time `json:"created_at"`
	UpdatedAt Time `json:"updated_at"`
}

// Project is a scope for webhooks and events (project_id).
type Project struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt Time   `json:"created_at"`
}

// Delivery states.
const (
	StatusPending   = "pending"
	StatusRetrying  = "retrying"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Delivery is one event for one webhook, in the shape the API answers with.
type Delivery struct {
	ID            string   `json:"id"`
	EventID       string   `json:"event_id"`
	EventType     string   `json:"event_type"`
	WebhookID     int64    `json:"webhook_id"`
	Status        string   `json:"status"`
	Attempts      int      `json:"attempts"`
	NextAttemptAt Time     `json:"next_attempt_at"`
	CreatedAt     Time     `json:"created_at"`
	LastAttempt   *Attempt `json:"last_attempt"`
	// part is the storage partition its record and event are in (that of
	// its event), when it was read from the store.
	part int
}

// Attempt is what one try of a delivery found.
type Attempt struct {
	At           Time   `json:"at"`
	URL          string `json:"url"`
	StatusCode   *int   `json:"status_code"`
	DurationMS   int64  `json:"duration_ms"`
	Error        string `json:"error"`
	ResponseBody string `json:"response_body"`
}

// LatestRun is a webhook's latest attempt, as latest_run.
type LatestRun struct {
	At         Time   `json:"at"`
	StatusCode *int   `json:"status_code"`
	Outcome    string `json:"outcome"`
	DurationMS int64  `json:"duration_ms"`
	DeliveryID string `json:"delivery_id,omitempty"`
}

// Stats are the live figures of one webhook.
type Stats struct {
	QueueLength      int64      `json:"queue_length"`
	RetryQueueLength int64      `json:"retry_queue_length"`
	LatestRun        *LatestRun `json:"latest_run"`
	RuleErrors       RuleErrors `json:"rule_errors"`
}

// message is a delivery as it travels through the deliveries stream and the
// retry set. Field order matters to abortScript ("a" before "c").
type message struct {
	D string          `json:"d"`           // delivery id (webhook-id)
	W int64           `json:"w"`           // webhook id
	E string          `json:"e"`           // event id
	T string          `json:"t"`           // event type
	A int             `json:"a"`           // attempts made so far
	C int64           `json:"c"`           // created (unix ms)
	M bool            `json:"m,omitempty"` // a manual resend: one attempt, no schedule
	X json.RawMessage `json:"x,omitempty"` // a template's result, replacing data
}
