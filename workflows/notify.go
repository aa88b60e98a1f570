package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/asyncgate/asyncgate/activities"
)

// NotifyInput names the request whose completion callback is due, with the
// retry budget.
type NotifyInput struct {
	RequestID int64
	Policy    activities.NotifyPolicy
}

// NotifyResult says how the callback ended.
type NotifyResult struct {
	RequestID int64
	Delivered bool
}

// Defaults when a policy leaves a field empty.
const (
	defaultNotifyAttempts = 4
	defaultNotifyBackoff  = 10 * time.Second
)

// Notify delivers a done request's completion callback: one activity whose
// retry policy is the callback's budget (the first attempt plus re-sends
// with doubling back-off). When the budget is spent the request is marked
// notify-failed; an admin redelivers by starting Notify again.
func Notify(ctx workflow.Context, in NotifyInput) (NotifyResult, error) {
	attempts, backoff := in.Policy.Attempts, in.Policy.Backoff
	if attempts <= 0 {
		attempts = defaultNotifyAttempts
	}
	if backoff <= 0 {
		backoff = defaultNotifyBackoff
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// One attempt is bounded by the sender's own timeout (seconds); this
		// only catches a worker that died mid-attempt.
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        backoff,
			BackoffCoefficient:     2,
			MaximumInterval:        backoff << (attempts - 1),
			MaximumAttempts:        int32(attempts),
			NonRetryableErrorTypes: []string{activities.NotifyUnconfiguredType},
		},
	})
	var r activities.DeliveryResult
	if err := workflow.ExecuteActivity(actx, a.DeliverNotification, in.RequestID).Get(ctx, &r); err == nil {
		return NotifyResult{RequestID: in.RequestID, Delivered: true}, nil
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	if err := workflow.ExecuteLocalActivity(lctx, a.MarkNotifyFailed, in.RequestID).Get(ctx, nil); err != nil {
		return NotifyResult{}, err
	}
	workflow.GetLogger(ctx).Warn("callback failed after every attempt", "request_id", in.RequestID, "attempts", attempts)
	return NotifyResult{RequestID: in.RequestID}, nil
}
