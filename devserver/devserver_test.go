package devserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/asyncgate/asyncgate/devserver"
)

const (
	testNamespace = "devserver-test"
	taskQueue     = "devserver-test"
	resumeSignal  = "resume"
)

var (
	statusKey = temporal.NewSearchAttributeKeyKeyword("DevTestStatus")
	countKey  = temporal.NewSearchAttributeKeyInt64("DevTestCount")
)

func echoWorkflow(_ workflow.Context, s string) (string, error) { return "echo: " + s, nil }

// waitWorkflow stays running until signalled: it must outlive a restart.
func waitWorkflow(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, resumeSignal).Receive(ctx, &v)
	return v, nil
}

func TestServerRunsWorkflowsAndKeepsThemAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	logger := testLogger(t)
	opts := devserver.Options{
		DataDir:          filepath.Join(t.TempDir(), "temporal"), // created by Start
		FrontendAddr:     freeAddr(t),
		UIAddr:           freeAddr(t),
		Namespace:        testNamespace,
		Retention:        48 * time.Hour,
		SearchAttributes: map[string]enumspb.IndexedValueType{statusKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           logger,
	}

	// First run: a fresh data dir.
	srv := start(ctx, t, opts)
	require.Equal(t, opts.FrontendAddr, srv.FrontendHostPort())
	require.Equal(t, "http://"+opts.UIAddr, srv.UIURL())
	resp, err := http.Get(srv.UIURL())
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	version, err := os.ReadFile(filepath.Join(opts.DataDir, "VERSION"))
	require.NoError(t, err)
	require.NotEmpty(t, strings.TrimSpace(string(version)))

	c := dial(t, srv, logger)
	stopWorker := startWorker(t, c)
	// The attribute is set at start: it must be usable without waiting.
	echo, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "echo-1", TaskQueue: taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(statusKey.ValueSet("done")),
	}, "Echo", "hello")
	require.NoError(t, err)
	var got string
	require.NoError(t, echo.Get(ctx, &got))
	require.Equal(t, "echo: hello", got)
	waiting, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wait-1", TaskQueue: taskQueue}, "Wait")
	require.NoError(t, err)
	requireSearchAttributes(ctx, t, c, map[string]enumspb.IndexedValueType{statusKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD})

	stopWorker()
	c.Close()
	began := time.Now()
	require.NoError(t, srv.Stop())
	t.Logf("server stopped in %s", time.Since(began).Round(time.Millisecond))
	require.NoError(t, srv.Stop(), "Stop is idempotent")

	// Second run on the same dir: new retention, one more attribute, no UI.
	opts.FrontendAddr = freeAddr(t)
	opts.UIAddr = ""
	opts.Retention = 72 * time.Hour
	opts.SearchAttributes = map[string]enumspb.IndexedValueType{
		statusKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		countKey.GetName():  enumspb.INDEXED_VALUE_TYPE_INT,
	}
	srv = start(ctx, t, opts)
	require.Empty(t, srv.UIURL())
	c = dial(t, srv, logger)

	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: testNamespace})
	require.NoError(t, err)
	require.Equal(t, 72*time.Hour, ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
	requireSearchAttributes(ctx, t, c, opts.SearchAttributes)

	desc, err := c.DescribeWorkflowExecution(ctx, echo.GetID(), echo.GetRunID())
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())

	startWorker(t, c)
	// The attribute added on this start must be usable at once too.
	counted, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "echo-2", TaskQueue: taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(countKey.ValueSet(3)),
	}, "Echo", "again")
	require.NoError(t, err)
	require.NoError(t, counted.Get(ctx, &got))
	require.Equal(t, "echo: again", got)

	// The workflow started before the restart is still running and resumes.
	require.NoError(t, c.SignalWorkflow(ctx, waiting.GetID(), waiting.GetRunID(), resumeSignal, "resumed"))
	require.NoError(t, c.GetWorkflow(ctx, waiting.GetID(), waiting.GetRunID()).Get(ctx, &got))
	require.Equal(t, "resumed", got)
}

func TestStartRefusesBusyPorts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := ln.Addr().String()

	for name, o := range map[string]devserver.Options{
		"frontend": {FrontendAddr: busy},
		"ui":       {FrontendAddr: freeAddr(t), UIAddr: busy},
	} {
		t.Run(name, func(t *testing.T) {
			o.DataDir = filepath.Join(t.TempDir(), "temporal")
			o.Logger = testLogger(t)
			srv, err := devserver.Start(t.Context(), o)
			require.ErrorContains(t, err, "port "+busy+" ")
			require.ErrorContains(t, err, "in use")
			require.Nil(t, srv)
			require.NoDirExists(t, o.DataDir, "nothing is written before the ports are checked")
		})
	}
}

func TestStartRefusesForeignDataDir(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"other version": {
			files: map[string]string{"VERSION": "1.20.0\n", "temporal.db": ""},
			want:  "written by Temporal server 1.20.0",
		},
		"no version file": {
			files: map[string]string{"temporal.db": ""},
			want:  "without a VERSION file",
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, content := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644))
			}
			srv, err := devserver.Start(t.Context(), devserver.Options{
				DataDir: dir, FrontendAddr: freeAddr(t), Logger: testLogger(t),
			})
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "delete the directory")
			require.Nil(t, srv)
		})
	}
}

func TestStartValidatesOptions(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		noDir     bool
		addr      string
		retention time.Duration
		want      string
	}{
		"no data dir":     {noDir: true, addr: "127.0.0.1:0", want: "DataDir is required"},
		"short retention": {addr: "127.0.0.1:0", retention: time.Minute, want: "below Temporal's minimum"},
		"host name":       {addr: "temporal:7233", want: "must be an IP address"},
	} {
		t.Run(name, func(t *testing.T) {
			o := devserver.Options{FrontendAddr: tc.addr, Retention: tc.retention}
			if !tc.noDir {
				o.DataDir = t.TempDir()
			}
			_, err := devserver.Start(t.Context(), o)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func start(ctx context.Context, t *testing.T, o devserver.Options) *devserver.Server {
	t.Helper()
	began := time.Now()
	srv, err := devserver.Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	t.Logf("server ready in %s", time.Since(began).Round(time.Millisecond))
	return srv
}

func dial(t *testing.T, srv *devserver.Server, logger *slog.Logger) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort: srv.FrontendHostPort(), Namespace: testNamespace, Logger: sdklog.NewStructuredLogger(logger),
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// startWorker runs the test workflows; the returned stop may be called
// before the cleanup, which then does nothing.
func startWorker(t *testing.T, c client.Client) (stop func()) {
	t.Helper()
	w := sdkworker.New(c, taskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(echoWorkflow, workflow.RegisterOptions{Name: "Echo"})
	w.RegisterWorkflowWithOptions(waitWorkflow, workflow.RegisterOptions{Name: "Wait"})
	require.NoError(t, w.Start())
	stop = sync.OnceFunc(w.Stop)
	t.Cleanup(stop)
	return stop
}

func requireSearchAttributes(ctx context.Context, t *testing.T, c client.Client, want map[string]enumspb.IndexedValueType) {
	t.Helper()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: testNamespace})
	require.NoError(t, err)
	for name, typ := range want {
		require.Equal(t, typ, resp.GetCustomAttributes()[name], "search attribute %s", name)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// testLogger sends warnings to the test log. Server goroutines may still
// log after the test ends, when t.Log would panic: those lines are dropped.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

var _ io.Writer = (*testWriter)(nil)

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}
