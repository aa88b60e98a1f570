// Package devserver runs a Temporal server and its Web UI inside the
// asyncgate process, persisted to a SQLite file, for `asyncgate dev` and
// tests. It uses only the server module's public packages; production
// deployments point `api` and `worker` at a real cluster instead.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	dbFile      = "temporal.db"
	versionFile = "VERSION"
	clusterName = "active"
	loopback    = "127.0.0.1"

	// minRetention is the server's floor for a local namespace
	// (system.namespaceMinRetentionLocal); checked up front so a bad
	// setting fails before anything is written.
	minRetention = time.Hour
	// readyTimeout bounds the wait for the frontend after Start; the
	// caller's context may end it sooner.
	readyTimeout = 60 * time.Second
)

// Options configure the embedded server.
type Options struct {
	DataDir      string        // holds temporal.db and VERSION; created if missing
	FrontendAddr string        // frontend gRPC host:port, e.g. 127.0.0.1:7233
	UIAddr       string        // Web UI host:port; empty: no UI
	Namespace    string        // registered when missing; default "default"
	Retention    time.Duration // the namespace's retention, applied on every start; default 24h, at least 1h
	// SearchAttributes are custom search attributes ensured on the
	// namespace at every start (added when missing, never removed).
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs: warnings and errors only, unless
	// it is enabled for debug.
	Logger *slog.Logger
}

// Server is a running embedded Temporal server (and UI).
type Server struct {
	frontend string
	uiURL    string
	temporal temporal.Server
	quiet    *atomic.Bool // set on Stop: see slogLogger
	ui       *uiserver.Server
	uiDone   chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// FrontendHostPort is the gRPC address clients dial.
func (s *Server) FrontendHostPort() string { return s.frontend }

// UIURL is the Web UI's base URL, or "" when no UI runs.
func (s *Server) UIURL() string { return s.uiURL }

// Stop stops the UI and the server; later calls return the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.quiet.Store(true)
		s.stopUI()
		if err := s.temporal.Stop(); err != nil {
			s.stopErr = fmt.Errorf("stop Temporal server: %w", err)
		}
	})
	return s.stopErr
}

func (s *Server) stopUI() {
	if s.ui == nil {
		return
	}
	s.ui.Stop()
	<-s.uiDone
}

