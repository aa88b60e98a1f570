// Package config reads asyncgate's configuration from environment variables,
// once, into one typed and validated struct. Every field documents its
// variable and default; README.md lists them too.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/asyncgate/asyncgate/notify"
)

// Config is the whole configuration of every subcommand.
type Config struct {
	// HTTPAddr is where the API listens. ASYNCGATE_HTTP_ADDR, default 127.0.0.1:8080.
	HTTPAddr string
	// PublicURL is the service address shown to users (full request URLs,
	// links). ASYNCGATE_PUBLIC_URL, default http://<HTTPAddr>.
	PublicURL string
	// DatabaseURL is the PostgreSQL DSN. DATABASE_URL, default
	// postgres://postgres:postgres@127.0.0.1:5432/asyncgate?sslmode=disable&connect_timeout=5.
	// The database is created when missing.
	DatabaseURL string
	// DataDir holds the embedded Temporal server's SQLite file (dev only).
	// ASYNCGATE_DATA_DIR, default .asyncgate.
	DataDir string

	// TemporalAddress is the frontend to connect to. TEMPORAL_ADDRESS,
	// default 127.0.0.1:7233 (the dev server listens there).
	TemporalAddress string
	// TemporalNamespace. TEMPORAL_NAMESPACE, default "default".
	TemporalNamespace string
	// TLS for a real cluster: TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY (client
	// certificate files), TEMPORAL_TLS_CA (CA file), TEMPORAL_TLS_SERVER_NAME;
	// TEMPORAL_API_KEY for Temporal Cloud API keys. All empty by default.
	TemporalTLSCert, TemporalTLSKey, TemporalTLSCA, TemporalTLSServerName string
	TemporalAPIKey                                                        string
	// TemporalUIAddr is where `dev` serves the Temporal Web UI.
	// ASYNCGATE_TEMPORAL_UI_ADDR, default 127.0.0.1:8233; "off" disables it.
	TemporalUIAddr string
	// TemporalUIURL is the UI address used in links to runs.
	// ASYNCGATE_TEMPORAL_UI_URL, default http://<TemporalUIAddr>.
	TemporalUIURL string
	// TaskQueue the worker polls. ASYNCGATE_TASK_QUEUE, default asyncgate.
	TaskQueue string
	// Retention of closed runs in the dev namespace. ASYNCGATE_DEV_RETENTION, default 168h.
	DevRetention time.Duration

	// AdminToken guards /admin. ASYNCGATE_ADMIN_TOKEN; required for `api`,
	// `dev` generates one (printed at start) when empty.
	AdminToken string
	// TokenTTL is the access_token lifetime. ASYNCGATE_TOKEN_TTL, default 2h.
	TokenTTL time.Duration
	// MaxBodyBytes bounds a request body. ASYNCGATE_MAX_BODY_BYTES, default 4194304.
	MaxBodyBytes int
	// RequestTimeout bounds each API call's own work. ASYNCGATE_REQUEST_TIMEOUT, default 10s.
	RequestTimeout time.Duration
	// StatusQueryTimeout bounds the workflow query behind checkStatus before
	// falling back to the table. ASYNCGATE_STATUS_QUERY_TIMEOUT, default 20ms.
	StatusQueryTimeout time.Duration

	// Dispatch runs the outbox dispatcher (starts workflows from the table)
	// in this process. ASYNCGATE_DISPATCH, default true for api and dev.
	Dispatch bool
	// DispatchConcurrency is how many workflow starts run at once.
	// ASYNCGATE_DISPATCH_CONCURRENCY, default 16.
	DispatchConcurrency int
	// DispatchSweep is how often the sweeper looks for unstarted requests.
	// ASYNCGATE_DISPATCH_SWEEP, default 1s.
	DispatchSweep time.Duration

	// WorkerActivities caps concurrent item activities per worker.
	// ASYNCGATE_WORKER_ACTIVITIES, default 200.
	WorkerActivities int
	// WorkerWorkflows caps concurrent workflow tasks per worker.
	// ASYNCGATE_WORKER_WORKFLOWS, default 100.
	WorkerWorkflows int
	// WorkerPollers is the number of long polls per task type.
	// ASYNCGATE_WORKER_POLLERS, default 8.
	WorkerPollers int

	// NotifyAttempts is how many times a completion callback is tried in
	// all (the first plus re-sends). ASYNCGATE_NOTIFY_ATTEMPTS, default 4.
	NotifyAttempts int
	// NotifyBackoff is the wait before the first re-send; each next wait
	// doubles. ASYNCGATE_NOTIFY_BACKOFF, default 10s.
	NotifyBackoff time.Duration
	// NotifyTimeout bounds one callback attempt. ASYNCGATE_NOTIFY_TIMEOUT, default 5s.
	NotifyTimeout time.Duration
	// NotifyAllow lists addresses callbacks may reach although the SSRF
	// guard refuses them (loopback, private, link-local…), as CIDRs or IPs,
	// comma-separated. ASYNCGATE_NOTIFY_ALLOW, default 127.0.0.0/8,::1 for
	// dev, empty otherwise.
	NotifyAllow []netip.Prefix

	// MetricsAddr is where a worker running alone serves /metrics (the api
	// and dev serve it on the API port). ASYNCGATE_METRICS_ADDR, default
	// 127.0.0.1:9464 for worker; "off" disables it.
	MetricsAddr string

	// SeedDemo loads the demo catalog and demo app on start.
	// ASYNCGATE_SEED_DEMO, default true for dev, false otherwise.
	SeedDemo bool
	// LogLevel: debug, info, warn, error. ASYNCGATE_LOG_LEVEL, default info.
	LogLevel string
}

