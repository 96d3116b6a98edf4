package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/vigil-auth/vigil/internal/delivery"
	"github.com/vigil-auth/vigil/internal/ipintel"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is everything the vigil binary can be told by flags and VIGIL_*
// environment variables. Each field comment names the flag and the variable
// that set it; flags override variables, which override DefaultConfig.
// Variables marked "secret" also have a _FILE variant naming a file to read
// the value from (the trailing newline is dropped), for Docker and
// Kubernetes secrets.
type Config struct {
	// Addr is the TCP address the HTTP server listens on.
	// --addr, VIGIL_ADDR. Default "localhost:8080". Port 0 picks a free port.
	Addr string

	// DatabaseURL selects the database: "postgres://…" (or "postgresql://…")
	// for PostgreSQL, "sqlite:PATH" for SQLite.
	// --database-url, VIGIL_DATABASE_URL (secret: it may hold a password).
	// Default: an SQLite file vigil.db in DataDir.
	DatabaseURL Redacted

	// DataDir holds the default SQLite database and the generated master key.
	// --data-dir, VIGIL_DATA_DIR. Default "./vigil-data".
	DataDir string

	// PublicURL is the externally reachable base URL of this server, used to
	// build links (for example the hosted challenge page URL returned by
	// track). --public-url, VIGIL_PUBLIC_URL. Default "http://" + the address
	// the server actually listens on.
	PublicURL string

	// MetricsAddr, when set, moves GET /metrics from the main listener to a
	// listener of its own on this address (for example 127.0.0.1:9090), so
	// that it can be kept off the public network; that listener also serves
	// Go's profiles under /debug/pprof/. --metrics-addr, VIGIL_METRICS_ADDR.
	// Default "": /metrics is served on Addr, and no profiles at all.
	MetricsAddr string

	// LogLevel is the minimum level logged: debug, info, warn or error.
	// --log-level, VIGIL_LOG_LEVEL. Default info.
	LogLevel slog.Level

	// LogFormat is "text" or "json". --log-format, VIGIL_LOG_FORMAT.
	// Default text.
	LogFormat string

	// MasterKey encrypts secrets at rest (token signing keys, authenticator
	// seeds). VIGIL_MASTER_KEY (secret). When it is not set, the key is read
	// from DataDir/master.key, which is created with a random key on first
	// use. Keep a backup: without it the encrypted secrets are lost.
	MasterKey Redacted

	// OldMasterKeys are previous master keys still accepted for decryption
	// while data is re-encrypted under MasterKey. VIGIL_MASTER_KEY_OLD
	// (secret), comma-separated.
	OldMasterKeys []Redacted

	// ConfigFile is a YAML file declaring tenants and their action
	// configurations, applied at every start of serve (see
	// vigil.example.yaml). --config, VIGIL_CONFIG. Default none.
	ConfigFile string

	// KeyOverlap is how long a replaced API secret stays valid, when a
	// secret is rotated or a declared secret changes. --key-overlap,
	// VIGIL_KEY_OVERLAP. Default 24h.
	KeyOverlap time.Duration

	// ShutdownTimeout bounds how long serve waits for in-flight requests
	// after it is asked to stop. --shutdown-timeout, VIGIL_SHUTDOWN_TIMEOUT.
	// Default 25s (below the usual 30 s grace period of process managers).
	ShutdownTimeout time.Duration

	// PostgresWriters is the number of concurrent write transactions the
	// store uses on PostgreSQL (SQLite always has one writer); 0 lets the
	// store choose. --postgres-writers, VIGIL_POSTGRES_WRITERS. Default 0.
	PostgresWriters int

	// GeoIPCity, GeoIPASN and GeoIPAnonymous are paths of MaxMind-format
	// databases for the ip.* data points: a City database (GeoLite2-City,
	// GeoIP2-City or DB-IP City Lite), an ASN database (GeoLite2-ASN or
	// DB-IP ASN Lite) and a GeoIP2-Anonymous-IP database. A database that
	// is missing or unreadable disables only its data points, with a
	// warning at start. --geoip-city, --geoip-asn, --geoip-anonymous;
	// VIGIL_GEOIP_CITY, VIGIL_GEOIP_ASN, VIGIL_GEOIP_ANONYMOUS. Default none.
	GeoIPCity, GeoIPASN, GeoIPAnonymous string

	// AnonymousIPLists are text files of IP addresses and CIDR prefixes
	// (Tor exits, VPN and hosting ranges), one a line, that make
	// ip.isAnonymous true. --anonymous-ip-lists, VIGIL_ANONYMOUS_IP_LISTS,
	// comma-separated. Default none.
	AnonymousIPLists []string

	// OFACCountries are the ISO country codes of ip.countryCodeInOfacList,
	// comma-separated; "none" disables the check. --ofac-countries,
	// VIGIL_OFAC_COUNTRIES. Default CU,IR,KP,SY.
	OFACCountries string

	// ImpossibleTravelKMH is the speed from the last verified location
	// above which ip.impossibleTravel is true. --impossible-travel-kmh,
	// VIGIL_IMPOSSIBLE_TRAVEL_KMH. Default 1000.
	ImpossibleTravelKMH float64

	// AtypicalTravelKM is how far from every recently verified location
	// an IP must be for ip.atypicalTravel. --atypical-travel-km,
	// VIGIL_ATYPICAL_TRAVEL_KM. Default 500.
	AtypicalTravelKM float64

	// Delivery of one-time codes and magic links. With neither
	// EmailProvider nor SMSProvider set, codes are written to the log (a
	// development sender, with a warning at start).
	Delivery DeliveryConfig
}

