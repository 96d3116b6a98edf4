// Command vigil-floor is a measuring instrument, not product code: the
// smallest Go server that does what a Vigil track must do at minimum, run
// beside Vigil to measure the machine's ceiling ("the floor" of the
// overhead). It answers, for one fixed tenant:
//
//   - POST /v1/users/{userId}/actions/{action}: Basic auth (the -secret,
//     compared by SHA-256 as Vigil keeps secrets hashed), decode the JSON
//     body, insert one row (tenant, key, user, action, state, times, body),
//     sign an HS256 JWT with claims the size of Vigil's, and answer
//     {"idempotencyKey","state":"ALLOW","url","token","isEnrolled":false}.
//   - POST /v1/validate: verify the HS256 token and read the row by key;
//     a CHALLENGE_SUCCEEDED row is consumed by a write, so the first
//     validation is valid and a replay is not.
//   - PATCH /v1/users/{userId}/actions/{action}/{idempotencyKey}: set the
//     state, so that vigil-bench -succeed can measure the consuming path.
//
// Every write goes through a group commit: one writer goroutine (a few on
// PostgreSQL) gathers the writes queued while the previous commit was
// syncing into one transaction, commits once, and then answers each
// request. Durability is Vigil's: nothing is answered before its commit
// (SQLite WAL with synchronous=FULL; PostgreSQL with synchronous_commit=on).
// There are no rules, tenants, users, authenticators, idempotency payload
// checks, logs or metrics.
//
// Example:
//
//	vigil-floor -db sqlite:/tmp/floor/floor.db -secret s3cret
//	vigil-bench -url http://127.0.0.1:8090/v1 -secret s3cret -mode track
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/google/uuid"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil-floor:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then finishes in-flight requests, stops the
// writers and closes the database.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigil-floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr   = fs.String("addr", "127.0.0.1:8090", "listen `address` (loopback only)")
		secret = fs.String("secret", getenv("VIGIL_FLOOR_SECRET"), "Server API secret (default $VIGIL_FLOOR_SECRET)")
		o      storeOptions
		drop   bool
	)
	fs.StringVar(&o.dsn, "db", "", "database: sqlite:PATH or postgres://...")
	fs.StringVar(&o.table, "table", "floor_actions", "table to create and write")
	fs.IntVar(&o.writers, "writers", 4, "PostgreSQL: group-commit writers, one connection each (SQLite has one)")
	fs.IntVar(&o.readers, "readers", 2*runtime.GOMAXPROCS(0), "read pool connections")
	fs.IntVar(&o.maxBatch, "batch", 256, "most writes in one commit")
	fs.BoolVar(&drop, "drop", false, "drop the table on exit")
	keyKind := fs.String("keys", "v4", "generated idempotency keys: v4 (random UUID) or v7 (time-ordered UUID, appended to the index)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	case *secret == "":
		return errors.New("no secret: pass -secret or set VIGIL_FLOOR_SECRET")
	case o.dsn == "":
		return errors.New("no database: pass -db sqlite:PATH or -db postgres://...")
	case *keyKind != "v4" && *keyKind != "v7":
		return fmt.Errorf("-keys %q: want v4 or v7", *keyKind)
	case o.writers < 1 || o.readers < 1 || o.maxBatch < 1:
		return errors.New("-writers, -readers and -batch must be at least 1")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %q: the floor program listens on loopback only", *addr)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	signKey := make([]byte, 32)
	if _, err := rand.Read(signKey); err != nil {
		return err
	}
	st, durable, err := openStore(ctx, o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return errors.Join(err, st.close(drop))
	}
	fl := newServer(st, *secret, signKey, "http://"+ln.Addr().String())
	if *keyKind == "v7" {
		fl.newKey = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	srv := &http.Server{
		Handler:           fl.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Fprintf(stdout, "vigil-floor: listening on http://%s/v1 (table %s; %s; up to %d writes per commit)\n", ln.Addr(), o.table, durable, o.maxBatch)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
		<-served
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	err = errors.Join(err, st.close(drop))
	if c := st.commits.Load(); c > 0 {
		fmt.Fprintf(stdout, "vigil-floor: %d writes in %d commits (%.1f per commit)\n", st.writes.Load(), c, float64(st.writes.Load())/float64(c))
	}
	return err
}
