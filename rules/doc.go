// Package rules decides which webhooks an event concerns: it derives what
// changed, compiles expr conditions and templates, and matches rules.
package rules