// Start opens (or creates) the SQLite file, starts the four Temporal
// services on loopback, waits until the frontend answers, makes sure the
// namespace has the wanted retention and search attributes, then starts the
// UI. On error nothing is left running.
func Start(ctx context.Context, o Options) (*Server, error) {
	o, err := withDefaults(o)
	if err != nil {
		return nil, err
	}
	bindHost, port, err := splitAddr(o.FrontendAddr)
	if err != nil {
		return nil, fmt.Errorf("frontend address: %w", err)
	}
	// Clients and the other services dial the frontend; an unspecified bind
	// address is reachable on loopback.
	dialHost := bindHost
	if ip := net.ParseIP(bindHost); ip.IsUnspecified() {
		dialHost = loopback
	}
	frontend := net.JoinHostPort(dialHost, strconv.Itoa(port))

	if err := portFree(net.JoinHostPort(bindHost, strconv.Itoa(port))); err != nil {
		return nil, fmt.Errorf("port %s is in use — is another asyncgate dev or temporal running? (%w)", o.FrontendAddr, err)
	}
	if o.UIAddr != "" {
		if err := uiPortFree(o.UIAddr); err != nil {
			return nil, err
		}
	}

	sqlCfg, err := openDataDir(o)
	if err != nil {
		return nil, err
	}
	cfg, hosts, err := serverConfig(bindHost, dialHost, port, sqlCfg)
	if err != nil {
		return nil, err
	}
	logger := slogLogger{l: o.Logger, quiet: new(atomic.Bool)}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		// Static membership: no ringpop gossip ports and no join wait for a
		// single process that hosts every service.
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			// The Web UI lists workflows on every page view; the default of
			// 10 visibility requests/s per namespace throttles it.
			dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
			// A dev box does not need 128k cached workflows in memory.
			dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	s := &Server{frontend: frontend, temporal: srv, quiet: logger.quiet}
	if err := s.ready(ctx, o); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if o.UIAddr != "" {
		if err := s.startUI(ctx, o); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func withDefaults(o Options) (Options, error) {
	if o.DataDir == "" {
		return o, errors.New("devserver: DataDir is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Retention == 0 {
		o.Retention = 24 * time.Hour
	}
	if o.Retention < minRetention {
		return o, fmt.Errorf("devserver: retention %s is below Temporal's minimum of %s", o.Retention, minRetention)
	}
	return o, nil
}

// openDataDir creates or reopens the SQLite file and registers the
// namespace. Schema setup runs only on a new file: the file keeps running
// workflows across restarts.
func openDataDir(o Options) (*config.SQL, error) {
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := checkVersion(o.DataDir); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(o.DataDir, dbFile)
	sqlCfg := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: dbPath,
		// WAL and NORMAL sync made starts ~2× faster here; more than one
		// connection only adds lock contention (notes/temporal.md).
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "NORMAL"},
		MaxConns:          1,
		MaxIdleConns:      1,
	}
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		if err := sqlite.SetupSchema(sqlCfg); err != nil {
			// A half-built file would be taken for a valid one next time.
			removeDB(dbPath)
			return nil, fmt.Errorf("set up Temporal schema in %s: %w", dbPath, err)
		}
		if err := os.WriteFile(filepath.Join(o.DataDir, versionFile), []byte(headers.ServerVersion+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write version file: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("stat %s: %w", dbPath, err)
	}

	// Search attributes given here are in place before the server starts,
	// so a fresh data dir needs no wait for the namespace cache.
	ns, err := sqlite.NewNamespaceConfig(clusterName, o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	ns.Detail.Config.Retention = durationpb.New(o.Retention)
	// A no-op when the namespace exists; ready() then applies retention
	// and search attributes through the running server.
	if err := sqlite.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace %q: %w", o.Namespace, err)
	}
	return sqlCfg, nil
}

func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
}

// checkVersion refuses a data directory written by another server version:
// SQLite files have no schema migrations across versions.
func checkVersion(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, versionFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, dbFile)); err == nil {
			return fmt.Errorf("%s holds a Temporal database without a %s file; delete the directory to start afresh (running workflows are lost)", dir, versionFile)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read version file: %w", err)
	}
	if got := strings.TrimSpace(string(b)); got != headers.ServerVersion {
		return fmt.Errorf("%s was written by Temporal server %s but this build embeds %s, and SQLite files cannot be migrated; delete the directory (running workflows are lost) or use the matching asyncgate build",
			dir, got, headers.ServerVersion)
	}
	return nil
}

// serverConfig builds the config of a one-shard, single-cluster server:
// the frontend on the requested address, the other services on free
// loopback ports, archival and metrics off (a nil Metrics config means no
// metrics handler and no Prometheus listener).
func serverConfig(bindHost, dialHost string, frontendPort int, sqlCfg *config.SQL) (*config.Config, map[primitives.ServiceName]static.Hosts, error) {
	ports, err := freePorts(loopback, 3)
	if err != nil {
		return nil, nil, fmt.Errorf("pick service ports: %w", err)
	}
	frontend := net.JoinHostPort(dialHost, strconv.Itoa(frontendPort))
	services := map[string]config.Service{
		// HTTPPort 0 leaves the frontend's HTTP API off: the SDK and the UI
		// use gRPC.
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: frontendPort, BindOnIP: bindHost}},
		string(primitives.HistoryService):  {RPC: config.RPC{GRPCPort: ports[0], BindOnIP: loopback}},
		string(primitives.MatchingService): {RPC: config.RPC{GRPCPort: ports[1], BindOnIP: loopback}},
		string(primitives.WorkerService):   {RPC: config.RPC{GRPCPort: ports[2], BindOnIP: loopback}},
	}
	hosts := map[primitives.ServiceName]static.Hosts{
		primitives.FrontendService: static.SingleLocalHost(frontend),
		primitives.HistoryService:  static.SingleLocalHost(net.JoinHostPort(loopback, strconv.Itoa(ports[0]))),
		primitives.MatchingService: static.SingleLocalHost(net.JoinHostPort(loopback, strconv.Itoa(ports[1]))),
		primitives.WorkerService:   static.SingleLocalHost(net.JoinHostPort(loopback, strconv.Itoa(ports[2]))),
	}
	cfg := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: loopback},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}
	return cfg, hosts, nil
}

