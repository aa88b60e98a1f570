package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/config"
	"github.com/asyncgate/asyncgate/metrics"
	"github.com/asyncgate/asyncgate/store"
)

const usage = `asyncgate — asynchronous open-API gateway on Temporal

Usage:
  asyncgate dev                 embedded Temporal + Web UI, migrations, demo catalog, API and worker in one process
  asyncgate api                 the HTTP API (and the outbox dispatcher) against TEMPORAL_ADDRESS and DATABASE_URL
  asyncgate worker              a Temporal worker processing requests
  asyncgate migrate             apply the database migrations and exit
  asyncgate apis import FILE    import apps and API definitions from a YAML or JSON file
  asyncgate temporal            only the embedded Temporal server and Web UI (for running api and worker apart)
  asyncgate top METHOD [k=v…]   one signed TOP call to /router/rest (defaults: the dev server's demo-top-app)
  asyncgate call API --data FILE [--wait] [--out FILE]
                                submit a call (API code or path), wait with a progress bar, write results as JSON or CSV

Configuration is read from environment variables; see README.md.
`

// run dispatches a subcommand. getenv and stdout are parameters so tests
// can drive it without touching the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("no subcommand given")
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, getenv, stdout)
	case "api":
		return runAPI(ctx, getenv)
	case "worker":
		return runWorker(ctx, getenv)
	case "migrate":
		return runMigrate(ctx, getenv, stdout)
	case "temporal":
		return runTemporal(ctx, getenv, stdout)
	case "apis":
		if len(args) != 3 || args[1] != "import" {
			return errors.New("usage: asyncgate apis import FILE")
		}
		return runImport(ctx, getenv, stdout, args[2])
	case "top":
		return runTopCall(ctx, args[1:], getenv, stdout)
	case "call":
		return runCall(ctx, args[1:], getenv, stdout, os.Stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
}

// newLogger is the one JSON logger of the process; the Temporal SDK gets
// the same one.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// openStore connects (creating the database if needed) and migrates.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*sqlx.DB, *store.Store, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	applied, err := store.Migrate(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "files", applied)
	}
	return db, store.New(db), nil
}

// loadCatalog fills a cache and keeps it fresh until ctx ends.
func loadCatalog(ctx context.Context, s *store.Store, log *slog.Logger) (*catalog.Cache, error) {
	c := catalog.NewCache(s)
	if err := c.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	go c.Run(ctx, 2*time.Second, func(err error) { log.Warn("refresh catalog", "error", err) })
	return c, nil
}

// temporalOptions builds SDK client options from the config.
func temporalOptions(cfg config.Config, log *slog.Logger, m *metrics.Metrics) (client.Options, error) {
	o := client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.TemporalNamespace,
		Logger:         sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
		MetricsHandler: m.TemporalHandler(),
	}
	if cfg.TemporalAPIKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(cfg.TemporalAPIKey)
	}
	if cfg.TLSEnabled() {
		tc := &tls.Config{ServerName: cfg.TemporalTLSServerName, MinVersion: tls.VersionTLS12}
		if cfg.TemporalTLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TemporalTLSCert, cfg.TemporalTLSKey)
			if err != nil {
				return o, fmt.Errorf("load TEMPORAL_TLS_CERT/KEY: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if cfg.TemporalTLSCA != "" {
			pem, err := os.ReadFile(cfg.TemporalTLSCA)
			if err != nil {
				return o, fmt.Errorf("read TEMPORAL_TLS_CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return o, errors.New("TEMPORAL_TLS_CA: no certificate found")
			}
			tc.RootCAs = pool
		}
		o.ConnectionOptions.TLS = tc
	}
	return o, nil
}

// dialTemporal connects, retrying while the cluster is unreachable: a
// worker started before Temporal waits for it instead of exiting.
func dialTemporal(ctx context.Context, o client.Options, log *slog.Logger) (client.Client, error) {
	delay := 500 * time.Millisecond
	for {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := client.DialContext(dctx, o)
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to Temporal at %s: %w", o.HostPort, err)
		}
		log.Warn("Temporal unreachable, retrying", "address", o.HostPort, "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to Temporal at %s: %w", o.HostPort, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// forwardClient is the HTTP client of HTTP-forward handlers: short
// timeouts, no redirects followed.
func forwardClient() *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second, // per-call timeouts come from the definition
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// listen opens the HTTP listener early so a busy port fails at start.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (set ASYNCGATE_HTTP_ADDR): %w", addr, err)
	}
	return ln, nil
}

func runMigrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.FromEnv(config.ModeTool, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	db, _, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "database is up to date")
	return nil
}

func runImport(ctx context.Context, getenv func(string) string, stdout io.Writer, path string) error {
	cfg, err := config.FromEnv(config.ModeTool, getenv)
	if err != nil {
		return err
	}
	f, err := catalog.LoadFile(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	log := newLogger(cfg, os.Stderr)
	db, s, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := s.Import(ctx, f)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "imported %d APIs and %d apps from %s\n", res.APIs, res.Apps, path)
	return nil
}

func redactedDSN(dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 {
		if j := strings.Index(dsn, "://"); j > 0 && j < i {
			return dsn[:j+3] + "…" + dsn[i:]
		}
	}
	return dsn
}
