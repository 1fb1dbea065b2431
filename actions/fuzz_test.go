package actions

import (
	"encoding/json"
	"testing"

	"github.com/assethooks/assethooks/event"
)

// FuzzDecodeConfig feeds arbitrary webhook requests to DecodeConfig: it must
// never panic, and an accepted config must build a webhook and survive a
// JSON round trip (what the engine stores) unchanged.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		`{"http_url":"https://e.com/h","http_method":"POST"}`,
		`{"http_url":"https://a.com,https://b.com","http_method":"GET","body":{"format":"query"}}`,
		`{"hostname":"e.com:8443","path":"/x"}`,
		`{"http_url":"https://e.com","auth":{"type":"oauth2","token_url":"https://t.com","client_id":"c","client_secret":"s"}}`,
		`{"http_url":"https://e.com","auth":{"type":"basic","username":"u","password":"p"}}`,
		`{"http_url":"https://e.com","webhook_headers":[{"name":"X-A","value":"1","secret":true}]}`,
		`{"http_url":"https://e.com","timeout_seconds":30.5}`,
		`{"http_url":"https://e.com","signing_secret":"whsec_****abcd"}`,
		`{"http_url":"https://e.com","body":{"format":"form","fields":["file","meta.custom"],"template":"{}"}}`,
		`{"http_url":" , ","hostname":"e.com"}`, // found by the fuzzer: separators only
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if event.UnmarshalJSONNumber(data, &m) != nil || m == nil {
			return
		}
		c, err := DecodeConfig(m)
		if err != nil {
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back WebhookConfig
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("stored config does not decode: %v", err)
		}
		_ = c.Masked()
		if isMaskedSecret(c.SigningSecret) {
			return
		}
		if _, err := NewWebhook(back, Options{}); err != nil {
			t.Fatalf("accepted config does not build: %v (%s)", err, b)
		}
	})
}
