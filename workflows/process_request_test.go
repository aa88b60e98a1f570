package workflows

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/asyncgate/asyncgate/activities"
)

type testBundle struct {
	env *testsuite.TestWorkflowEnvironment
	in  ProcessRequestInput
}

func setup(t *testing.T, total int) testBundle {
	t.Helper()
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	// Quiet: expected activity failures would flood the test output.
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ProcessRequest, workflow.RegisterOptions{Name: ProcessRequestName})
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.MarkDoing, mock.Anything, mock.Anything).Return(nil)
	return testBundle{env: env, in: ProcessRequestInput{
		RequestID: 1000000000000000001, APICode: "demo_order_batchSave", AppKey: "demo-app", Total: total,
		Concurrency: 4, ItemTimeout: 10 * time.Second,
		Retry: RetryPolicy{MaxAttempts: 3, InitialInterval: time.Millisecond, BackoffCoefficient: 2, MaxInterval: time.Second},
	}}
}

// finishFromCounts answers FinishRequest the way the store does: counts of
// outcomes, canceled for the rest when the request was canceled.
func finishFromCounts(total int, succeeded, failed *int, mu *sync.Mutex) func(context.Context, activities.FinishInput) (activities.Summary, error) {
	return func(_ context.Context, in activities.FinishInput) (activities.Summary, error) {
		mu.Lock()
		defer mu.Unlock()
		s := activities.Summary{RequestID: in.RequestID, Status: "done", Total: total, Succeeded: *succeeded, Failed: *failed}
		if in.Canceled {
			s.Status, s.Canceled = "canceled", total-*succeeded-*failed
		}
		return s, nil
	}
}

func business(code string) error {
	return temporal.NewNonRetryableApplicationError("business", BusinessErrorType, nil,
		activities.ItemFailure{SubCode: code, SubMsg: "business"})
}

func TestProcessRequestCountsOutcomes(t *testing.T) {
	tests := []struct {
		name          string
		total         int
		failEvery     int // every n-th item is a business failure; 0 = none
		wantSucceeded int
		wantFailed    int
	}{
		{"all succeed", 10, 0, 10, 0},
		{"some business errors", 40, 4, 30, 10},
		{"one item", 1, 0, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, tc.total)
			var mu sync.Mutex
			var succeeded, failed int
			b.env.OnActivity(a.ProcessItem, mock.Anything, mock.Anything).Return(
				func(_ context.Context, ref activities.ItemRef) (activities.ItemResult, error) {
					mu.Lock()
					defer mu.Unlock()
					if tc.failEvery > 0 && ref.Index%tc.failEvery == 0 {
						failed++
						return activities.ItemResult{}, business("demo.negative_amount")
					}
					succeeded++
					return activities.ItemResult{Index: ref.Index, Succeeded: true}, nil
				})
			b.env.OnActivity(a.FinishRequest, mock.Anything, mock.Anything).Return(finishFromCounts(tc.total, &succeeded, &failed, &mu))

			b.env.ExecuteWorkflow(ProcessRequest, b.in)
			require.True(t, b.env.IsWorkflowCompleted())
			require.NoError(t, b.env.GetWorkflowError())
			var res ProcessRequestResult
			require.NoError(t, b.env.GetWorkflowResult(&res))
			require.Equal(t, "done", res.Status)
			require.Equal(t, tc.wantSucceeded, res.Succeeded)
			require.Equal(t, tc.wantFailed, res.Failed)

			v, err := b.env.QueryWorkflow(ProgressQuery)
			require.NoError(t, err)
			var p Progress
			require.NoError(t, v.Get(&p))
			require.Equal(t, Progress{Status: "done", Total: tc.total, Finished: tc.total,
				Succeeded: tc.wantSucceeded, Failed: tc.wantFailed}, p)
		})
	}
}

