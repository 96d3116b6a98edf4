package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
)

// Defaults for Config fields left at their zero value.
const (
	DefaultMaxBodyBytes = 1 << 20 // 1 MiB
	// DefaultMaxValueListBodyBytes bounds the body of a value list's
	// create or update: 100,000 items (the most a list holds) of up to
	// about 160 bytes each, such as e-mail addresses or IP ranges.
	DefaultMaxValueListBodyBytes = 16 << 20 // 16 MiB
	DefaultAuthCacheTTL          = 5 * time.Second
)

// authCacheSize bounds the number of Server API secrets whose tenant is
// remembered in memory.
const authCacheSize = 10000

// Config holds the settings of the HTTP surfaces.
type Config struct {
	// PublicURL is the externally visible base URL of this Vigil server,
	// e.g. "https://auth.example.com". Relative URLs produced by the
	// tracker (the hosted challenge page) are resolved against it.
	PublicURL string

	// SeparateMetrics leaves GET /metrics out of Handler, for an operator
	// who serves MetricsHandler on a listener of its own.
	SeparateMetrics bool

	// MaxBodyBytes is the largest accepted request body; larger bodies are
	// refused with 413 request_too_large. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// MaxValueListBodyBytes is the largest accepted body of a Management
	// API value list's POST or PATCH, which carries the whole list. Zero
	// means DefaultMaxValueListBodyBytes; it is never below MaxBodyBytes.
	MaxValueListBodyBytes int64

	// AuthCacheTTL is how long a Server API secret that authenticated
	// successfully is trusted without asking the TenantService again. A
	// revoked or expired secret therefore keeps working for at most this
	// long. Zero means DefaultAuthCacheTTL; a negative value disables the
	// cache.
	AuthCacheTTL time.Duration
}

// Deps are the services and infrastructure the server uses. Every service
// but CustomDataPoints and Simulator is required; Ready, Registry, Logger
// and Now have defaults.
type Deps struct {
	Tenants        vigil.TenantService
	Users          vigil.UserService
	Authenticators vigil.AuthenticatorService
	Actions        vigil.ActionService
	Configs        vigil.ActionConfigService
	Rules          vigil.RuleService
	ValueLists     vigil.ValueListService
	Tracker        vigil.ActionTracker

	// CustomDataPoints serves /v1/management/custom-data-points. It is the
	// one optional service: nil leaves those routes out (they answer 404).
	CustomDataPoints vigil.CustomDataPointService

	// Challenges serves the Client API under /v1/client and the magic-link
	// page. Nil leaves them out (/v1/client answers 404).
	Challenges *challenge.Service

	// HostedPage serves the pre-built challenge page under /challenge.
	// Nil leaves it out.
	HostedPage http.Handler

	// Simulator serves POST .../action-configurations/{actionCode}/simulate.
	// Nil leaves that route out (it answers 404).
	Simulator vigil.RuleSimulator

	// Ready reports whether the server can serve traffic (typically a
	// database ping); /readyz answers 503 while it returns an error. Nil
	// means always ready.
	Ready func(ctx context.Context) error

	// Registry receives the server's metrics and is served on /metrics.
	// Nil means a private registry.
	Registry *prometheus.Registry

	// Logger receives the access log and internal errors. Nil discards.
	Logger *slog.Logger

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Server serves the Server API, the Management API and the operational
// endpoints. It is safe for
// concurrent use.
type Server struct {
	cfg       Config
	publicURL *url.URL // parsed cfg.PublicURL; nil when unset

	tenants        vigil.TenantService
	users          vigil.UserService
	authenticators vigil.AuthenticatorService
	actions        vigil.ActionService
	configs        vigil.ActionConfigService
	rules          vigil.RuleService
	valueLists     vigil.ValueListService
	tracker        vigil.ActionTracker
	ready          func(ctx context.Context) error

	customDataPoints vigil.CustomDataPointService // nil: no custom data point routes
	simulator        vigil.RuleSimulator          // nil: no simulation route
	challenges       *challenge.Service           // nil: no Client API
	hostedPage       http.Handler                 // nil: no hosted page
	originCache      clientOrigins

	registry *prometheus.Registry
	metrics  *metrics
	logger   *slog.Logger
	now      func() time.Time

	auth    *authCache
	handler http.Handler

	themeMu sync.Mutex // serialises theme PATCHes (read, merge, conditional write)
}

// NewServer checks cfg and deps, registers the server's metrics on
// deps.Registry and builds the route table. It does no I/O.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	var missing []string
	for _, d := range []struct {
		name string
		nil_ bool
	}{
		{"Tenants", deps.Tenants == nil},
		{"Users", deps.Users == nil},
		{"Authenticators", deps.Authenticators == nil},
		{"Actions", deps.Actions == nil},
		{"Configs", deps.Configs == nil},
		{"Rules", deps.Rules == nil},
		{"ValueLists", deps.ValueLists == nil},
		{"Tracker", deps.Tracker == nil},
	} {
		if d.nil_ {
			missing = append(missing, d.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("httpapi: missing dependencies: %s", strings.Join(missing, ", "))
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("httpapi: MaxBodyBytes must not be negative")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxValueListBodyBytes < 0 {
		return nil, errors.New("httpapi: MaxValueListBodyBytes must not be negative")
	}
	if cfg.MaxValueListBodyBytes == 0 {
		cfg.MaxValueListBodyBytes = DefaultMaxValueListBodyBytes
	}
	cfg.MaxValueListBodyBytes = max(cfg.MaxValueListBodyBytes, cfg.MaxBodyBytes)
	if cfg.AuthCacheTTL == 0 {
		cfg.AuthCacheTTL = DefaultAuthCacheTTL
	}
	s := &Server{
		cfg:            cfg,
		tenants:        deps.Tenants,
		users:          deps.Users,
		authenticators: deps.Authenticators,
		actions:        deps.Actions,
		configs:        deps.Configs,
		rules:          deps.Rules,
		valueLists:     deps.ValueLists,
		tracker:        deps.Tracker,
		ready:          deps.Ready,
		registry:       deps.Registry,
		logger:         deps.Logger,
		now:            deps.Now,

		customDataPoints: deps.CustomDataPoints,
		simulator:        deps.Simulator,
		challenges:       deps.Challenges,
		hostedPage:       deps.HostedPage,
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("httpapi: PublicURL %q is not an absolute http(s) URL", cfg.PublicURL)
		}
		s.publicURL = u
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	m, err := newMetrics(s.registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.auth = newAuthCache(cfg.AuthCacheTTL, authCacheSize, s.now)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the root handler: the Server API under /v1, /healthz,
// /readyz and /metrics, wrapped in request IDs, the access log, metrics and
// panic recovery.
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves the server's Prometheus registry in the exposition
// format. Handler serves it too at GET /metrics unless SeparateMetrics is set.
func (s *Server) MetricsHandler() http.Handler { return s.metricsHandler() }

// metrics are the server's Prometheus collectors.
type metrics struct {
	requests  *prometheus.CounterVec   // route, method, code
	durations *prometheus.HistogramVec // route, method
	decisions *prometheus.CounterVec   // outcome
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_decisions_total",
			Help: "Tracked actions decided, by outcome (idempotent replays are not counted).",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.durations, m.decisions} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	return m, nil
}
