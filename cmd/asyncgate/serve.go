package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"
	"go.temporal.io/sdk/client"

	"github.com/asyncgate/asyncgate/activities"
	"github.com/asyncgate/asyncgate/api"
	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/config"
	"github.com/asyncgate/asyncgate/demo"
	"github.com/asyncgate/asyncgate/devserver"
	"github.com/asyncgate/asyncgate/dispatch"
	"github.com/asyncgate/asyncgate/handler"
	"github.com/asyncgate/asyncgate/metrics"
	"github.com/asyncgate/asyncgate/notify"
	"github.com/asyncgate/asyncgate/requestid"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/worker"
	"github.com/asyncgate/asyncgate/workflows"
)

func runAPI(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.FromEnv(config.ModeAPI, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	db, s, cat, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	m := newMetrics(s)
	opts, err := temporalOptions(cfg, log, m)
	if err != nil {
		return err
	}
	// Lazy: the API accepts requests while Temporal is unreachable.
	tc, err := client.NewLazyClient(opts)
	if err != nil {
		return fmt.Errorf("temporal client: %w", err)
	}
	defer tc.Close()
	log.Info("api listening", "addr", ln.Addr().String(), "temporal", cfg.TemporalAddress, "dispatch", cfg.Dispatch)
	return serveAPI(ctx, cfg, log, s, cat, tc, ln, demoMount(cfg), m)
}

// serveAPI runs the HTTP API and, when configured, the outbox dispatcher,
// until ctx ends.
func serveAPI(ctx context.Context, cfg config.Config, log *slog.Logger, s *store.Store, cat *catalog.Cache,
	tc client.Client, ln net.Listener, mount func(fiber.Router), m *metrics.Metrics) error {
	var wg sync.WaitGroup
	dctx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopDispatch(); wg.Wait() }()
	kick := func() {}
	if cfg.Dispatch {
		d := dispatch.New(s, cat, tc, dispatch.Options{
			TaskQueue: cfg.TaskQueue, Concurrency: cfg.DispatchConcurrency, Sweep: cfg.DispatchSweep,
		}, log.With("component", "dispatcher"))
		kick = d.Kick
		wg.Add(1)
		go func() { defer wg.Done(); d.Run(dctx) }()
	}
	srv := api.New(api.Deps{
		Store: s, Catalog: cat, Temporal: tc, IDs: requestid.New(), Kick: kick, Logger: log.With("component", "api"),
		AdminToken: cfg.AdminToken, PublicURL: cfg.PublicURL, TemporalUIURL: cfg.TemporalUIURL,
		Namespace: cfg.TemporalNamespace, TokenTTL: cfg.TokenTTL, MaxBodyBytes: cfg.MaxBodyBytes,
		RequestTimeout: cfg.RequestTimeout, StatusQueryTimeout: cfg.StatusQueryTimeout, Mount: mount,
		TaskQueue: cfg.TaskQueue, NotifyPolicy: notifyPolicy(cfg), Builtins: builtinNames(), Metrics: m,
	})
	return srv.Serve(ctx, ln)
}

