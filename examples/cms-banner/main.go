package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cms-banner:", err)
		os.Exit(1)
	}
}

func run() error {
	base := envOr("ASSETHOOKS_URL", "http://127.0.0.1:8080")
	key := os.Getenv("ASSETHOOKS_API_KEY")
	if key == "" {
		return errors.New("ASSETHOOKS_API_KEY must be an admin key of the assethooks at " + base)
	}
	addr := envOr("CMS_ADDR", "127.0.0.1:8090")
	public := envOr("CMS_PUBLIC_URL", "http://"+addr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("CMS_ADDR: %w", err)
	}
	cms := NewCMS()
	srv := &http.Server{Handler: cms, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	secret, err := Setup(sctx, http.DefaultClient, base, key, public+"/webhooks/banner")
	cancel()
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("register at %s: %w", base, err)
	}
	if err := cms.SetSecret(secret); err != nil {
		_ = srv.Close()
		return err
	}
	fmt.Printf("CMS homepage at %s; select the marker %q on an image in the DAM\n", public, MarkerName)
	<-ctx.Done()
	sctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