// DeliveryConfig configures email and SMS delivery.
type DeliveryConfig struct {
	// EmailProvider is smtp, webhook or log. --email-provider,
	// VIGIL_EMAIL_PROVIDER.
	EmailProvider string
	// SMTP server: --smtp-host, --smtp-port, --smtp-username, --smtp-from
	// ("Acme <no-reply@acme.example>"), --smtp-tls (starttls, tls or none),
	// --smtp-ca-file; VIGIL_SMTP_HOST, ... and VIGIL_SMTP_PASSWORD (secret).
	SMTPHost, SMTPUsername, SMTPFrom, SMTPTLS, SMTPCAFile string
	SMTPPort                                              int
	SMTPPassword                                          Redacted
	// EmailWebhookURL receives email.created events signed with
	// VIGIL_EMAIL_WEBHOOK_SECRET (secret). --email-webhook-url.
	EmailWebhookURL    string
	EmailWebhookSecret Redacted
	// SMSProvider is twilio, webhook or log. --sms-provider,
	// VIGIL_SMS_PROVIDER.
	SMSProvider string
	// Twilio-compatible API: --twilio-base-url, --twilio-account-sid,
	// --twilio-from, --twilio-messaging-service-sid; VIGIL_TWILIO_* and
	// VIGIL_TWILIO_AUTH_TOKEN (secret).
	TwilioBaseURL, TwilioAccountSID, TwilioFrom, TwilioMessagingServiceSID string
	TwilioAuthToken                                                        Redacted
	// SMSWebhookURL receives sms.created events signed with
	// VIGIL_SMS_WEBHOOK_SECRET (secret). --sms-webhook-url.
	SMSWebhookURL    string
	SMSWebhookSecret Redacted
	// TemplateDir overrides the built-in message templates.
	// --message-templates, VIGIL_MESSAGE_TEMPLATES.
	TemplateDir string
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		Addr:            "localhost:8080",
		DataDir:         "./vigil-data",
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",
		KeyOverlap:      24 * time.Hour,
		ShutdownTimeout: 25 * time.Second,

		ImpossibleTravelKMH: 1000,
		AtypicalTravelKM:    500,
	}
}

// flagScope selects which configuration flags a subcommand accepts.
type flagScope int

const (
	// scopeStore is what every command that opens the database needs:
	// database, data directory and logging.
	scopeStore flagScope = 1 << iota
	// scopeServe adds the settings of the HTTP server.
	scopeServe
)

