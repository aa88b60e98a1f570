package workflows

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/asyncgate/asyncgate/activities"
)

func TestProcessRequestStartsNotifyWhenDue(t *testing.T) {
	tests := []struct {
		name   string
		notify bool
	}{
		{"callback due", true},
		{"no callback", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, 2)
			policy := activities.NotifyPolicy{Attempts: 2, Backoff: 3 * time.Second}
			b.env.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyName})
			b.env.OnActivity(a.ProcessItem, mock.Anything, mock.Anything).Return(
				func(_ context.Context, ref activities.ItemRef) (activities.ItemResult, error) {
					return activities.ItemResult{Index: ref.Index, Succeeded: true}, nil
				})
			b.env.OnActivity(a.FinishRequest, mock.Anything, mock.Anything).Return(activities.Summary{
				RequestID: b.in.RequestID, Status: "done", Total: 2, Succeeded: 2, Notify: tc.notify, NotifyPolicy: policy,
			}, nil)
			var started atomic.Int32
			b.env.OnWorkflow(NotifyName, mock.Anything, NotifyInput{RequestID: b.in.RequestID, Policy: policy}).Return(
				func(workflow.Context, NotifyInput) (NotifyResult, error) {
					started.Add(1)
					return NotifyResult{RequestID: b.in.RequestID, Delivered: true}, nil
				})

			b.env.ExecuteWorkflow(ProcessRequest, b.in)
			require.True(t, b.env.IsWorkflowCompleted())
			require.NoError(t, b.env.GetWorkflowError())
			want := int32(0)
			if tc.notify {
				want = 1
			}
			require.Equal(t, want, started.Load())
		})
	}
}

type notifyBundle struct {
	env       *testsuite.TestWorkflowEnvironment
	in        NotifyInput
	delivered atomic.Int32 // DeliverNotification calls
	failed    atomic.Int32 // MarkNotifyFailed calls
}

func setupNotify(t *testing.T, deliver func(call int32) error) *notifyBundle {
	t.Helper()
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	b := &notifyBundle{env: s.NewTestWorkflowEnvironment(),
		in: NotifyInput{RequestID: 1000000000000000007, Policy: activities.NotifyPolicy{Attempts: 4, Backoff: time.Second}}}
	b.env.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyName})
	b.env.RegisterActivity(&activities.Activities{})
	b.env.OnActivity(a.DeliverNotification, mock.Anything, b.in.RequestID).Return(
		func(context.Context, int64) (activities.DeliveryResult, error) {
			n := b.delivered.Add(1)
			if err := deliver(n); err != nil {
				return activities.DeliveryResult{}, err
			}
			return activities.DeliveryResult{Delivered: true, Attempt: int(n)}, nil
		})
	b.env.OnActivity(a.MarkNotifyFailed, mock.Anything, b.in.RequestID).Return(func(context.Context, int64) error {
		b.failed.Add(1)
		return nil
	})
	return b
}

func (b *notifyBundle) run(t *testing.T) NotifyResult {
	t.Helper()
	b.env.ExecuteWorkflow(Notify, b.in)
	require.True(t, b.env.IsWorkflowCompleted())
	require.NoError(t, b.env.GetWorkflowError())
	var r NotifyResult
	require.NoError(t, b.env.GetWorkflowResult(&r))
	return r
}

func TestNotifyRetriesUntilDelivered(t *testing.T) {
	b := setupNotify(t, func(call int32) error {
		if call < 3 {
			return errors.New("receiver answered 500")
		}
		return nil
	})
	r := b.run(t)
	require.True(t, r.Delivered)
	require.EqualValues(t, 3, b.delivered.Load())
	require.Zero(t, b.failed.Load())
}

func TestNotifyMarksFailedWhenTheBudgetIsSpent(t *testing.T) {
	b := setupNotify(t, func(int32) error { return errors.New("connection refused") })
	r := b.run(t)
	require.False(t, r.Delivered)
	require.EqualValues(t, 4, b.delivered.Load(), "the first attempt and 3 re-sends")
	require.EqualValues(t, 1, b.failed.Load())
}

func TestNotifyWithoutURLIsNotRetried(t *testing.T) {
	b := setupNotify(t, func(int32) error {
		return temporal.NewNonRetryableApplicationError("no notify URL", activities.NotifyUnconfiguredType, nil)
	})
	r := b.run(t)
	require.False(t, r.Delivered)
	require.EqualValues(t, 1, b.delivered.Load())
	require.EqualValues(t, 1, b.failed.Load())
}
