package main

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The raw baseline: what Temporal alone costs for the same work.

// RawTrivial is a workflow that does nothing (raw start cost).
func RawTrivial(ctx workflow.Context) error { return nil }

// RawBatch runs n no-op activities, at most conc in flight, like
// ProcessRequest does for a request's items.
func RawBatch(ctx workflow.Context, n, conc int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	sel := workflow.NewSelector(ctx)
	inFlight, next := 0, 0
	var firstErr error
	for next < n || inFlight > 0 {
		for next < n && inFlight < conc {
			f := workflow.ExecuteActivity(ctx, RawNoop, next)
			sel.AddFuture(f, func(f workflow.Future) {
				inFlight--
				if err := f.Get(ctx, nil); err != nil && firstErr == nil {
					firstErr = err
				}
			})
			inFlight++
			next++
		}
		sel.Select(ctx)
	}
	return firstErr
}

// RawNoop is a no-op activity.
func RawNoop(_ context.Context, i int) (int, error) { return i, nil }