// Load returns the configuration of a subcommand: DefaultConfig, overridden
// by the VIGIL_* variables read through getenv, overridden by the flags in
// args. The configuration flags of scope are added to fs, which may already
// hold the subcommand's own flags; fs is parsed with args. Load does not
// validate the result (see Validate) but reports every variable it could not
// parse or read, joined. When args ask for help, the error is flag.ErrHelp.
func Load(getenv func(string) string, fs *flag.FlagSet, scope flagScope, args []string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	secret := func(name string) string {
		v, err := secretEnv(getenv, name)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}

	if v := env("VIGIL_ADDR"); v != "" {
		cfg.Addr = v
	}
	if v := secret("VIGIL_DATABASE_URL"); v != "" {
		cfg.DatabaseURL = Redacted(v)
	}
	if v := env("VIGIL_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	if v := env("VIGIL_PUBLIC_URL"); v != "" {
		cfg.PublicURL = v
	}
	if v := env("VIGIL_METRICS_ADDR"); v != "" {
		cfg.MetricsAddr = v
	}
	if v := env("VIGIL_LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("VIGIL_LOG_LEVEL: %q is not one of debug, info, warn, error", v))
		}
	}
	if v := env("VIGIL_LOG_FORMAT"); v != "" {
		cfg.LogFormat = v
	}
	if v := secret("VIGIL_MASTER_KEY"); v != "" {
		cfg.MasterKey = Redacted(v)
	}
	if v := secret("VIGIL_MASTER_KEY_OLD"); v != "" {
		cfg.OldMasterKeys = splitSecrets(v)
	}
	if v := env("VIGIL_CONFIG"); v != "" {
		cfg.ConfigFile = v
	}
	if v := env("VIGIL_KEY_OVERLAP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("VIGIL_KEY_OVERLAP: %q is not a duration such as 24h", v))
		}
		cfg.KeyOverlap = d
	}
	if v := env("VIGIL_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("VIGIL_SHUTDOWN_TIMEOUT: %q is not a duration such as 25s", v))
		}
		cfg.ShutdownTimeout = d
	}
	if v := env("VIGIL_POSTGRES_WRITERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("VIGIL_POSTGRES_WRITERS: %q is not an integer", v))
		}
		cfg.PostgresWriters = n
	}
	dc := &cfg.Delivery
	for name, dst := range map[string]*string{
		"VIGIL_EMAIL_PROVIDER": &dc.EmailProvider, "VIGIL_SMTP_HOST": &dc.SMTPHost, "VIGIL_SMTP_USERNAME": &dc.SMTPUsername,
		"VIGIL_SMTP_FROM": &dc.SMTPFrom, "VIGIL_SMTP_TLS": &dc.SMTPTLS, "VIGIL_SMTP_CA_FILE": &dc.SMTPCAFile,
		"VIGIL_EMAIL_WEBHOOK_URL": &dc.EmailWebhookURL, "VIGIL_SMS_PROVIDER": &dc.SMSProvider,
		"VIGIL_TWILIO_BASE_URL": &dc.TwilioBaseURL, "VIGIL_TWILIO_ACCOUNT_SID": &dc.TwilioAccountSID,
		"VIGIL_TWILIO_FROM": &dc.TwilioFrom, "VIGIL_TWILIO_MESSAGING_SERVICE_SID": &dc.TwilioMessagingServiceSID,
		"VIGIL_SMS_WEBHOOK_URL": &dc.SMSWebhookURL, "VIGIL_MESSAGE_TEMPLATES": &dc.TemplateDir,
	} {
		*dst = cmpOr(env(name), *dst)
	}
	if v := env("VIGIL_SMTP_PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("VIGIL_SMTP_PORT: %q is not a port", v))
		}
		dc.SMTPPort = n
	}
	for name, dst := range map[string]*Redacted{
		"VIGIL_SMTP_PASSWORD": &dc.SMTPPassword, "VIGIL_EMAIL_WEBHOOK_SECRET": &dc.EmailWebhookSecret,
		"VIGIL_TWILIO_AUTH_TOKEN": &dc.TwilioAuthToken, "VIGIL_SMS_WEBHOOK_SECRET": &dc.SMSWebhookSecret,
	} {
		if v := secret(name); v != "" {
			*dst = Redacted(v)
		}
	}
	cfg.GeoIPCity = cmpOr(env("VIGIL_GEOIP_CITY"), cfg.GeoIPCity)
	cfg.GeoIPASN = cmpOr(env("VIGIL_GEOIP_ASN"), cfg.GeoIPASN)
	cfg.GeoIPAnonymous = cmpOr(env("VIGIL_GEOIP_ANONYMOUS"), cfg.GeoIPAnonymous)
	if v := env("VIGIL_ANONYMOUS_IP_LISTS"); v != "" {
		cfg.AnonymousIPLists = splitList(v)
	}
	cfg.OFACCountries = cmpOr(env("VIGIL_OFAC_COUNTRIES"), cfg.OFACCountries)
	for name, dst := range map[string]*float64{
		"VIGIL_IMPOSSIBLE_TRAVEL_KMH": &cfg.ImpossibleTravelKMH,
		"VIGIL_ATYPICAL_TRAVEL_KM":    &cfg.AtypicalTravelKM,
	} {
		if v := env(name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a number", name, v))
			}
			*dst = f
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}

	if scope&(scopeStore|scopeServe) != 0 {
		fs.Var((*redactedFlag)(&cfg.DatabaseURL), "database-url", "database `URL`: postgres://… or sqlite:PATH (default: sqlite file vigil.db in the data directory)")
		fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "`directory` for the default SQLite database and the generated master key")
		fs.TextVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "minimum log `level`: debug, info, warn or error")
		fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log `format`: text or json")
	}
	if scope&scopeServe != 0 {
		fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen `address`")
		fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "external base `URL` (default http://<listen address>)")
		fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "serve /metrics (and /debug/pprof/) on this `address` only, instead of on --addr")
		fs.StringVar(&cfg.ConfigFile, "config", cfg.ConfigFile, "declarative YAML configuration `file` applied at start")
		fs.DurationVar(&cfg.KeyOverlap, "key-overlap", cfg.KeyOverlap, "how long a replaced API secret stays valid")
		fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long to wait for in-flight requests when stopping")
		fs.IntVar(&cfg.PostgresWriters, "postgres-writers", cfg.PostgresWriters, "concurrent write transactions on PostgreSQL (0: the store's default)")
		fs.StringVar(&cfg.GeoIPCity, "geoip-city", cfg.GeoIPCity, "City MMDB `file` (GeoLite2-City, DB-IP City Lite) for ip.location.* data points")
		fs.StringVar(&cfg.GeoIPASN, "geoip-asn", cfg.GeoIPASN, "ASN MMDB `file` (GeoLite2-ASN, DB-IP ASN Lite) for ip.asn")
		fs.StringVar(&cfg.GeoIPAnonymous, "geoip-anonymous", cfg.GeoIPAnonymous, "GeoIP2-Anonymous-IP MMDB `file` for ip.isAnonymous")
		fs.Func("anonymous-ip-lists", "comma-separated `files` of anonymous IPs and CIDR prefixes for ip.isAnonymous", func(v string) error {
			cfg.AnonymousIPLists = splitList(v)
			return nil
		})
		fs.StringVar(&cfg.OFACCountries, "ofac-countries", cfg.OFACCountries, "comma-separated country `codes` of ip.countryCodeInOfacList, or none (default CU,IR,KP,SY)")
		fs.Float64Var(&cfg.ImpossibleTravelKMH, "impossible-travel-kmh", cfg.ImpossibleTravelKMH, "`speed` in km/h above which ip.impossibleTravel is true")
		fs.Float64Var(&cfg.AtypicalTravelKM, "atypical-travel-km", cfg.AtypicalTravelKM, "`distance` in km from every verified location for ip.atypicalTravel")
		dc := &cfg.Delivery
		fs.StringVar(&dc.EmailProvider, "email-provider", dc.EmailProvider, "email `provider`: smtp, webhook or log (default: log when no provider is set)")
		fs.StringVar(&dc.SMTPHost, "smtp-host", dc.SMTPHost, "SMTP server `host`")
		fs.IntVar(&dc.SMTPPort, "smtp-port", dc.SMTPPort, "SMTP server `port` (default 587, 465 for tls, 25 for none)")
		fs.StringVar(&dc.SMTPUsername, "smtp-username", dc.SMTPUsername, "SMTP user `name` (password: VIGIL_SMTP_PASSWORD)")
		fs.StringVar(&dc.SMTPFrom, "smtp-from", dc.SMTPFrom, "sender `address`, e.g. \"Acme <no-reply@acme.example>\"")
		fs.StringVar(&dc.SMTPTLS, "smtp-tls", dc.SMTPTLS, "SMTP TLS `mode`: starttls, tls or none")
		fs.StringVar(&dc.SMTPCAFile, "smtp-ca-file", dc.SMTPCAFile, "PEM `file` of the CAs the SMTP server's certificate chains to")
		fs.StringVar(&dc.EmailWebhookURL, "email-webhook-url", dc.EmailWebhookURL, "`URL` receiving signed email.created events (secret: VIGIL_EMAIL_WEBHOOK_SECRET)")
		fs.StringVar(&dc.SMSProvider, "sms-provider", dc.SMSProvider, "SMS `provider`: twilio, webhook or log")
		fs.StringVar(&dc.TwilioBaseURL, "twilio-base-url", dc.TwilioBaseURL, "base `URL` of a Twilio-compatible API (default https://api.twilio.com)")
		fs.StringVar(&dc.TwilioAccountSID, "twilio-account-sid", dc.TwilioAccountSID, "Twilio account `SID` (token: VIGIL_TWILIO_AUTH_TOKEN)")
		fs.StringVar(&dc.TwilioFrom, "twilio-from", dc.TwilioFrom, "SMS sender `number` or ID")
		fs.StringVar(&dc.TwilioMessagingServiceSID, "twilio-messaging-service-sid", dc.TwilioMessagingServiceSID, "Twilio messaging service `SID`")
		fs.StringVar(&dc.SMSWebhookURL, "sms-webhook-url", dc.SMSWebhookURL, "`URL` receiving signed sms.created events (secret: VIGIL_SMS_WEBHOOK_SECRET)")
		fs.StringVar(&dc.TemplateDir, "message-templates", dc.TemplateDir, "`directory` overriding the built-in email and SMS templates")
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Validate reports every problem with c at once, joined, or nil.
func (c *Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: %q is not a host:port address", c.Addr))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("addr: %q has no valid port", c.Addr))
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("metrics-addr: %q is not a host:port address", c.MetricsAddr))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("metrics-addr: %q has no valid port", c.MetricsAddr))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: must not be empty"))
	}
	if !(c.ImpossibleTravelKMH > 0) || math.IsInf(c.ImpossibleTravelKMH, 0) {
		errs = append(errs, fmt.Errorf("impossible-travel-kmh: %v is not a positive speed", c.ImpossibleTravelKMH))
	}
	if !(c.AtypicalTravelKM > 0) || math.IsInf(c.AtypicalTravelKM, 0) {
		errs = append(errs, fmt.Errorf("atypical-travel-km: %v is not a positive distance", c.AtypicalTravelKM))
	}
	if c.DatabaseURL != "" {
		if _, _, err := parseDatabaseURL(string(c.DatabaseURL)); err != nil {
			errs = append(errs, fmt.Errorf("database-url: %w", err))
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public-url: %q is not an absolute http or https URL", c.PublicURL))
		} else if u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("public-url: %q must not have a query or fragment", c.PublicURL))
		}
	}
	switch c.LogLevel {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
	default:
		errs = append(errs, fmt.Errorf("log-level: %v is not one of debug, info, warn, error", c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format: %q is not text or json", c.LogFormat))
	}
	if c.KeyOverlap < 0 {
		errs = append(errs, fmt.Errorf("key-overlap: %v must not be negative", c.KeyOverlap))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown-timeout: %v must be positive", c.ShutdownTimeout))
	}
	if c.PostgresWriters < 0 || c.PostgresWriters > 1024 {
		errs = append(errs, fmt.Errorf("postgres-writers: %d must be between 0 (the store's default) and 1024", c.PostgresWriters))
	}
	return errors.Join(errs...)
}

// Database returns the database URL to open: DatabaseURL, or the default
// SQLite file in DataDir.
func (c *Config) Database() string {
	if c.DatabaseURL != "" {
		return string(c.DatabaseURL)
	}
	return "sqlite:" + filepath.Join(c.DataDir, "vigil.db")
}

// MasterKeyPath is the file holding the master key when MasterKey is unset.
func (c *Config) MasterKeyPath() string {
	return filepath.Join(c.DataDir, "master.key")
}

// LogValue implements slog.LogValuer: the settings an operator wants to see
// at start, with the database password and the keys left out.
func (c Config) LogValue() slog.Value {
	masterKey := "file " + c.MasterKeyPath()
	if c.MasterKey != "" {
		masterKey = "VIGIL_MASTER_KEY"
	}
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("database", redactURL(c.Database())),
		slog.String("data_dir", c.DataDir),
		slog.String("public_url", c.PublicURL),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.String("master_key", masterKey),
		slog.Int("old_master_keys", len(c.OldMasterKeys)),
		slog.String("config_file", c.ConfigFile),
		slog.Duration("key_overlap", c.KeyOverlap),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Int("postgres_writers", c.PostgresWriters),
	)
}

