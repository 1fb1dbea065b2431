package actions

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Delivery.Encoded is sent as is by a webhook whose body is the default json,
// and ignored by one that selects fields or sends a form or a template's data.
func TestEncodedUsedOnlyForTheDefaultBody(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	t.Cleanup(srv.Close)
	ev := sampleEvent(t)
	def, err := DefaultJSON(ev)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte(`{"pre":"encoded"}`)
	for _, tc := range []struct {
		name string
		body BodyConfig
		data map[string]any
		want bool // the pre-encoded bytes are sent
	}{
		{"default json", BodyConfig{Format: FormatJSON}, nil, true},
		{"fields", BodyConfig{Format: FormatJSON, Fields: []string{"file"}}, nil, false},
		{"form", BodyConfig{Format: FormatForm}, nil, false},
		{"template data", BodyConfig{Format: FormatJSON}, map[string]any{"x": 1}, false},
	} {
		w, err := NewWebhook(WebhookConfig{URL: srv.URL, Method: "POST", Body: tc.body, SigningSecret: GenerateSecret(), TimeoutSeconds: 5},
			Options{AllowPrivate: true})
		if err != nil {
			t.Fatal(err)
		}
		if w.SendsDefaultJSON() != (tc.want || tc.data != nil) {
			t.Errorf("%s: SendsDefaultJSON = %v", tc.name, w.SendsDefaultJSON())
		}
		if r := w.Execute(context.Background(), &Delivery{ID: "msg_1", Attempt: 1, Event: ev, Data: tc.data, Encoded: marker}); !r.OK() {
			t.Fatalf("%s: %v", tc.name, r.Err)
		}
		b := <-got
		if (string(b) == string(marker)) != tc.want {
			t.Errorf("%s: sent %.80s", tc.name, b)
		}
	}
	// DefaultJSON is exactly what the default webhook builds itself.
	w, _ := NewWebhook(WebhookConfig{URL: srv.URL, Method: "POST", SigningSecret: GenerateSecret(), TimeoutSeconds: 5}, Options{AllowPrivate: true})
	w.Execute(context.Background(), &Delivery{ID: "msg_2", Attempt: 1, Event: ev})
	if b := <-got; string(b) != string(def) {
		t.Errorf("DefaultJSON differs from the built body:\n%s\n%s", def, b)
	}
}
