package api

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"

	"github.com/assethooks/assethooks/internal/problem"
)

// Admin objects are checked strictly (SPEC §3): a parameter the API does
// not know ("conditon" for "condition") is refused with a 422 naming it, so
// that a typo never saves a webhook that fires on everything. What the
// object's own view shows (id, created_at, queue_length, rule_errors…) is
// accepted and ignored, so that a client may send back what it read. Events
// stay lenient: the asset is the DAM's own document.

// Params are the parameters of an admin object: those the API accepts,
// those its view shows (read-only: accepted and ignored), and nested
// objects and lists of objects, checked alike.
type Params struct {
	Accepted []string
	Shown    []string
	// Objects are fields holding an object, Lists fields holding a list of
	// objects, each with its own parameters.
	Objects map[string]*Params
	Lists   map[string]*Params
}

// Check refuses the first parameter of m, in sorted order and nested
// objects included, that p neither accepts nor shows: 422 "Invalid
// parameter 'body.fromat': Unknown parameter".
func (p *Params) Check(m map[string]any) error { return p.check(m, "") }

func (p *Params) check(m map[string]any, prefix string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(p.Accepted, k) && !slices.Contains(p.Shown, k) {
			return unknownParam(prefix + k)
		}
		if sub, ok := p.Objects[k]; ok {
			if o, ok := m[k].(map[string]any); ok {
				if err := sub.check(o, prefix+k+"."); err != nil {
					return err
				}
			}
		}
		if sub, ok := p.Lists[k]; ok {
			arr, _ := m[k].([]any)
			for i, x := range arr {
				if o, ok := x.(map[string]any); ok {
					if err := sub.check(o, prefix+k+"["+strconv.Itoa(i)+"]."); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func unknownParam(name string) error {
	return &problem.Error{Kind: problem.KindInvalid, Field: name,
		Msg: fmt.Sprintf("Invalid parameter '%s': Unknown parameter", name)}
}

// CheckQuery refuses a query parameter that is not one of known.
func CheckQuery(q url.Values, known ...string) error {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return unknownParam(k)
		}
	}
	return nil
}

// WebhookParams are a webhook's parameters (SPEC §3.1) and its view's
// read-only fields.
var WebhookParams = &Params{
	Accepted: []string{"name", "http_url", "http_method", "trigger_events", "project_id", "disabled", "condition",
		"folder", "webhook_users", "body", "auth", "webhook_headers", "signing_secret", "timeout_seconds",
		"hostname", "path", "scheme", "redundant_urls", "retry_schedule", "rate_limit"},
	Shown: []string{"id", "created_at", "updated_at", "queue_length", "retry_queue_length", "latest_run",
		"rule_errors", "disabled_reason", "kind", "owner"},
	Objects: map[string]*Params{
		"body": {Accepted: []string{"format", "fields", "template"}},
		"auth": {Accepted: []string{"type", "username", "password", "token", "token_url", "client_id",
			"client_secret", "scope"}},
	},
	Lists: map[string]*Params{
		"webhook_headers": {Accepted: []string{"name", "value", "secret"}},
	},
}

// ProjectParams are a project's parameters and its view's read-only fields.
var ProjectParams = &Params{Accepted: []string{"id", "name"}, Shown: []string{"created_at"}}

// HookParams are a REST-hook subscription's parameters and its view's
// read-only fields.
var HookParams = &Params{Accepted: []string{"target_url", "event", "condition"}, Shown: []string{"id", "created_at"}}