// parseDatabaseURL splits a database URL into the dialect ("sqlite" or
// "postgres") and checks that it is usable.
func parseDatabaseURL(s string) (dialect, rest string, err error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil {
			return "", "", errors.New("not a valid postgres:// URL")
		} else if u.Host == "" {
			return "", "", errors.New("postgres URL has no host")
		}
		return "postgres", s, nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if path == "" {
			return "", "", errors.New("sqlite URL has no file path")
		} else if strings.Contains(path, "?") {
			return "", "", errors.New("sqlite URL must not have parameters: Vigil sets the connection settings itself")
		}
		return "sqlite", path, nil
	}
	return "", "", errors.New("must start with postgres://, postgresql:// or sqlite:")
}

// redactURL returns a database URL safe to log: a password is replaced.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// secretEnv returns the value of the variable name, or the content of the
// file named by name_FILE without its trailing newline. Setting both is an
// error, so that a forgotten variable never silently wins.
func secretEnv(getenv func(string) string, name string) (string, error) {
	v, file := getenv(name), strings.TrimSpace(getenv(name+"_FILE"))
	if file == "" {
		return strings.TrimSpace(v), nil
	}
	if v != "" {
		return "", fmt.Errorf("%s and %s_FILE are both set; set one", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s_FILE: %s is empty", name, file)
	}
	return s, nil
}

// splitSecrets splits a comma-separated list of secrets, dropping blanks.
func splitSecrets(s string) []Redacted {
	var out []Redacted
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, Redacted(p))
		}
	}
	return out
}

