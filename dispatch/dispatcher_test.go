package dispatch_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/dispatch"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/store/storetest"
	"github.com/asyncgate/asyncgate/workflows"
)

type testBundle struct {
	ctx     context.Context
	store   *store.Store
	cache   *catalog.Cache
	starter *mocks.Client
	disp    *dispatch.Dispatcher
	db      *sqlx.DB
}

func setup(t *testing.T) testBundle {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.NewDatabase(t) // the dispatcher commits: own database
	s := store.New(db)
	def := catalog.Definition{Code: "api_a", Name: "A", AppID: "a", FormID: "f", ServiceName: "s",
		Batch:   catalog.Batch{ItemsPath: "data", Concurrency: 3, ItemTimeout: catalog.Duration(7 * time.Second)},
		Handler: catalog.HandlerSpec{Type: catalog.HandlerBuiltin, Builtin: "noop"}}.WithDefaults()
	require.NoError(t, s.UpsertDefinition(ctx, def))
	cache := catalog.NewCache(s)
	require.NoError(t, cache.Refresh(ctx))
	starter := &mocks.Client{}
	t.Cleanup(func() { starter.AssertExpectations(t) })
	d := dispatch.New(s, cache, starter, dispatch.Options{TaskQueue: "tq", Concurrency: 2},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	return testBundle{ctx: ctx, store: s, cache: cache, starter: starter, disp: d, db: db}
}

func (b testBundle) request(t *testing.T, id int64, items int) {
	t.Helper()
	raw := make([]json.RawMessage, items)
	for i := range raw {
		raw[i] = json.RawMessage(`{}`)
	}
	_, err := b.store.CreateRequest(b.ctx, store.NewRequest{ID: id, APICode: "api_a", AppKey: "app-1", Protocol: "kapi",
		Items: raw, WorkflowID: workflows.RequestWorkflowID(id)})
	require.NoError(t, err)
}

type run struct{ id, runID string }

func (r run) GetID() string                                                           { return r.id }
func (r run) GetRunID() string                                                        { return r.runID }
func (r run) GetFirstExecutionRunID() string                                          { return r.runID }
func (r run) Get(context.Context, any) error                                          { return nil }
func (r run) GetWithOptions(context.Context, any, client.WorkflowRunGetOptions) error { return nil }

func TestRoundStartsWorkflowsWithIDPoliciesAndInput(t *testing.T) {
	b := setup(t)
	b.request(t, 1000000000000000001, 5)
	b.request(t, 1000000000000000002, 2)

	var mu sync.Mutex
	started := map[string]workflows.ProcessRequestInput{}
	b.starter.On("ExecuteWorkflow", mock.Anything, mock.Anything, workflows.ProcessRequestName, mock.Anything).Return(
		func(_ context.Context, o client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
			require.Equal(t, "tq", o.TaskQueue)
			require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, o.WorkflowIDReusePolicy)
			require.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, o.WorkflowIDConflictPolicy)
			code, ok := o.TypedSearchAttributes.GetKeyword(workflows.SearchAPICode)
			require.True(t, ok)
			require.Equal(t, "api_a", code)
			status, _ := o.TypedSearchAttributes.GetKeyword(workflows.SearchStatus)
			require.Equal(t, "new", status)
			mu.Lock()
			started[o.ID] = args[0].(workflows.ProcessRequestInput)
			mu.Unlock()
			return run{id: o.ID, runID: "run-" + o.ID}, nil
		})

	n, err := b.disp.Round(b.ctx, 10)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, started, 2)
	in := started[workflows.RequestWorkflowID(1000000000000000001)]
	require.Equal(t, workflows.ProcessRequestInput{RequestID: 1000000000000000001, APICode: "api_a", AppKey: "app-1",
		Total: 5, Concurrency: 3, ItemTimeout: 7 * time.Second,
		Retry: workflows.RetryPolicy{MaxAttempts: 5, InitialInterval: time.Second, BackoffCoefficient: 2, MaxInterval: 30 * time.Second},
	}, in)

	r, err := b.store.GetRequest(b.ctx, 1000000000000000001)
	require.NoError(t, err)
	require.Equal(t, store.DispatchStarted, r.DispatchState)
	require.Equal(t, "run-"+workflows.RequestWorkflowID(1000000000000000001), r.RunID)

	// Nothing left to start.
	n, err = b.disp.Round(b.ctx, 10)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestRoundBacksOffWhileTemporalIsDown(t *testing.T) {
	b := setup(t)
	for i := range 6 {
		b.request(t, 1000000000000000010+int64(i), 1)
	}
	var mu sync.Mutex
	calls := 0
	b.starter.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			return nil, serviceerror.NewUnavailable("connection refused")
		})
	n, err := b.disp.Round(b.ctx, 10)
	require.Error(t, err)
	require.Equal(t, 6, n)
	require.Less(t, calls, 6, "once Temporal looks down the rest of the round is not tried")

	rows, err := b.store.ListRequests(b.ctx, store.RequestFilter{})
	require.NoError(t, err)
	for _, r := range rows {
		require.Equal(t, store.DispatchPending, r.DispatchState)
		require.Equal(t, 1, r.DispatchAttempts)
		require.NotEmpty(t, r.DispatchError)
	}
	// Backed off: each row's next try is set after its failure (checked on
	// the rows, not by racing a claim against a 200 ms back-off on a busy
	// machine).
	var backedOff int
	require.NoError(t, b.db.QueryRow(`SELECT count(*) FROM async_requests
		WHERE next_dispatch_at >= updated_at + interval '150 milliseconds'`).Scan(&backedOff))
	require.Equal(t, 6, backedOff)
}

func TestRunStartsOnKick(t *testing.T) {
	b := setup(t)
	done := make(chan string, 1)
	b.starter.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, o client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
			done <- o.ID
			return run{id: o.ID, runID: "r"}, nil
		})
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	d := dispatch.New(b.store, b.cache, b.starter, dispatch.Options{TaskQueue: "tq", Sweep: time.Hour},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	go d.Run(ctx)
	time.Sleep(100 * time.Millisecond) // the first round found nothing; the next is an hour away
	b.request(t, 1000000000000000020, 1)
	start := time.Now()
	d.Kick()
	select {
	case id := <-done:
		require.Equal(t, workflows.RequestWorkflowID(1000000000000000020), id)
		require.Less(t, time.Since(start), 2*time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("kick did not start the workflow")
	}
}
