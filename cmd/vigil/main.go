package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
	_ "time/tzdata" // IANA time zones for tenants, also on machines without them

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
)

// version is the release version, set at build time with
// -ldflags "-X main.version=v1.2.3". When empty, the module version recorded
// in the binary is used, else "dev".
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, restore the default behaviour so that a
		// second one stops a shutdown that takes too long.
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, runOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		os.Exit(1)
	}
}

// runOptions are hooks for end-to-end tests; main passes none.
type runOptions struct {
	// Ready, when not nil, is called by serve with the address it listens
	// on, once it accepts connections (useful with port 0).
	Ready func(addr string)
}

// runEnv is what every subcommand receives from run.
type runEnv struct {
	getenv func(string) string
	stdout io.Writer // command output meant for the operator, such as new secrets
	stderr io.Writer // logs and usage messages
	rand   io.Reader // source of secrets and IDs
	opts   runOptions
}

// usage documents the subcommands.
const usage = `Vigil: a self-hosted, Authsignal-compatible risk-based authentication server.

Usage: vigil COMMAND [flags]

Commands:
  serve      run the HTTP server (migrates the database and applies --config first)
  migrate    apply database migrations and exit
  tenant     manage tenants: create, list, rotate-secret, rotate-signing-key
  version    print the version
  help       print this help

Run "vigil COMMAND -h" for the flags of a command. Every flag also has a
VIGIL_* environment variable (for example --database-url and
VIGIL_DATABASE_URL); flags win. Secrets are read from the environment only:
VIGIL_MASTER_KEY, VIGIL_MASTER_KEY_OLD and VIGIL_DATABASE_URL each have a
_FILE variant naming a file that holds the value.
`

// run is the whole program: it parses args (without the program name),
// reads the environment only through getenv, writes operator output to
// stdout and logs to stderr, and returns when the command is done or, for
// serve, when ctx is cancelled and the server has shut down.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts runOptions) error {
	e := &runEnv{getenv: getenv, stdout: stdout, stderr: stderr, rand: rand.Reader, opts: opts}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = runServe(ctx, rest, e)
	case "migrate":
		err = runMigrate(ctx, rest, e)
	case "tenant":
		err = runTenant(ctx, rest, e)
	case "version", "-version", "--version":
		_, err := fmt.Fprintf(stdout, "vigil %s (%s, %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return err
	case "help", "-h", "-help", "--help":
		_, err := fmt.Fprint(stdout, usage)
		return err
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	if errors.Is(err, errHelp) {
		return nil // the flag package has printed the usage
	}
	return err
}

// versionString returns the version set by the linker, or the module
// version from the build information, or "dev".
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// runMigrate runs "vigil migrate".
func runMigrate(ctx context.Context, args []string, e *runEnv) error {
	fs := e.flagSet("migrate")
	return withStore(ctx, fs, args, e, func(context.Context, *store) error { return nil })
}

// store is an open, migrated database with the services the CLI uses.
type store struct {
	cfg     Config
	db      *sqlstore.DB
	tenants vigil.TenantService
	logger  *slog.Logger
	now     func() time.Time
}

// withStore loads the configuration of a command with the database flags
// added to fs, opens and migrates the database, calls f, and closes the
// database (which waits for queued writes).
func withStore(ctx context.Context, fs *flag.FlagSet, args []string, e *runEnv, f func(context.Context, *store) error) error {
	cfg, logger, err := loadConfig(fs, scopeStore, args, e)
	if err != nil {
		return err
	}
	if fs.Name() != "vigil migrate" && e.getenv("VIGIL_LOG_LEVEL") == "" && !flagSet(fs, "log-level") {
		// The tenant commands print their result on stdout; unless asked,
		// keep routine log lines from interleaving with it.
		cfg.LogLevel = slog.LevelWarn
		logger = cfg.newLogger(e.stderr)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	db, _, err := openStore(ctx, &cfg, e, logger)
	if err != nil {
		return err
	}
	st := &store{cfg: cfg, db: db, tenants: sqlstore.NewTenantService(db), logger: logger, now: time.Now}
	err = f(ctx, st)
	if cerr := db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
	}
	return err
}

// loadConfig loads and validates a command's configuration and builds its
// logger. A request for help is not an error.
func loadConfig(fs *flag.FlagSet, scope flagScope, args []string, e *runEnv) (Config, *slog.Logger, error) {
	cfg, err := Load(e.getenv, fs, scope, args)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, nil, errHelp
	} else if err != nil {
		return cfg, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, cfg.newLogger(e.stderr), nil
}

// errHelp is returned by loadConfig when the flags asked for help; run
// turns it into success (the flag package has printed the usage).
var errHelp = errors.New("help requested")

// openStore builds the cipher from the master key, opens the database and
// applies pending migrations.
func openStore(ctx context.Context, cfg *Config, e *runEnv, logger *slog.Logger) (*sqlstore.DB, *secretbox.Box, error) {
	cipher, err := loadCipher(cfg, e, logger)
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlstore.Open(ctx, cfg.Database(), sqlstore.Options{
		Cipher:  cipher,
		Logger:  logger,
		Writers: cfg.PostgresWriters,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open database %s: %w", redactURL(cfg.Database()), err)
	}
	n, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrate database: %w", err)
	}
	logger.Info("database ready", "dialect", db.Dialect(), "migrations_applied", n)
	return db, cipher, nil
}

// loadCipher returns the cipher for secrets at rest: the master key from
// VIGIL_MASTER_KEY, or from the key file in the data directory, created on
// first use.
func loadCipher(cfg *Config, e *runEnv, logger *slog.Logger) (*secretbox.Box, error) {
	var primary []byte
	if cfg.MasterKey != "" {
		k, err := secretbox.ParseKey(string(cfg.MasterKey))
		if err != nil {
			return nil, fmt.Errorf("VIGIL_MASTER_KEY: %w", err)
		}
		primary = k
	} else {
		path := cfg.MasterKeyPath()
		k, created, err := secretbox.LoadOrCreateKeyFile(path, e.rand)
		if err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		if created {
			logger.Warn("created a new master key file; back it up: without it the encrypted secrets in the database cannot be read", "path", path)
		} else {
			logger.Debug("using the master key file", "path", path)
		}
		primary = k
	}
	var old [][]byte
	for i, s := range cfg.OldMasterKeys {
		k, err := secretbox.ParseKey(string(s))
		if err != nil {
			return nil, fmt.Errorf("VIGIL_MASTER_KEY_OLD: key %d: %w", i+1, err)
		}
		old = append(old, k)
	}
	box, err := secretbox.New(primary, old...)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return box, nil
}