func TestProcessRequestRecordsExhaustedRetries(t *testing.T) {
	b := setup(t, 3)
	var mu sync.Mutex
	var succeeded, failed, attempts int
	b.env.OnActivity(a.ProcessItem, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ref activities.ItemRef) (activities.ItemResult, error) {
			mu.Lock()
			defer mu.Unlock()
			if ref.Index == 1 {
				attempts++
				return activities.ItemResult{}, errors.New("downstream 503")
			}
			succeeded++
			return activities.ItemResult{Index: ref.Index, Succeeded: true}, nil
		})
	var recorded []activities.ItemFailure
	b.env.OnActivity(a.RecordItemFailure, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ref activities.ItemRef, f activities.ItemFailure) (activities.ItemResult, error) {
			mu.Lock()
			defer mu.Unlock()
			recorded = append(recorded, f)
			failed++
			return activities.ItemResult{Index: ref.Index, SubCode: f.SubCode}, nil
		})
	b.env.OnActivity(a.FinishRequest, mock.Anything, mock.Anything).Return(finishFromCounts(3, &succeeded, &failed, &mu))

	b.env.ExecuteWorkflow(ProcessRequest, b.in)
	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, 3, attempts, "MaxAttempts 3")
	require.Len(t, recorded, 1)
	require.Equal(t, "asyncgate.item_failed", recorded[0].SubCode)
	require.Contains(t, recorded[0].SubMsg, "downstream 503")
	var res ProcessRequestResult
	require.NoError(t, b.env.GetWorkflowResult(&res))
	require.Equal(t, 2, res.Succeeded)
	require.Equal(t, 1, res.Failed)
}

func TestProcessRequestBoundsConcurrency(t *testing.T) {
	b := setup(t, 20)
	var mu sync.Mutex
	var running, peak, succeeded, failed int
	b.env.OnActivity(a.ProcessItem, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ref activities.ItemRef) (activities.ItemResult, error) {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			running--
			succeeded++
			mu.Unlock()
			return activities.ItemResult{Index: ref.Index, Succeeded: true}, nil
		})
	b.env.OnActivity(a.FinishRequest, mock.Anything, mock.Anything).Return(finishFromCounts(20, &succeeded, &failed, &mu))
	b.env.ExecuteWorkflow(ProcessRequest, b.in)
	require.NoError(t, b.env.GetWorkflowError())
	require.LessOrEqual(t, peak, b.in.Concurrency)
	require.Equal(t, 20, succeeded)
}

func TestProcessRequestCancel(t *testing.T) {
	b := setup(t, 10)
	b.in.Concurrency = 1
	var mu sync.Mutex
	var succeeded, failed int
	var finishedCanceled bool
	b.env.OnActivity(a.ProcessItem, mock.Anything, mock.Anything).After(time.Minute).Return(
		func(_ context.Context, ref activities.ItemRef) (activities.ItemResult, error) {
			mu.Lock()
			defer mu.Unlock()
			succeeded++
			return activities.ItemResult{Index: ref.Index, Succeeded: true}, nil
		})
	finish := finishFromCounts(10, &succeeded, &failed, &mu)
	b.env.OnActivity(a.FinishRequest, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.FinishInput) (activities.Summary, error) {
			finishedCanceled = in.Canceled
			return finish(ctx, in)
		})
	// Two items finish (one minute each), then the request is canceled.
	b.env.RegisterDelayedCallback(b.env.CancelWorkflow, 150*time.Second)
	b.env.ExecuteWorkflow(ProcessRequest, b.in)

	require.True(t, b.env.IsWorkflowCompleted())
	require.NoError(t, b.env.GetWorkflowError())
	require.True(t, finishedCanceled)
	var res ProcessRequestResult
	require.NoError(t, b.env.GetWorkflowResult(&res))
	require.Equal(t, "canceled", res.Status)
	require.Equal(t, 2, res.Succeeded)
	require.Equal(t, 8, res.Canceled)
}

