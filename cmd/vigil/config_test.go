package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envMap returns a getenv reading m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// load runs Load with a fresh flag set of the given scope.
func load(t *testing.T, env map[string]string, scope flagScope, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(envMap(env), fs, scope, args)
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := load(t, nil, scopeServe)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if diff := cmp.Diff(DefaultConfig(), cfg); diff != "" {
		t.Errorf("Load() without settings differs from DefaultConfig() (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v, want nil", err)
	}
	want := DefaultConfig()
	if want.Addr != "localhost:8080" || want.DataDir != "./vigil-data" || want.LogFormat != "text" ||
		want.LogLevel != slog.LevelInfo || want.KeyOverlap != 24*time.Hour || want.ShutdownTimeout != 25*time.Second {
		t.Errorf("DefaultConfig() = %+v, want the documented defaults", want)
	}
	if got, want := cfg.Database(), "sqlite:"+filepath.Join("vigil-data", "vigil.db"); got != want {
		t.Errorf("Database() = %q, want %q", got, want)
	}
	if got, want := cfg.MasterKeyPath(), filepath.Join("vigil-data", "master.key"); got != want {
		t.Errorf("MasterKeyPath() = %q, want %q", got, want)
	}
}

func TestLoadEnv(t *testing.T) {
	env := map[string]string{
		"VIGIL_ADDR":             "0.0.0.0:9000",
		"VIGIL_DATABASE_URL":     "postgres://vigil:pw@db:5432/vigil",
		"VIGIL_DATA_DIR":         "/var/lib/vigil",
		"VIGIL_PUBLIC_URL":       "https://auth.example.com",
		"VIGIL_LOG_LEVEL":        "debug",
		"VIGIL_LOG_FORMAT":       "json",
		"VIGIL_MASTER_KEY":       "  key-one  ",
		"VIGIL_MASTER_KEY_OLD":   "old-a, old-b,,",
		"VIGIL_CONFIG":           "/etc/vigil.yaml",
		"VIGIL_KEY_OVERLAP":      "1h30m",
		"VIGIL_SHUTDOWN_TIMEOUT": "5s",
		"VIGIL_POSTGRES_WRITERS": "16",

		"VIGIL_GEOIP_CITY":            "/geo/city.mmdb",
		"VIGIL_GEOIP_ASN":             "/geo/asn.mmdb",
		"VIGIL_GEOIP_ANONYMOUS":       "/geo/anon.mmdb",
		"VIGIL_ANONYMOUS_IP_LISTS":    "/lists/tor.txt, /lists/vpn.txt",
		"VIGIL_OFAC_COUNTRIES":        "cu,ir",
		"VIGIL_IMPOSSIBLE_TRAVEL_KMH": "900",
		"VIGIL_ATYPICAL_TRAVEL_KM":    "250.5",
	}
	cfg, err := load(t, env, scopeServe)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	want := Config{
		Addr:            "0.0.0.0:9000",
		DatabaseURL:     "postgres://vigil:pw@db:5432/vigil",
		DataDir:         "/var/lib/vigil",
		PublicURL:       "https://auth.example.com",
		LogLevel:        slog.LevelDebug,
		LogFormat:       "json",
		MasterKey:       "key-one",
		OldMasterKeys:   []Redacted{"old-a", "old-b"},
		ConfigFile:      "/etc/vigil.yaml",
		KeyOverlap:      90 * time.Minute,
		ShutdownTimeout: 5 * time.Second,
		PostgresWriters: 16,

		GeoIPCity: "/geo/city.mmdb", GeoIPASN: "/geo/asn.mmdb", GeoIPAnonymous: "/geo/anon.mmdb",
		AnonymousIPLists:    []string{"/lists/tor.txt", "/lists/vpn.txt"},
		OFACCountries:       "cu,ir",
		ImpossibleTravelKMH: 900,
		AtypicalTravelKM:    250.5,
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
	if got := cfg.Database(); got != "postgres://vigil:pw@db:5432/vigil" {
		t.Errorf("Database() = %q, want the configured URL", got)
	}
}

func TestLoadFlagsOverrideEnv(t *testing.T) {
	env := map[string]string{
		"VIGIL_ADDR":        "0.0.0.0:9000",
		"VIGIL_LOG_LEVEL":   "debug",
		"VIGIL_KEY_OVERLAP": "1h",
		"VIGIL_DATA_DIR":    "/from/env",
	}
	cfg, err := load(t, env, scopeServe,
		"--addr", "127.0.0.1:0", "--log-level", "warn", "--key-overlap", "2h",
		"--database-url", "sqlite:/tmp/x.db", "--public-url", "https://p.example", "--log-format=json",
		"--config", "c.yaml", "--shutdown-timeout", "3s", "--postgres-writers", "2",
		"--geoip-city", "city.mmdb", "--anonymous-ip-lists", "a.txt,b.txt", "--ofac-countries", "none",
		"--impossible-travel-kmh", "1200")
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	want := DefaultConfig()
	want.Addr = "127.0.0.1:0"
	want.LogLevel = slog.LevelWarn
	want.KeyOverlap = 2 * time.Hour
	want.DataDir = "/from/env" // not overridden by a flag
	want.DatabaseURL = "sqlite:/tmp/x.db"
	want.PublicURL = "https://p.example"
	want.LogFormat = "json"
	want.ConfigFile = "c.yaml"
	want.ShutdownTimeout = 3 * time.Second
	want.PostgresWriters = 2
	want.GeoIPCity = "city.mmdb"
	want.AnonymousIPLists = []string{"a.txt", "b.txt"}
	want.OFACCountries = "none"
	want.ImpossibleTravelKMH = 1200
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadScope(t *testing.T) {
	// The store-only commands do not accept server flags.
	if _, err := load(t, nil, scopeStore, "--addr", ":1"); err == nil {
		t.Errorf("Load(scopeStore, --addr) error = nil, want an unknown-flag error")
	}
	if _, err := load(t, nil, scopeStore, "--data-dir", "d"); err != nil {
		t.Errorf("Load(scopeStore, --data-dir) error = %v", err)
	}
	if _, err := load(t, nil, scopeStore, "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("Load(-h) error = %v, want flag.ErrHelp", err)
	}
}

func TestLoadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := map[string]string{
		"VIGIL_MASTER_KEY_FILE":     write("mk", "master-from-file\n"),
		"VIGIL_MASTER_KEY_OLD_FILE": write("old", "o1,o2\r\n"),
		"VIGIL_DATABASE_URL_FILE":   write("db", "postgres://u:secret@h/db\n"),
	}
	cfg, err := load(t, env, scopeServe)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if cfg.MasterKey != "master-from-file" {
		t.Errorf("MasterKey = %q, want the file content without newline", string(cfg.MasterKey))
	}
	if diff := cmp.Diff([]Redacted{"o1", "o2"}, cfg.OldMasterKeys); diff != "" {
		t.Errorf("OldMasterKeys mismatch (-want +got):\n%s", diff)
	}
	if cfg.DatabaseURL != "postgres://u:secret@h/db" {
		t.Errorf("DatabaseURL = %q, want the file content", string(cfg.DatabaseURL))
	}

	t.Run("BothSet", func(t *testing.T) {
		_, err := load(t, map[string]string{"VIGIL_MASTER_KEY": "x", "VIGIL_MASTER_KEY_FILE": env["VIGIL_MASTER_KEY_FILE"]}, scopeServe)
		if err == nil || !strings.Contains(err.Error(), "VIGIL_MASTER_KEY and VIGIL_MASTER_KEY_FILE are both set") {
			t.Errorf("Load() error = %v, want a both-set error", err)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		_, err := load(t, map[string]string{"VIGIL_DATABASE_URL_FILE": filepath.Join(dir, "nope")}, scopeServe)
		if err == nil || !strings.Contains(err.Error(), "VIGIL_DATABASE_URL_FILE") {
			t.Errorf("Load() error = %v, want an error naming VIGIL_DATABASE_URL_FILE", err)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		_, err := load(t, map[string]string{"VIGIL_MASTER_KEY_FILE": write("empty", "\n")}, scopeServe)
		if err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("Load() error = %v, want an empty-file error", err)
		}
	})
}

func TestLoadBadEnvJoinsErrors(t *testing.T) {
	_, err := load(t, map[string]string{
		"VIGIL_KEY_OVERLAP":      "soon",
		"VIGIL_SHUTDOWN_TIMEOUT": "10",
		"VIGIL_POSTGRES_WRITERS": "many",
		"VIGIL_LOG_LEVEL":        "loud",
	}, scopeServe)
	if err == nil {
		t.Fatal("Load() error = nil, want errors")
	}
	for _, name := range []string{"VIGIL_KEY_OVERLAP", "VIGIL_SHUTDOWN_TIMEOUT", "VIGIL_POSTGRES_WRITERS", "VIGIL_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Load() error = %q, want it to name %s", err, name)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings of the error; nil: valid
	}{
		{"Defaults", func(*Config) {}, nil},
		{"Postgres", func(c *Config) { c.DatabaseURL = "postgresql://u@h:5432/db?sslmode=disable" }, nil},
		{"SQLiteFile", func(c *Config) { c.DatabaseURL = "sqlite:///tmp/v.db" }, nil},
		{"SQLiteParams", func(c *Config) { c.DatabaseURL = "sqlite:v.db?_pragma=x" }, []string{"database-url:"}},
		{"PortZero", func(c *Config) { c.Addr = "127.0.0.1:0" }, nil},
		{"BadAddr", func(c *Config) { c.Addr = "localhost" }, []string{"addr:"}},
		{"BadPort", func(c *Config) { c.Addr = "localhost:99999" }, []string{"addr:"}},
		{"BadDatabase", func(c *Config) { c.DatabaseURL = "mysql://h/db" }, []string{"database-url:"}},
		{"NoSQLitePath", func(c *Config) { c.DatabaseURL = "sqlite:" }, []string{"database-url:"}},
		{"BadPublicURL", func(c *Config) { c.PublicURL = "auth.example.com" }, []string{"public-url:"}},
		{"PublicURLQuery", func(c *Config) { c.PublicURL = "https://a.example/?x=1" }, []string{"public-url:"}},
		{"BadFormat", func(c *Config) { c.LogFormat = "xml" }, []string{"log-format:"}},
		{"BadLevel", func(c *Config) { c.LogLevel = slog.Level(3) }, []string{"log-level:"}},
		{"NoDataDir", func(c *Config) { c.DataDir = "" }, []string{"data-dir:"}},
		{"Timeouts", func(c *Config) { c.ShutdownTimeout = 0; c.KeyOverlap = -time.Second }, []string{"shutdown-timeout:", "key-overlap:"}},
		{"Travel", func(c *Config) { c.ImpossibleTravelKMH = 0; c.AtypicalTravelKM = -1 }, []string{"impossible-travel-kmh:", "atypical-travel-km:"}},
		{"Writers", func(c *Config) { c.PostgresWriters = -1 }, []string{"postgres-writers:"}},
		{"AllAtOnce", func(c *Config) {
			c.Addr = "nope"
			c.LogFormat = "xml"
			c.PublicURL = "ftp://x"
			c.DatabaseURL = "oracle://x"
		}, []string{"addr:", "log-format:", "public-url:", "database-url:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if got := len(strings.Split(err.Error(), "\n")); got != len(tt.want) {
				t.Errorf("Validate() reported %d problems, want %d: %q", got, len(tt.want), err)
			}
		})
	}
}

