package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "middleware:", err)
		os.Exit(1)
	}
}

func run() error {
	base := envOr("ASSETHOOKS_URL", "http://127.0.0.1:8080")
	key := os.Getenv("ASSETHOOKS_API_KEY")
	if key == "" {
		return errors.New("ASSETHOOKS_API_KEY must be a key of the assethooks at " + base)
	}
	addr := envOr("MIDDLEWARE_ADDR", "127.0.0.1:8091")
	public := envOr("MIDDLEWARE_PUBLIC_URL", "http://"+addr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("MIDDLEWARE_ADDR: %w", err)
	}
	enc := json.NewEncoder(os.Stdout)
	c := &Catcher{Process: func(doc map[string]any) { _ = enc.Encode(doc) }}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	sub := Subscription{TargetURL: public + "/catch", Event: envOr("EVENT", "ASSET_ADDED"), Condition: os.Getenv("CONDITION")}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	id, err := Subscribe(sctx, http.DefaultClient, base, key, sub)
	cancel()
	if err != nil {
		_ = srv.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "subscribed (hook %d) to %s at %s; catching at %s\n", id, sub.Event, base, sub.TargetURL)
	<-ctx.Done()
	sctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Unsubscribe(sctx, http.DefaultClient, base, key, id); err != nil {
		fmt.Fprintln(os.Stderr, "unsubscribe:", err)
	}
	return srv.Shutdown(sctx)
}

// Subscription is a REST-hook subscription request (POST /api/v2/hooks).
type Subscription struct {
	TargetURL string `json:"target_url"`
	Event     string `json:"event"`
	Condition string `json:"condition,omitempty"`
}

// Subscribe creates a REST hook and returns its id.
func Subscribe(ctx context.Context, client *http.Client, base, key string, s Subscription) (int64, error) {
	b, _ := json.Marshal(s)
	res, err := do(ctx, client, "POST", base+"/api/v2/hooks", key, b)
	if err != nil {
		return 0, err
	}
	var out struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return 0, fmt.Errorf("subscribe: %w", err)
	}
	return out.ID, nil
}

// Unsubscribe deletes a REST hook.
func Unsubscribe(ctx context.Context, client *http.Client, base, key string, id int64) error {
	_, err := do(ctx, client, "DELETE", base+"/api/v2/hooks/"+strconv.FormatInt(id, 10), key, nil)
	return err
}

func do(ctx context.Context, client *http.Client, method, url, key string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-KEY", key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: assethooks answered %d: %s", method, url, res.StatusCode, b)
	}
	return b, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