// Redacted is a string that must not be shown: it formats as "***" (or ""
// when empty) with fmt and slog. Convert it with string() where the value
// is really needed.
type Redacted string

// String implements fmt.Stringer.
func (r Redacted) String() string {
	if r == "" {
		return ""
	}
	return "***"
}

// GoString implements fmt.GoStringer so that %#v hides the value too.
func (r Redacted) GoString() string { return strconv.Quote(r.String()) }

// LogValue implements slog.LogValuer.
func (r Redacted) LogValue() slog.Value { return slog.StringValue(r.String()) }

// redactedFlag is a flag.Value setting a Redacted without echoing it in
// usage messages.
type redactedFlag Redacted

// String implements flag.Value.
func (f *redactedFlag) String() string {
	if f == nil {
		return ""
	}
	return Redacted(*f).String()
}

// Set implements flag.Value.
func (f *redactedFlag) Set(s string) error {
	*f = redactedFlag(s)
	return nil
}

// newLogger returns the slog logger c asks for, writing to w.
func (c *Config) newLogger(w interface{ Write([]byte) (int, error) }) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// cmpOr returns v unless it is empty, else def.
func cmpOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// ipintelConfig returns the IP intelligence sources of cfg.
func (cfg *Config) ipintelConfig() ipintel.Config {
	c := ipintel.Config{
		CityDB: cfg.GeoIPCity, ASNDB: cfg.GeoIPASN, AnonymousDB: cfg.GeoIPAnonymous,
		AnonymousLists: cfg.AnonymousIPLists,
	}
	switch v := strings.TrimSpace(cfg.OFACCountries); {
	case strings.EqualFold(v, "none"):
		c.OFACCountries = []string{}
	case v != "":
		c.OFACCountries = splitList(v)
	}
	return c
}