func TestSecretsAreNotShown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MasterKey = "super-secret-master"
	cfg.OldMasterKeys = []Redacted{"super-secret-old"}
	cfg.DatabaseURL = "postgres://vigil:super-secret-pw@db/vigil"

	var buf bytes.Buffer
	for _, format := range []string{"text", "json"} {
		cfg.LogFormat = format
		cfg.newLogger(&buf).Info("starting", "config", cfg, "key", cfg.MasterKey)
	}
	fmt.Fprintf(&buf, "%v %+v %#v %s", cfg, cfg, cfg, cfg.MasterKey)
	out := buf.String()
	if strings.Contains(out, "super-secret") {
		t.Errorf("output shows a secret:\n%s", out)
	}
	if !strings.Contains(out, "db/vigil") {
		t.Errorf("log does not show the redacted database URL:\n%s", out)
	}
	if got := Redacted("").String(); got != "" {
		t.Errorf(`Redacted("").String() = %q, want ""`, got)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	tests := []struct {
		in, dialect string
		ok          bool
	}{
		{"postgres://u:p@h/db", "postgres", true},
		{"postgresql://h/db", "postgres", true},
		{"postgres:///db", "", false},
		{"sqlite:./vigil-data/vigil.db", "sqlite", true},
		{"sqlite:///abs/vigil.db", "sqlite", true},
		{"file:v.db", "", false},
		{"sqlite:?x=1", "", false},
		{"sqlite:v.db?_pragma=x", "", false},
		{"vigil.db", "", false},
	}
	for _, tt := range tests {
		d, _, err := parseDatabaseURL(tt.in)
		if (err == nil) != tt.ok || d != tt.dialect {
			t.Errorf("parseDatabaseURL(%q) = %q, %v; want %q, ok=%v", tt.in, d, err, tt.dialect, tt.ok)
		}
	}
}