func TestProcessRequestProgressWhileRunning(t *testing.T) {
	b := setup(t, 4)
	b.in.Concurrency = 1
	var mu sync.Mutex
	var succeeded, failed int
	b.env.OnActivity(a.ProcessItem, mock.Anything, mock.Anything).After(time.Minute).Return(
		func(_ context.Context, ref activities.ItemRef) (activities.ItemResult, error) {
			mu.Lock()
			defer mu.Unlock()
			succeeded++
			return activities.ItemResult{Index: ref.Index, Succeeded: true}, nil
		})
	b.env.OnActivity(a.FinishRequest, mock.Anything, mock.Anything).Return(finishFromCounts(4, &succeeded, &failed, &mu))
	var mid Progress
	b.env.RegisterDelayedCallback(func() {
		v, err := b.env.QueryWorkflow(ProgressQuery)
		require.NoError(t, err)
		require.NoError(t, v.Get(&mid))
	}, 150*time.Second)
	b.env.ExecuteWorkflow(ProcessRequest, b.in)
	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, Progress{Status: "doing", Total: 4, Finished: 2, Succeeded: 2}, mid)
}

func TestProcessRequestContinuesAsNewForLargeBatches(t *testing.T) {
	b := setup(t, ItemsPerRun+10)
	var mu sync.Mutex
	var processed int
	b.env.OnActivity(a.ProcessItem, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ref activities.ItemRef) (activities.ItemResult, error) {
			mu.Lock()
			defer mu.Unlock()
			processed++
			return activities.ItemResult{Index: ref.Index, Succeeded: true}, nil
		})
	b.env.ExecuteWorkflow(ProcessRequest, b.in)
	require.True(t, b.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, b.env.GetWorkflowError(), &can)
	require.Equal(t, ItemsPerRun, processed)
	var next ProcessRequestInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, ItemsPerRun, next.NextIndex)
	require.Equal(t, ItemsPerRun, next.Counts.Succeeded)
}

// Batched handlers: chunks of ChunkSize items; a chunk whose retries run
// out has its items recorded as failed.
func TestProcessRequestChunks(t *testing.T) {
	b := setup(t, 10)
	b.in.ChunkSize = 4
	var mu sync.Mutex
	var chunks []activities.ChunkRef
	b.env.OnActivity(a.ProcessChunk, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ref activities.ChunkRef) ([]activities.ItemResult, error) {
			mu.Lock()
			chunks = append(chunks, ref)
			mu.Unlock()
			if ref.From == 4 {
				return nil, errors.New("downstream 503")
			}
			var rs []activities.ItemResult
			for i := ref.From; i < ref.To; i++ {
				rs = append(rs, activities.ItemResult{Index: i, Succeeded: i != 9})
			}
			return rs, nil
		})
	b.env.OnActivity(a.RecordChunkFailure, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ref activities.ChunkRef, f activities.ItemFailure) ([]activities.ItemResult, error) {
			require.Equal(t, "asyncgate.item_failed", f.SubCode)
			var rs []activities.ItemResult
			for i := ref.From; i < ref.To; i++ {
				rs = append(rs, activities.ItemResult{Index: i, SubCode: f.SubCode})
			}
			return rs, nil
		})
	b.env.OnActivity(a.FinishRequest, mock.Anything, mock.Anything).Return(activities.Summary{
		RequestID: b.in.RequestID, Status: "done", Total: 10, Succeeded: 5, Failed: 5}, nil)

	b.env.ExecuteWorkflow(ProcessRequest, b.in)
	require.True(t, b.env.IsWorkflowCompleted())
	require.NoError(t, b.env.GetWorkflowError())
	froms := map[int]int{}
	for _, c := range chunks {
		froms[c.From]++
		require.Equal(t, min(10, c.From+4), c.To)
	}
	require.Equal(t, 1, froms[0])
	require.Equal(t, 3, froms[4], "the failing chunk was tried MaxAttempts times")
	require.Equal(t, 1, froms[8])
	v, err := b.env.QueryWorkflow(ProgressQuery)
	require.NoError(t, err)
	var p Progress
	require.NoError(t, v.Get(&p))
	require.Equal(t, 10, p.Finished)
}
