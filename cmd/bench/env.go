package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const (
	rawQueue    = "bench-raw"    // the bench's own worker runs RawBatch here
	idleQueue   = "bench-nobody" // raw starts land here; no worker polls it
	adminToken  = "bench-admin-token-0123456789"
	dbPrefix    = "asyncgate_bench_"
	defaultPgDB = "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5"
)

// env is the system under test and its baselines, all on loopback.
type env struct {
	o        options
	dir      string
	admin    *sqlx.DB
	dbs      []string
	db       *sqlx.DB // the main asyncgate database
	temporal *proc
	api      *proc // dispatch on: the system as deployed
	apiAcc   *proc // dispatch off, own database: the receipt path alone
	worker   *proc
	tc       client.Client
	rawW     worker.Worker
	fiber    *fiber.App
	fiberURL string
	gw       *gateway // → api
	gwAcc    *gateway // → apiAcc
}

func newEnv(ctx context.Context, o options) (_ *env, err error) {
	e := &env{o: o}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if _, err := os.Stat(o.bin); err != nil {
		return nil, fmt.Errorf("asyncgate binary: %w (scripts/bench builds it)", err)
	}
	if e.dir, err = os.MkdirTemp("", "asyncgate-bench-"); err != nil {
		return nil, err
	}
	server := os.Getenv("TEST_DATABASE_URL")
	if server == "" {
		server = defaultPgDB
	}
	if e.admin, err = sqlx.Open("postgres", server); err != nil {
		return nil, err
	}
	mainDSN, err := e.createDB(server)
	if err != nil {
		return nil, err
	}
	accDSN, err := e.createDB(server)
	if err != nil {
		return nil, err
	}
	if e.db, err = sqlx.Open("postgres", mainDSN); err != nil {
		return nil, err
	}

	frontend, err := freeAddr()
	if err != nil {
		return nil, err
	}
	e.temporal = &proc{name: "temporal", bin: o.bin, args: []string{"temporal"}, env: map[string]string{
		"TEMPORAL_ADDRESS": frontend, "ASYNCGATE_TEMPORAL_UI_ADDR": "off",
		"ASYNCGATE_DATA_DIR": filepath.Join(e.dir, "data"), "ASYNCGATE_LOG_LEVEL": "warn",
	}}
	progress("starting the embedded Temporal server")
	if err := e.startTemporal(); err != nil {
		return nil, err
	}

	common := func(dsn, addr string, dispatch bool) map[string]string {
		return map[string]string{
			"DATABASE_URL": dsn, "TEMPORAL_ADDRESS": frontend, "ASYNCGATE_HTTP_ADDR": addr,
			"ASYNCGATE_ADMIN_TOKEN": adminToken, "ASYNCGATE_SEED_DEMO": "true", "ASYNCGATE_LOG_LEVEL": "warn",
			"ASYNCGATE_DISPATCH": fmt.Sprint(dispatch),
		}
	}
	apiAddr, _ := freeAddr()
	accAddr, _ := freeAddr()
	e.api = &proc{name: "api", bin: o.bin, args: []string{"api"}, env: common(mainDSN, apiAddr, true)}
	e.apiAcc = &proc{name: "api-accept", bin: o.bin, args: []string{"api"}, env: common(accDSN, accAddr, false)}
	wenv := common(mainDSN, "", false)
	delete(wenv, "ASYNCGATE_HTTP_ADDR")
	wenv["ASYNCGATE_LOG_LEVEL"] = "info" // to see "worker polling"
	wenv["ASYNCGATE_METRICS_ADDR"] = "127.0.0.1:0"
	e.worker = &proc{name: "worker", bin: o.bin, args: []string{"worker"}, env: wenv}
	progress("starting asyncgate api, api (dispatch off) and worker")
	for _, p := range []*proc{e.api, e.apiAcc, e.worker} {
		if err := p.start(); err != nil {
			return nil, err
		}
	}
	for _, a := range []string{apiAddr, accAddr} {
		if err := waitHTTP(ctx, "http://"+a+"/readyz", 60*time.Second); err != nil {
			return nil, fmt.Errorf("%w\napi: %s\napi-accept: %s", err, tail(e.api.output(), 10), tail(e.apiAcc.output(), 10))
		}
	}
	if err := e.worker.waitOutput("worker polling", 60*time.Second); err != nil {
		return nil, err
	}
	hc := newHTTPClient(o.concurrency)
	e.gw = &gateway{base: "http://" + apiAddr, http: hc}
	e.gwAcc = &gateway{base: "http://" + accAddr, http: hc}
	if err := e.gw.login(ctx); err != nil {
		return nil, err
	}
	if err := e.gwAcc.login(ctx); err != nil {
		return nil, err
	}

	// Baselines in this process: a bare Fiber handler and a raw worker.
	e.fiber = fiber.New(fiber.Config{DisableStartupMessage: true})
	e.fiber.Post("/bare", func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": "accepted"})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.fiberURL = "http://" + ln.Addr().String() + "/bare"
	go func() { _ = e.fiber.Listener(ln) }()

	quiet := log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if e.tc, err = client.Dial(client.Options{HostPort: frontend, Logger: quiet}); err != nil {
		return nil, fmt.Errorf("dial Temporal: %w", err)
	}
	e.rawW = worker.New(e.tc, rawQueue, worker.Options{MaxConcurrentActivityExecutionSize: 200,
		MaxConcurrentWorkflowTaskExecutionSize: 100})
	e.rawW.RegisterWorkflowWithOptions(RawBatch, workflow.RegisterOptions{Name: "RawBatch"})
	e.rawW.RegisterActivity(RawNoop)
	return e, nil
}

func (e *env) startTemporal() error {
	if err := e.temporal.start(); err != nil {
		return err
	}
	return e.temporal.waitOutput("Temporal frontend", 120*time.Second)
}

func (e *env) createDB(server string) (string, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := dbPrefix + hex.EncodeToString(b[:])
	if _, err := e.admin.Exec(`CREATE DATABASE ` + pq.QuoteIdentifier(name)); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	e.dbs = append(e.dbs, name)
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func (e *env) close() {
	if e.rawW != nil {
		e.rawW.Stop()
	}
	if e.tc != nil {
		e.tc.Close()
	}
	if e.fiber != nil {
		_ = e.fiber.Shutdown()
	}
	for _, p := range []*proc{e.worker, e.api, e.apiAcc, e.temporal} {
		if p != nil {
			p.stop(10 * time.Second)
		}
	}
	if e.db != nil {
		_ = e.db.Close()
	}
	if e.admin != nil {
		for _, name := range e.dbs {
			_, _ = e.admin.Exec(`DROP DATABASE IF EXISTS ` + pq.QuoteIdentifier(name) + ` WITH (FORCE)`)
		}
		_ = e.admin.Close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