// ready waits for the frontend, then applies retention and search
// attributes (CreateNamespaces leaves an existing namespace alone).
func (s *Server) ready(ctx context.Context, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	c, err := dialReady(ctx, s.frontend, o.Namespace)
	if err != nil {
		return err
	}
	defer c.Close()

	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: o.Namespace})
	if err != nil {
		return fmt.Errorf("describe namespace %q: %w", o.Namespace, err)
	}
	if desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() != o.Retention {
		_, err := c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
			Namespace: o.Namespace,
			Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(o.Retention)},
		})
		if err != nil {
			return fmt.Errorf("set retention of %q: %w", o.Namespace, err)
		}
	}
	return ensureSearchAttributes(ctx, c, o.Namespace, o.SearchAttributes)
}

// dialReady dials until the frontend serves the namespace: the services
// finish starting (shard ownership, namespace cache) after Start returns.
func dialReady(ctx context.Context, hostPort, namespace string) (client.Client, error) {
	var lastErr error
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: namespace, Logger: nopSDKLogger{}})
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("embedded Temporal at %s did not become ready: %w", hostPort, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureSearchAttributes adds the missing custom search attributes. An
// attribute that exists with another type is an error: SQLite visibility
// cannot change a slot's type.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return fmt.Errorf("search attribute %s exists with type %s, want %s", name, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return waitForAliases(ctx, c, namespace, missing)
}

// waitForAliases waits until the frontend's namespace cache (refreshed
// every 2 s) knows the new attributes: until then a workflow started with
// them is rejected as using an unknown search attribute.
func waitForAliases(ctx context.Context, c client.Client, namespace string, names map[string]enumspb.IndexedValueType) error {
	for {
		desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{
			Namespace: namespace, WeakConsistency: true, // served from the cache
		})
		if err == nil && hasAliases(desc.GetConfig().GetCustomSearchAttributeAliases(), names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for new search attributes: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func hasAliases(fieldToAlias map[string]string, names map[string]enumspb.IndexedValueType) bool {
	found := 0
	for _, alias := range fieldToAlias {
		if _, ok := names[alias]; ok {
			found++
		}
	}
	return found == len(names)
}

func (s *Server) startUI(ctx context.Context, o Options) error {
	host, port, err := splitAddr(o.UIAddr)
	if err != nil {
		return fmt.Errorf("UI address: %w", err)
	}
	// Checked again: the port may have been taken while Temporal started,
	// and the UI server exits the process on a busy port.
	if err := uiPortFree(o.UIAddr); err != nil {
		return err
	}
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: s.frontend,
		EnableUI:            true,
		DefaultNamespace:    o.Namespace,
		// Plain http on loopback: a Secure CSRF cookie would never be sent.
		CORS:             uiconfig.CORS{CookieInsecure: true},
		DisableNewsFetch: true, // no calls to the internet
		HideLogs:         true, // no banner or access log on our stdout
	}))
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		// Start blocks until Stop; it returns nil after Stop.
		if err := s.ui.Start(); err != nil {
			o.Logger.Error("temporal UI stopped", "error", err)
		}
	}()
	// Wait for the listener: Stop before the UI listens would leave it
	// running, and the caller prints the URL as usable.
	dialAddr := net.JoinHostPort(dialableHost(host), strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", dialAddr, time.Second)
		if err == nil {
			_ = conn.Close()
			break
		}
		select {
		case <-s.uiDone:
			return fmt.Errorf("temporal UI on %s exited at start", o.UIAddr)
		case <-ctx.Done():
			return fmt.Errorf("wait for temporal UI on %s: %w", o.UIAddr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal UI did not listen on %s: %w", o.UIAddr, err)
		}
	}
	s.uiURL = "http://" + dialAddr
	return nil
}

