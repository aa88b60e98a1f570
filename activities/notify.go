package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/asyncgate/asyncgate/notify"
	"github.com/asyncgate/asyncgate/store"
)

// NotifyPolicy is a completion callback's retry budget.
type NotifyPolicy struct {
	Attempts int           // in all, the first included
	Backoff  time.Duration // before the first re-send; doubles after each
}

// NotifyUnconfiguredType marks a callback that cannot be sent at all (the
// app has no notify URL any more): retrying would not help.
const NotifyUnconfiguredType = "NotifyUnconfigured"

// DeliveryResult is the outcome of DeliverNotification.
type DeliveryResult struct {
	Delivered bool
	Attempt   int // the attempt that delivered; 0 when delivered before
}

// DeliverNotification makes one attempt to deliver a done request's
// callback and records it. A callback already delivered is not sent again;
// an attempt the receiver did not acknowledge is an error, so the
// activity's retry policy re-sends it with back-off.
func (a *Activities) DeliverNotification(ctx context.Context, requestID int64) (DeliveryResult, error) {
	w, err := a.Store.GetNotifyWork(ctx, requestID)
	if err != nil {
		return DeliveryResult{}, err
	}
	if w.NotifyState == store.NotifyDelivered {
		return DeliveryResult{Delivered: true}, nil
	}
	if w.NotifyURL == "" {
		return DeliveryResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("app %s has no notify URL", w.AppKey), NotifyUnconfiguredType, nil)
	}
	at := a.Notifier.Deliver(ctx, notify.Target{
		URL: w.NotifyURL, Format: notify.Format(w.NotifyFormat), AppKey: w.AppKey, Secret: w.Secret,
	}, notify.Event{
		RequestID: w.ID, APICode: w.APICode, TopMethod: w.TopMethod, Status: string(w.Status),
		Total: w.Total, Succeeded: w.Succeeded, Failed: w.Failed, Canceled: w.Canceled, Created: w.CreatedAt,
	})
	rec, err := a.Store.RecordNotifyAttempt(ctx, store.NotifyAttempt{
		RequestID: w.ID, At: at.At, URL: at.URL, Format: w.NotifyFormat, HTTPStatus: at.HTTPStatus,
		ResponseBody: at.ResponseBody, Error: at.Error, DurationUS: at.Duration.Microseconds(), Delivered: at.Delivered,
	})
	a.Metrics.NotifyAttempt(w.NotifyFormat, at.Delivered)
	if errors.Is(err, store.ErrConflict) {
		return DeliveryResult{Delivered: true}, nil // another attempt delivered meanwhile
	}
	if err != nil {
		return DeliveryResult{}, err
	}
	log := activity.GetLogger(ctx)
	if !at.Delivered {
		log.Warn("callback not delivered", "request_id", w.ID, "attempt", rec.Attempt, "url", at.URL, "error", at.Error)
		return DeliveryResult{}, fmt.Errorf("callback attempt %d not delivered: %s", rec.Attempt, at.Error)
	}
	log.Info("callback delivered", "request_id", w.ID, "attempt", rec.Attempt, "url", at.URL)
	return DeliveryResult{Delivered: true, Attempt: rec.Attempt}, nil
}

// MarkNotifyFailed records that the callback's retry budget is spent.
func (a *Activities) MarkNotifyFailed(ctx context.Context, requestID int64) error {
	return a.Store.MarkNotifyFailed(ctx, requestID)
}
