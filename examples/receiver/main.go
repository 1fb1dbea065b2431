package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("ASSETHOOKS_RECEIVER_ADDR", "127.0.0.1:9090"), "listen address (ASSETHOOKS_RECEIVER_ADDR)")
	secret := flag.String("secret", os.Getenv("ASSETHOOKS_SIGNING_SECRET"), "the webhook's signing secret, whsec_… (ASSETHOOKS_SIGNING_SECRET)")
	basic := flag.String("basic", os.Getenv("ASSETHOOKS_RECEIVER_BASIC"), "user:password: require these Basic credentials (ASSETHOOKS_RECEIVER_BASIC)")
	flag.Parse()
	if *secret == "" {
		return errors.New("ASSETHOOKS_SIGNING_SECRET (or -secret) is required")
	}
	h, err := Handler(*secret, Options{Out: os.Stdout, Basic: *basic})
	if err != nil {
		return fmt.Errorf("ASSETHOOKS_SIGNING_SECRET: %w", err)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("receiver listening", "addr", *addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