func uiPortFree(addr string) error {
	if err := portFree(addr); err != nil {
		return fmt.Errorf("port %s for the Temporal UI is in use (choose another UI address or turn the UI off): %w", addr, err)
	}
	return nil
}

// dialableHost maps a wildcard bind host to loopback.
func dialableHost(host string) string {
	if host == "" || net.ParseIP(host).IsUnspecified() {
		return loopback
	}
	return host
}

// splitAddr parses host:port; an empty host or "localhost" is 127.0.0.1,
// since the server binds to IPs, not names.
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if host == "" || host == "localhost" {
		host = loopback
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host in %q must be an IP address", addr)
	}
	return host, port, nil
}

func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// freePorts returns n distinct free ports: all listeners stay open until
// every port is chosen, so the kernel cannot hand out one port twice.
func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// slogLogger adapts slog to the server's logger. The server is chatty at
// info level, so only warnings and errors pass unless slog is at debug.
// Once Stop begins only errors pass: the services warn about every poll
// and dial that fails while their peers shut down.
type slogLogger struct {
	l     *slog.Logger
	quiet *atomic.Bool
}

// nexusHTTPWarning is logged at every start because the frontend's HTTP
// port is off on purpose (asyncgate uses no Nexus endpoints).
const nexusHTTPWarning = "HTTP API port has not been set"

func (s slogLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if level == slog.LevelWarn && strings.HasPrefix(msg, nexusHTTPWarning) {
		level = slog.LevelDebug
	}
	if level < slog.LevelError && s.quiet.Load() {
		return
	}
	if level < slog.LevelWarn && !s.l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	if !s.l.Enabled(ctx, level) {
		return
	}
	s.l.LogAttrs(ctx, level, msg, attrs(tags)...)
}

func attrs(tags []tag.Tag) []slog.Attr {
	out := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		out = append(out, slog.Any(t.Key(), t.Value()))
	}
	return out
}

// With implements log.WithLogger: the server tags every component's
// logger, and slog adds the tags once instead of on every line.
func (s slogLogger) With(tags ...tag.Tag) log.Logger {
	args := make([]any, 0, len(tags))
	for _, a := range attrs(tags) {
		args = append(args, a)
	}
	return slogLogger{l: s.l.With(args...), quiet: s.quiet}
}

func (s slogLogger) Debug(msg string, tags ...tag.Tag)  { s.log(slog.LevelDebug, msg, tags) }
func (s slogLogger) Info(msg string, tags ...tag.Tag)   { s.log(slog.LevelInfo, msg, tags) }
func (s slogLogger) Warn(msg string, tags ...tag.Tag)   { s.log(slog.LevelWarn, msg, tags) }
func (s slogLogger) Error(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic and Fatal keep the server's contract: callers do not expect them
// to return.
func (s slogLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(msg)
}

func (s slogLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	os.Exit(1)
}

// nopSDKLogger silences the readiness client: its retries while the
// server starts are expected.
type nopSDKLogger struct{}

func (nopSDKLogger) Debug(string, ...any) {}
func (nopSDKLogger) Info(string, ...any)  {}
func (nopSDKLogger) Warn(string, ...any)  {}
func (nopSDKLogger) Error(string, ...any) {}
