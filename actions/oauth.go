package actions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// earlyRefresh is how long before its expiry a token is fetched anew (at
// most half its lifetime, so that short-lived tokens are still reused).
const earlyRefresh = 10 * time.Second

// tokenSource caches one OAuth2 token per webhook for the whole process:
// the first delivery that needs it fetches it, the others wait for that one
// fetch; it is fetched anew shortly before it expires and after a 401.
type tokenSource struct {
	sem   chan struct{} // one fetch at a time; waiting honours ctx
	mu    sync.Mutex    // guards tok and got
	tok   *oauth2.Token
	got   time.Time
	now   func() time.Time
	fetch func(ctx context.Context, client *http.Client) (*oauth2.Token, error)
	rt    http.RoundTripper
}

func newTokenSource(a AuthConfig, rt http.RoundTripper, now func() time.Time) *tokenSource {
	s := &tokenSource{sem: make(chan struct{}, 1), now: now, rt: rt}
	scopes := strings.Fields(a.Scope)
	if a.Username != "" {
		cfg := &oauth2.Config{
			ClientID: a.ClientID, ClientSecret: a.ClientSecret, Scopes: scopes,
			Endpoint: oauth2.Endpoint{TokenURL: a.TokenURL, AuthStyle: oauth2.AuthStyleAutoDetect},
		}
		user, pass := a.Username, a.Password
		s.fetch = func(ctx context.Context, c *http.Client) (*oauth2.Token, error) {
			return cfg.PasswordCredentialsToken(context.WithValue(ctx, oauth2.HTTPClient, c), user, pass)
		}
		return s
	}
	cfg := &clientcredentials.Config{
		ClientID: a.ClientID, ClientSecret: a.ClientSecret, TokenURL: a.TokenURL,
		Scopes: scopes, AuthStyle: oauth2.AuthStyleAutoDetect,
	}
	s.fetch = func(ctx context.Context, c *http.Client) (*oauth2.Token, error) {
		return cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c))
	}
	return s
}

func (s *tokenSource) cached() *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tok
	if t == nil || t.AccessToken == "" {
		return nil
	}
	if t.Expiry.IsZero() {
		return t
	}
	early := earlyRefresh
	if half := t.Expiry.Sub(s.got) / 2; half < early {
		early = half
	}
	if !s.now().Before(t.Expiry.Add(-early)) {
		return nil
	}
	return t
}

// token returns the cached token or fetches one; concurrent callers share
// one fetch.
func (s *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	if t := s.cached(); t != nil {
		return t, nil
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("oauth2 token: %s", describe(ctx.Err(), 0))
	}
	defer func() { <-s.sem }()
	if t := s.cached(); t != nil {
		return t, nil
	}
	rec := &errRecorder{rt: s.rt}
	client := &http.Client{Transport: rec, CheckRedirect: noRedirect}
	got := time.Now()
	t, err := s.fetch(ctx, client)
	if err != nil {
		return nil, tokenError(err, rec.err)
	}
	s.mu.Lock()
	s.tok, s.got = t, got
	s.mu.Unlock()
	return t, nil
}

// invalidate drops the cached token if it is still access (a receiver
// refused it), so that the next call fetches a new one once.
func (s *tokenSource) invalidate(access string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == access {
		s.tok = nil
	}
}

// errRecorder keeps the transport error of a token request, which the
// oauth2 package flattens into text.
type errRecorder struct {
	rt  http.RoundTripper
	err error
}

func (r *errRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		r.err = err
	}
	return resp, err
}

// tokenError says why a token could not be had, without the response body
// (which may echo credentials) or any secret.
func tokenError(err, transportErr error) error {
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil:
		msg := fmt.Sprintf("oauth2 token: endpoint answered %d %s", re.Response.StatusCode, http.StatusText(re.Response.StatusCode))
		if re.ErrorCode != "" {
			msg += " (" + re.ErrorCode + ")"
		}
		return errors.New(msg)
	case transportErr != nil:
		return fmt.Errorf("oauth2 token: %w", describe(transportErr, 0))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("oauth2 token: %w", describe(err, 0))
	}
	return errors.New("oauth2 token: endpoint gave no usable token")
}
