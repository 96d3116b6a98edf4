package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
	"github.com/vigil-auth/vigil/internal/datapoint"
	"github.com/vigil-auth/vigil/internal/delivery"
	"github.com/vigil-auth/vigil/internal/hostedpage"
	"github.com/vigil-auth/vigil/internal/httpapi"
	"github.com/vigil-auth/vigil/internal/ipintel"
	"github.com/vigil-auth/vigil/internal/otp"
	"github.com/vigil-auth/vigil/internal/risk"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
	"github.com/vigil-auth/vigil/internal/token"
	"github.com/vigil-auth/vigil/internal/useragent"
)

// Limits of the HTTP server. Request bodies are further capped by httpapi
// (1 MiB).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// serveGCPercent is the garbage collector's target when GOGC is not set.
// Vigil's live heap is small (a few MiB: caches and in-flight requests;
// SQLite's page cache is outside the Go heap), so with Go's default of 100
// a busy server collects some fifty times a second, about a tenth of its
// CPU. At 400 it collects a quarter as often and its heap stays in the tens
// of MiB. GOGC, when set, wins.
const serveGCPercent = 400

// runServe runs "vigil serve": it prepares the database, applies the
// declarative configuration, creates the first tenant on an empty database,
// and serves HTTP until ctx is cancelled. Then it stops accepting
// connections, lets in-flight requests finish (up to ShutdownTimeout) and
// closes the database last, which waits for queued writes to commit.
func runServe(ctx context.Context, args []string, e *runEnv) (err error) {
	fs := e.flagSet("serve")
	cfg, logger, err := loadConfig(fs, scopeServe, args, e)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	var decl *Declaration
	if cfg.ConfigFile != "" {
		if decl, err = LoadDeclaration(cfg.ConfigFile, e.getenv); err != nil {
			return err
		}
	} else {
		decl = &Declaration{}
	}
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	logger.Info("starting vigil", "version", versionString(), "config", cfg)

	db, box, err := openStore(ctx, &cfg, e, logger)
	if err != nil {
		return err
	}
	defer func() {
		// Last: after the HTTP server has stopped, so that every
		// acknowledged write is committed before the process exits.
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
		}
		logger.Info("database closed")
	}()

	svc := newServices(db)
	if err := decl.Apply(ctx, applyDeps{
		Tenants: svc.tenants, Configs: svc.configs, Rules: svc.rules, ValueLists: svc.valueLists, KeyOverlap: cfg.KeyOverlap,
		CustomDataPoints: svc.customDataPoints, Now: time.Now, Rand: e.rand, Logger: logger,
	}); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // after a failed start; Serve closes it otherwise
	addr := ln.Addr().String()
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = defaultPublicURL(ln.Addr())
	}

	if len(decl.Tenants) == 0 {
		if err := bootstrap(ctx, svc.tenants, e, publicURL, logger); err != nil {
			return err
		}
	}

	ipdb, err := ipintel.Open(cfg.ipintelConfig(), logger)
	if err != nil {
		return fmt.Errorf("ip intelligence: %w", err)
	}
	defer ipdb.Close()
	st := ipdb.Status()
	logger.Info("ip intelligence", "city", st.City, "asn", st.ASN, "anonymous", st.Anonymous, "anonymousListPrefixes", st.ListPrefixes)
	sources := &datapoint.Sources{IP: ipdb, UA: useragent.New(10000), Settings: datapoint.Settings{
		ImpossibleTravelKMH: cfg.ImpossibleTravelKMH, AtypicalTravelKM: cfg.AtypicalTravelKM,
	}}

	email, sms, err := delivery.New(cfg.deliveryConfig(publicURL), logger, nil)
	if err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	var hashers []*otp.Hasher
	for _, k := range box.DeriveKeys("otp-hasher") {
		h, err := otp.NewHasher(k)
		if err != nil {
			return err
		}
		hashers = append(hashers, h)
	}
	chal := challengeDeps{email: email, sms: sms, hashers: hashers, box: box}

	api, err := newAPIServer(db, svc, sources, chal, publicURL, cfg.MetricsAddr != "", e, logger)
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("listen for metrics: %w", err)
		}
		defer metricsLn.Close() // after a failed start; Serve closes it otherwise
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// Requests must outlive the cancellation of ctx: shutdown lets
		// them finish instead of aborting them.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", addr, "public_url", publicURL)
	var metricsSrv *http.Server
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", api.MetricsHandler())
		// Profiles for operators, on the internal listener only.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		metricsSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      2 * time.Minute, // a CPU profile or trace of up to a minute
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		go func() { serveErr <- metricsSrv.Serve(metricsLn) }()
		logger.Info("serving metrics", "addr", metricsLn.Addr().String())
	}
	if e.opts.Ready != nil {
		e.opts.Ready(addr)
	}

	select {
	case err := <-serveErr:
		// A listener failed: stop the other one too before the database
		// closes.
		srv.Close()
		if metricsSrv != nil {
			metricsSrv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: waiting for in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if metricsSrv != nil {
		// Nothing to wait for: a scrape is a read.
		metricsSrv.Close()
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: requests still running after %v were aborted: %w", cfg.ShutdownTimeout, err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("HTTP server stopped")
	return nil
}

// services are the store's implementations of the domain services.
type services struct {
	tenants        *sqlstore.TenantService
	users          *sqlstore.UserService
	authenticators *sqlstore.AuthenticatorService
	actions        *sqlstore.ActionService
	configs        *sqlstore.ActionConfigService
	rules          *sqlstore.RuleService
	valueLists     *sqlstore.ValueListService
	signingKeys    *sqlstore.SigningKeyService
	riskState      *sqlstore.RiskStateService
	challenges     *sqlstore.ChallengeService

	customDataPoints *sqlstore.CustomDataPointService
}

// newServices builds every service on db.
func newServices(db *sqlstore.DB) *services {
	return &services{
		tenants:        sqlstore.NewTenantService(db),
		users:          sqlstore.NewUserService(db),
		authenticators: sqlstore.NewAuthenticatorService(db),
		actions:        sqlstore.NewActionService(db),
		configs:        sqlstore.NewActionConfigService(db),
		rules:          sqlstore.NewRuleService(db, validateRules),
		valueLists:     sqlstore.NewValueListService(db),
		signingKeys:    sqlstore.NewSigningKeyService(db),
		riskState:      sqlstore.NewRiskStateService(db),
		challenges:     sqlstore.NewChallengeService(db),

		customDataPoints: sqlstore.NewCustomDataPointService(db),
	}
}

// newAPIServer builds the risk pipeline on svc and the HTTP server of the
// APIs, with its own metrics registry. With separateMetrics its handler
// leaves /metrics to the caller.
// challengeDeps are what the challenge service needs besides the store.
type challengeDeps struct {
	email   delivery.EmailSender
	sms     delivery.SMSSender
	hashers []*otp.Hasher
	box     *secretbox.Box // seals the hosted page's session cookie
}

func newAPIServer(db *sqlstore.DB, svc *services, sources *datapoint.Sources, cd challengeDeps, publicURL string, separateMetrics bool, e *runEnv, logger *slog.Logger) (*httpapi.Server, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	for _, c := range []struct {
		name, help string
		count      func(sqlstore.RiskCacheStats) uint64
	}{
		{"vigil_risk_history_cache_hits_total", "Risk state reads of tracks answered from the history cache.",
			func(s sqlstore.RiskCacheStats) uint64 { return s.Hits }},
		{"vigil_risk_history_cache_misses_total", "Risk state reads of tracks that read the user's history from the database.",
			func(s sqlstore.RiskCacheStats) uint64 { return s.Misses }},
		{"vigil_risk_history_cache_uncached_total", "Of those misses, users with too much history to cache.",
			func(s sqlstore.RiskCacheStats) uint64 { return s.Uncached }},
	} {
		f := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.count(db.RiskCacheStats())) })
		if err := reg.Register(f); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}

	issuer := token.New(svc.signingKeys, token.Options{Rand: e.rand})
	evaluator := risk.NewRulesEvaluator(risk.RulesConfig{Sources: sources}, risk.RulesDeps{
		Rules:      svc.rules,
		ValueLists: svc.valueLists,
		RiskState:  svc.riskState,
		Versioner:  svc.configs,
		Logger:     logger,
	})
	tracker := risk.New(risk.Config{PublicURL: publicURL}, risk.Deps{
		Actions:        svc.actions,
		Configs:        svc.configs,
		Authenticators: svc.authenticators,
		Tenants:        svc.tenants,
		Tokens:         issuer,
		Evaluator:      evaluator,
		Logger:         logger,
		Rand:           e.rand,
	})
	challenges, err := challenge.New(challenge.Config{PublicURL: publicURL}, challenge.Deps{
		Challenges: svc.challenges, Actions: svc.actions, Authenticators: svc.authenticators, Users: svc.users,
		Tenants: svc.tenants, Tokens: issuer, Tracker: tracker, Hashers: cd.hashers, Email: cd.email, SMS: cd.sms,
		Logger: logger, Rand: e.rand,
	})
	if err != nil {
		return nil, err
	}
	page, err := hostedpage.New(hostedpage.Config{PublicURL: publicURL}, hostedpage.Deps{
		Challenges: challenges, Authenticators: svc.authenticators, ChallengeStore: svc.challenges, Tenants: svc.tenants,
		Box: cd.box, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	return httpapi.NewServer(httpapi.Config{PublicURL: publicURL, SeparateMetrics: separateMetrics}, httpapi.Deps{
		Tenants:        svc.tenants,
		Users:          svc.users,
		Authenticators: svc.authenticators,
		Actions:        svc.actions,
		Configs:        svc.configs,
		Rules:          svc.rules,
		ValueLists:     svc.valueLists,
		Tracker:        tracker,
		Ready:          db.Ping,
		Registry:       reg,
		Logger:         logger,

		CustomDataPoints: svc.customDataPoints,
		Challenges:       challenges,
		HostedPage:       page,
		Simulator: risk.NewSimulator(risk.SimulatorDeps{
			Configs: svc.configs, Rules: svc.rules, Tenants: svc.tenants, Actions: svc.actions, Evaluator: evaluator,
		}),
	})
}

// defaultPublicURL is the public URL when none is configured: the listen
// address, with "localhost" for a wildcard or loopback host (browsers
// treat http://localhost as a secure context, where the hosted page's
// passkeys and cookies work; they do not accept an IP address as a
// WebAuthn RP ID).
func defaultPublicURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsUnspecified() || ip.IsLoopback()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// bootstrap creates a default tenant when the database has none, and prints
// its secrets to stdout, once: they are stored only as hashes, so a later
// start has nothing to print.
func bootstrap(ctx context.Context, tenants vigil.TenantService, e *runEnv, publicURL string, logger *slog.Logger) error {
	ts, err := tenants.FindTenants(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if len(ts) > 0 {
		return nil
	}
	n, err := createTenantWithSecrets(ctx, tenants, e.rand, "", "default")
	if err != nil {
		return fmt.Errorf("bootstrap: create default tenant: %w", err)
	}
	logger.Info("created the default tenant; its secrets were printed to stdout", "tenant_id", n.Tenant.ID)
	return printBootstrap(e.stdout, n, publicURL)
}

// printBootstrap writes the first-start banner.
func printBootstrap(w io.Writer, n *newTenantSecrets, publicURL string) error {
	if err := printNewTenant(w, "Vigil created a default tenant on this empty database.", n); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, `
Try it:
  curl -u "%s:" %s/v1/users/alice

`, n.ServerSecret, publicURL)
	return err
}