func runWorker(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.FromEnv(config.ModeWorker, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	db, s, cat, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	m := newMetrics(s)
	tc, err := connectTemporal(ctx, cfg, log, m)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := worker.EnsureSearchAttributes(ctx, tc, cfg.TemporalNamespace); err != nil {
		return err
	}
	var wg sync.WaitGroup
	if cfg.Dispatch {
		d := dispatch.New(s, cat, tc, dispatch.Options{TaskQueue: cfg.TaskQueue, Concurrency: cfg.DispatchConcurrency,
			Sweep: cfg.DispatchSweep}, log.With("component", "dispatcher"))
		wg.Add(1)
		go func() { defer wg.Done(); d.Run(ctx) }()
	}
	if cfg.MetricsAddr != "off" {
		srv := &http.Server{Addr: cfg.MetricsAddr, Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
		// A busy port (a second worker on this host) costs the metrics, not the worker.
		if ln, err := net.Listen("tcp", cfg.MetricsAddr); err != nil {
			log.Warn("worker metrics not served (set ASYNCGATE_METRICS_ADDR)", "addr", cfg.MetricsAddr, "error", err)
		} else {
			go func() { _ = srv.Serve(ln) }()
			defer func() {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
			}()
			log.Info("worker metrics", "addr", ln.Addr().String())
		}
	}
	err = worker.Run(ctx, tc, newActivities(cfg, s, cat, m), workerOptions(cfg, log))
	wg.Wait()
	return err
}

// connectTemporal dials the configured cluster (waiting while it is
// unreachable), with the SDK's metrics in m.
func connectTemporal(ctx context.Context, cfg config.Config, log *slog.Logger, m *metrics.Metrics) (client.Client, error) {
	opts, err := temporalOptions(cfg, log, m)
	if err != nil {
		return nil, err
	}
	return dialTemporal(ctx, opts, log)
}

// newMetrics is the process's registry, the intermediate table's backlog
// read at each scrape.
func newMetrics(s *store.Store) *metrics.Metrics {
	m := metrics.New()
	m.WatchBacklog(func(ctx context.Context) (metrics.BacklogStats, error) {
		b, err := s.ReadBacklog(ctx)
		return metrics.BacklogStats{ByStatus: map[string]int{"new": b.New, "doing": b.Doing},
			DispatchPending: b.DispatchPending, OldestUnfinished: b.OldestUnfinished}, err
	})
	return m
}

func newActivities(cfg config.Config, s *store.Store, cat *catalog.Cache, m *metrics.Metrics) *activities.Activities {
	reg := handler.NewRegistry(forwardClient())
	demo.RegisterHandlers(reg)
	return &activities.Activities{Store: s, Catalog: cat, Handlers: reg,
		Notifier: notify.NewSender(notify.Config{Timeout: cfg.NotifyTimeout, Allow: cfg.NotifyAllow}),
		Notify:   notifyPolicy(cfg), Metrics: m}
}

// builtinNames are the built-in handlers this binary's workers register.
func builtinNames() []string {
	reg := handler.NewRegistry(nil)
	demo.RegisterHandlers(reg)
	return reg.Names()
}

func notifyPolicy(cfg config.Config) activities.NotifyPolicy {
	return activities.NotifyPolicy{Attempts: cfg.NotifyAttempts, Backoff: cfg.NotifyBackoff}
}

func workerOptions(cfg config.Config, log *slog.Logger) worker.Options {
	return worker.Options{TaskQueue: cfg.TaskQueue, MaxActivities: cfg.WorkerActivities, MaxWorkflows: cfg.WorkerWorkflows,
		Pollers: cfg.WorkerPollers,
		Logger:  log.With("component", "worker")}
}

// startDevServer starts the embedded Temporal server and Web UI.
func startDevServer(ctx context.Context, cfg config.Config, log *slog.Logger) (*devserver.Server, error) {
	ui := cfg.TemporalUIAddr
	if ui == "off" {
		ui = ""
	}
	return devserver.Start(ctx, devserver.Options{
		DataDir: filepath.Join(cfg.DataDir, "temporal"), FrontendAddr: cfg.TemporalAddress, UIAddr: ui,
		Namespace: cfg.TemporalNamespace, Retention: cfg.DevRetention, SearchAttributes: workflows.SearchAttributes(),
		Logger: log.With("component", "temporal-server"),
	})
}

func runTemporal(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.FromEnv(config.ModeDev, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	srv, err := startDevServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Temporal frontend %s, Web UI %s, data in %s\n", srv.FrontendHostPort(), orNone(srv.UIURL()), cfg.DataDir)
	<-ctx.Done()
	return srv.Stop()
}

func runDev(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.FromEnv(config.ModeDev, getenv)
	if err != nil {
		return err
	}
	adminShown := "(from ASYNCGATE_ADMIN_TOKEN)"
	if cfg.AdminToken == "" { // generated for this run only, so it is shown
		var b [16]byte
		_, _ = rand.Read(b[:])
		cfg.AdminToken = "dev-" + hex.EncodeToString(b[:])
		adminShown = cfg.AdminToken
	}
	log := newLogger(cfg, os.Stderr)
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	defer ln.Close()
	db, s, cat, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	srv, err := startDevServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Stop()
	m := newMetrics(s)
	tc, err := connectTemporal(ctx, cfg, log, m)
	if err != nil {
		return err
	}
	defer tc.Close()

	wctx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	werr := make(chan error, 1)
	go func() { werr <- worker.Run(wctx, tc, newActivities(cfg, s, cat, m), workerOptions(cfg, log)) }()

	banner(stdout, cfg, srv, adminShown)
	err = serveAPI(ctx, cfg, log, s, cat, tc, ln, demoMount(cfg), m)
	stopWorker()
	if werr := <-werr; err == nil {
		err = werr
	}
	return err
}

func banner(w io.Writer, cfg config.Config, srv *devserver.Server, admin string) {
	fmt.Fprintf(w, `
asyncgate dev is up
  API           %s   (try %s/healthz)
  Temporal UI   %s
  Temporal gRPC %s   namespace %q, task queue %q
  PostgreSQL    %s
  Data dir      %s
  Admin token   %s
  Demo app      client_id=demo-app client_secret=demo-secret
  Demo API      POST %s/kapi/v2/demo/demo_order/batchSave
  TOP/ATS       %s/router/rest   app_key=demo-top-app secret=demo-top-secret (try: asyncgate top taobao.topats.trades.fullinfo.get tids=1,2 fields=tid)
  Callbacks     received by the demo receiver: %s/demo/notify/received
Press Ctrl-C to stop.
`, cfg.PublicURL, cfg.PublicURL, orNone(srv.UIURL()), srv.FrontendHostPort(), cfg.TemporalNamespace, cfg.TaskQueue,
		redactedDSN(cfg.DatabaseURL), cfg.DataDir, admin, cfg.PublicURL, cfg.PublicURL, cfg.PublicURL)
}

func orNone(s string) string {
	if s == "" {
		return "(off)"
	}
	return s
}

// openBackend opens and migrates the database, seeds the demo catalog when
// configured, and loads the catalog cache.
func openBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (*sqlx.DB, *store.Store, *catalog.Cache, error) {
	db, s, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := seedDemo(ctx, cfg, s); err != nil {
		_ = db.Close()
		return nil, nil, nil, err
	}
	cat, err := loadCatalog(ctx, s, log)
	if err != nil {
		_ = db.Close()
		return nil, nil, nil, err
	}
	return db, s, cat, nil
}

// seedDemo loads the demo app and APIs (ASYNCGATE_SEED_DEMO; on for dev).
func seedDemo(ctx context.Context, cfg config.Config, s *store.Store) error {
	if !cfg.SeedDemo {
		return nil
	}
	f, err := demo.Catalog(cfg.PublicURL)
	if err != nil {
		return fmt.Errorf("demo catalog: %w", err)
	}
	if _, err := s.Import(ctx, f); err != nil {
		return fmt.Errorf("seed demo catalog: %w", err)
	}
	return nil
}

// demoMount serves the demo synchronous API next to the demo catalog, whose
// HTTP-forward API calls it.
// demoMount serves the demo's sync API and callback receiver in dev.
func demoMount(cfg config.Config) func(fiber.Router) {
	if !cfg.SeedDemo {
		return nil
	}
	f, err := demo.Catalog(cfg.PublicURL)
	if err != nil {
		return demo.MountSyncAPI // the catalog is embedded and tested; seeding reports the error
	}
	rc := demo.NewReceiver(f.Apps)
	return func(r fiber.Router) {
		demo.MountSyncAPI(r)
		rc.Mount(r)
	}
}
