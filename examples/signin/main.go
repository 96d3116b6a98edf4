// Command signin is the seed's sign-in flow as a runnable web application:
// a login form whose sign-ins Vigil decides, with Vigil's hosted page for
// challenges. The application itself is package app; this command only
// configures and serves it. run.sh starts Vigil and this command together.
//
// Usage:
//
//	VIGIL_SERVER_SECRET=… signin [-addr localhost:3000] [-vigil-url http://localhost:8080] [-public-url URL]
//
// Every flag has an environment variable (SIGNIN_ADDR, VIGIL_URL,
// SIGNIN_PUBLIC_URL); flags win. The Server API secret is read only from
// VIGIL_SERVER_SECRET, never from a flag, so that it does not show in the
// process list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vigil-auth/vigil/examples/signin/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "signin:", err)
		}
		os.Exit(2)
	}
}

// run serves the application until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("signin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "SIGNIN_ADDR", "localhost:3000"), "listen `address`")
	vigilURL := fs.String("vigil-url", envOr(getenv, "VIGIL_URL", "http://localhost:8080"), "Vigil's root `URL` (or its Server API base URL, …/v1)")
	publicURL := fs.String("public-url", getenv("SIGNIN_PUBLIC_URL"), "this application's external base `URL` (default http://<listen address>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	secret := getenv("VIGIL_SERVER_SECRET")
	if secret == "" {
		return errors.New("set VIGIL_SERVER_SECRET to the tenant's Server API secret")
	}
	if *publicURL == "" {
		*publicURL = "http://" + *addr
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	h, err := app.New(app.Config{
		VigilURL:     *vigilURL,
		ServerSecret: secret,
		PublicURL:    *publicURL,
		Logger:       logger,
	})
	if err != nil {
		return err
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", l.Addr().String(), "publicUrl", *publicURL, "vigilUrl", *vigilURL)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	<-errc // http.ErrServerClosed
	return nil
}

// envOr returns the environment variable name, or def when it is empty.
func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