// deliveryConfig returns the delivery providers of cfg; publicURL is the
// source of webhook events.
func (cfg *Config) deliveryConfig(publicURL string) delivery.Config {
	d := &cfg.Delivery
	out := delivery.Config{
		EmailProvider: d.EmailProvider, SMSProvider: d.SMSProvider, TemplateDir: d.TemplateDir,
		SMTP: delivery.SMTPConfig{Host: d.SMTPHost, Port: d.SMTPPort, Username: d.SMTPUsername,
			Password: string(d.SMTPPassword), From: d.SMTPFrom, TLS: delivery.TLSMode(d.SMTPTLS), CAFile: d.SMTPCAFile},
		Twilio: delivery.TwilioConfig{BaseURL: d.TwilioBaseURL, AccountSID: d.TwilioAccountSID,
			AuthToken: string(d.TwilioAuthToken), From: d.TwilioFrom, MessagingServiceSID: d.TwilioMessagingServiceSID},
		EmailWebhook: delivery.WebhookConfig{URL: d.EmailWebhookURL, Source: publicURL},
		SMSWebhook:   delivery.WebhookConfig{URL: d.SMSWebhookURL, Source: publicURL},
	}
	if d.EmailWebhookSecret != "" {
		out.EmailWebhook.Secrets = []string{string(d.EmailWebhookSecret)}
	}
	if d.SMSWebhookSecret != "" {
		out.SMSWebhook.Secrets = []string{string(d.SMSWebhookSecret)}
	}
	return out
}