// Mode selects mode-specific defaults.
type Mode int

const (
	ModeDev Mode = iota
	ModeAPI
	ModeWorker
	ModeTool // migrate, apis import
)

// FromEnv reads the configuration for a mode. getenv is os.Getenv in main and
// a map lookup in tests.
func FromEnv(mode Mode, getenv func(string) string) (Config, error) {
	var errs []error
	str := func(key, def string) string { return cmp.Or(strings.TrimSpace(getenv(key)), def) }
	dur := func(key string, def time.Duration) time.Duration {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration like 10s", key, v))
			return def
		}
		return d
	}
	num := func(key string, def int) int {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive integer", key, v))
			return def
		}
		return n
	}
	boolean := func(key string, def bool) bool {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", key, v))
			return def
		}
		return b
	}

	c := Config{
		HTTPAddr:              str("ASYNCGATE_HTTP_ADDR", "127.0.0.1:8080"),
		DatabaseURL:           str("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/asyncgate?sslmode=disable&connect_timeout=5"),
		DataDir:               str("ASYNCGATE_DATA_DIR", ".asyncgate"),
		TemporalAddress:       str("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace:     str("TEMPORAL_NAMESPACE", "default"),
		TemporalTLSCert:       str("TEMPORAL_TLS_CERT", ""),
		TemporalTLSKey:        str("TEMPORAL_TLS_KEY", ""),
		TemporalTLSCA:         str("TEMPORAL_TLS_CA", ""),
		TemporalTLSServerName: str("TEMPORAL_TLS_SERVER_NAME", ""),
		TemporalAPIKey:        str("TEMPORAL_API_KEY", ""),
		TemporalUIAddr:        str("ASYNCGATE_TEMPORAL_UI_ADDR", "127.0.0.1:8233"),
		TaskQueue:             str("ASYNCGATE_TASK_QUEUE", "asyncgate"),
		DevRetention:          dur("ASYNCGATE_DEV_RETENTION", 7*24*time.Hour),
		AdminToken:            str("ASYNCGATE_ADMIN_TOKEN", ""),
		TokenTTL:              dur("ASYNCGATE_TOKEN_TTL", 2*time.Hour),
		MaxBodyBytes:          num("ASYNCGATE_MAX_BODY_BYTES", 4<<20),
		RequestTimeout:        dur("ASYNCGATE_REQUEST_TIMEOUT", 10*time.Second),
		StatusQueryTimeout:    dur("ASYNCGATE_STATUS_QUERY_TIMEOUT", 20*time.Millisecond),
		Dispatch:              boolean("ASYNCGATE_DISPATCH", mode == ModeDev || mode == ModeAPI),
		DispatchConcurrency:   num("ASYNCGATE_DISPATCH_CONCURRENCY", 16),
		DispatchSweep:         dur("ASYNCGATE_DISPATCH_SWEEP", time.Second),
		WorkerActivities:      num("ASYNCGATE_WORKER_ACTIVITIES", 200),
		WorkerWorkflows:       num("ASYNCGATE_WORKER_WORKFLOWS", 100),
		WorkerPollers:         num("ASYNCGATE_WORKER_POLLERS", 8),
		NotifyAttempts:        num("ASYNCGATE_NOTIFY_ATTEMPTS", 4),
		NotifyBackoff:         dur("ASYNCGATE_NOTIFY_BACKOFF", 10*time.Second),
		NotifyTimeout:         dur("ASYNCGATE_NOTIFY_TIMEOUT", 5*time.Second),
		MetricsAddr:           str("ASYNCGATE_METRICS_ADDR", "127.0.0.1:9464"),
		SeedDemo:              boolean("ASYNCGATE_SEED_DEMO", mode == ModeDev),
		LogLevel:              strings.ToLower(str("ASYNCGATE_LOG_LEVEL", "info")),
	}
	allowDefault := ""
	if mode == ModeDev {
		allowDefault = "127.0.0.0/8,::1/128"
	}
	allow, err := notify.ParseAllow(str("ASYNCGATE_NOTIFY_ALLOW", allowDefault))
	if err != nil {
		errs = append(errs, fmt.Errorf("ASYNCGATE_NOTIFY_ALLOW: %w", err))
	}
	c.NotifyAllow = allow
	c.PublicURL = strings.TrimRight(str("ASYNCGATE_PUBLIC_URL", "http://"+c.HTTPAddr), "/")
	uiDefault := ""
	if c.TemporalUIAddr != "off" {
		uiDefault = "http://" + c.TemporalUIAddr
	}
	c.TemporalUIURL = strings.TrimRight(str("ASYNCGATE_TEMPORAL_UI_URL", uiDefault), "/")

	errs = append(errs, c.validate(mode)...)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

func (c Config) validate(mode Mode) []error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("ASYNCGATE_HTTP_ADDR: %q is not host:port", c.HTTPAddr))
	}
	if _, _, err := net.SplitHostPort(c.TemporalAddress); err != nil {
		errs = append(errs, fmt.Errorf("TEMPORAL_ADDRESS: %q is not host:port", c.TemporalAddress))
	}
	if c.TemporalUIAddr != "off" {
		if _, _, err := net.SplitHostPort(c.TemporalUIAddr); err != nil {
			errs = append(errs, fmt.Errorf("ASYNCGATE_TEMPORAL_UI_ADDR: %q is not host:port or off", c.TemporalUIAddr))
		}
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("DATABASE_URL: must be a postgres:// URL"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("ASYNCGATE_PUBLIC_URL: %q is not an http(s) URL", c.PublicURL))
	}
	if (c.TemporalTLSCert == "") != (c.TemporalTLSKey == "") {
		errs = append(errs, errors.New("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together"))
	}
	if mode == ModeAPI && c.AdminToken == "" {
		errs = append(errs, errors.New("ASYNCGATE_ADMIN_TOKEN: required for api (at least 16 characters)"))
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("ASYNCGATE_ADMIN_TOKEN: must be at least 16 characters"))
	}
	if c.MetricsAddr != "off" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("ASYNCGATE_METRICS_ADDR: %q is not host:port or off", c.MetricsAddr))
		}
	}
	if c.NotifyAttempts < 1 || c.NotifyAttempts > 20 {
		errs = append(errs, fmt.Errorf("ASYNCGATE_NOTIFY_ATTEMPTS: %d is not from 1 to 20", c.NotifyAttempts))
	}
	if c.NotifyBackoff <= 0 {
		errs = append(errs, errors.New("ASYNCGATE_NOTIFY_BACKOFF: must be positive"))
	}
	if c.NotifyTimeout <= 0 || c.NotifyTimeout > time.Minute {
		errs = append(errs, errors.New("ASYNCGATE_NOTIFY_TIMEOUT: must be positive and at most 1m"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("ASYNCGATE_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel))
	}
	return errs
}

// TLSEnabled reports whether the Temporal connection uses TLS.
func (c Config) TLSEnabled() bool {
	return c.TemporalTLSCert != "" || c.TemporalTLSCA != "" || c.TemporalAPIKey != ""
}
