package secret

import (
	"errors"
	"strings"
	"testing"
)

func setup(t *testing.T) *Box {
	t.Helper()
	b, err := NewBox(Generate())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, plain := range []string{"", "x", "hunter2", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", strings.Repeat("é", 1000)} {
		sealed := b.Seal(plain)
		if plain != "" && (!Sealed(sealed) || (len(plain) > 4 && strings.Contains(sealed, plain))) {
			t.Fatalf("Seal(%q) = %q: not sealed or leaks the plain text", plain, sealed)
		}
		got, err := b.Open(sealed)
		if err != nil || got != plain {
			t.Fatalf("Open(Seal(%q)) = %q, %v", plain, got, err)
		}
	}
	one, two := b.Seal("same"), b.Seal("same")
	if one == two {
		t.Fatal("two seals of one value are equal: nonce not random")
	}
}

func TestTamperDetected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sealed := b.Seal("top secret password")
	raw := []byte(sealed)
	i := len(Prefix) + 20
	if raw[i] == 'A' {
		raw[i] = 'B'
	} else {
		raw[i] = 'A'
	}
	for name, s := range map[string]string{
		"flipped":   string(raw),
		"truncated": sealed[:len(sealed)-4],
		"short":     Prefix + "AAAA",
		"not b64":   Prefix + "!!!!",
		"plain":     "top secret password",
	} {
		got, err := b.Open(s)
		if !errors.Is(err, ErrOpen) || got != "" {
			t.Errorf("%s: Open = %q, %v; want ErrOpen", name, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "top secret") {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
	}
}

func TestWrongKeyFails(t *testing.T) {
	t.Parallel()
	a, b := setup(t), setup(t)
	if _, err := b.Open(a.Seal("p")); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with another key: err = %v, want ErrOpen", err)
	}
}

func TestSameKeyAcrossBoxes(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", 32)
	a, _ := NewBox(key)
	b, _ := NewBox(key)
	if got, err := b.Open(a.Seal("shared")); err != nil || got != "shared" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestShortKeyRefused(t *testing.T) {
	t.Parallel()
	if _, err := NewBox(strings.Repeat("k", 31)); err == nil {
		t.Fatal("NewBox accepted a 31-character key")
	}
}
