// Package activities holds every side effect of asyncgate's workflows:
// running item handlers and writing outcomes to PostgreSQL. Activities are
// methods on one struct holding their dependencies; every write is
// idempotent, so Temporal may retry any of them.
package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/handler"
	"github.com/asyncgate/asyncgate/metrics"
	"github.com/asyncgate/asyncgate/notify"
	"github.com/asyncgate/asyncgate/store"
)

// BusinessErrorType marks final per-item failures; it must equal
// workflows.BusinessErrorType (workflows import this package, not the
// reverse).
const BusinessErrorType = "BusinessError"

// Activities are registered once per worker.
type Activities struct {
	Store    *store.Store
	Catalog  *catalog.Cache
	Handlers *handler.Registry
	// Notifier sends completion callbacks; Notify is its retry budget,
	// handed to the workflow with a request's summary.
	Notifier *notify.Sender
	Notify   NotifyPolicy
	Metrics  *metrics.Metrics // nil: not measured
}

// ItemRef names one item of a request.
type ItemRef struct {
	RequestID int64
	Index     int
	APICode   string
}

// ItemResult is what the workflow learns of an item.
type ItemResult struct {
	Index     int
	Succeeded bool
	Canceled  bool
	SubCode   string
}

// ItemFailure is the detail of a BusinessError.
type ItemFailure struct {
	SubCode string
	SubMsg  string
}

// MarkDoing moves the request to doing when its workflow begins.
func (a *Activities) MarkDoing(ctx context.Context, requestID int64) error {
	return a.Store.MarkDoing(ctx, requestID)
}

// ProcessItem runs an item's handler and records the outcome. An item that
// already has an outcome (a retry after a crash, or a re-run of a finished
// request) is not processed again. A business failure is recorded and
// returned as a non-retryable BusinessError; any other error is retried by
// the activity's retry policy.
func (a *Activities) ProcessItem(ctx context.Context, ref ItemRef) (ItemResult, error) {
	w, err := a.Store.GetItemWork(ctx, ref.RequestID, ref.Index)
	if err != nil {
		return ItemResult{}, err
	}
	if w.Status.Final() {
		return resultOf(w.Item)
	}
	attempt := int(activity.GetInfo(ctx).Attempt)

	def, ok, err := a.Catalog.Lookup(ctx, ref.APICode)
	if err != nil {
		return ItemResult{}, fmt.Errorf("load api %q: %w", ref.APICode, err)
	}
	if !ok {
		return a.fail(ctx, ref, attempt, "asyncgate.api_removed", fmt.Sprintf("API %q no longer exists", ref.APICode))
	}
	h, err := a.Handlers.Resolve(def.Handler)
	if err != nil {
		return a.fail(ctx, ref, attempt, "asyncgate.handler_unavailable", err.Error())
	}
	started := time.Now()
	res, err := handler.Safe(h).Handle(ctx, handler.Item{
		RequestID: ref.RequestID, Index: ref.Index, APICode: ref.APICode, AppKey: w.AppKey, Attempt: attempt,
		Request: json.RawMessage(w.Request), Header: json.RawMessage(w.Header), Controls: controls(def),
	})
	if be, ok := handler.AsBusiness(err); ok {
		a.Metrics.ItemAttempt(ref.APICode, "failed", time.Since(started))
		code, msg := def.BusinessError(be.Code, be.Msg)
		return a.fail(ctx, ref, attempt, code, msg)
	}
	if err != nil {
		a.Metrics.ItemAttempt(ref.APICode, "retry", time.Since(started))
		activity.GetLogger(ctx).Warn("item attempt failed", "request_id", ref.RequestID, "item", ref.Index,
			"attempt", attempt, "error", err)
		return ItemResult{}, err
	}
	if len(res) == 0 {
		res = json.RawMessage(`{}`)
	}
	a.Metrics.ItemAttempt(ref.APICode, "succeeded", time.Since(started))
	if !json.Valid(res) {
		// A handler bug, not a transient failure: retrying gives the same.
		return a.fail(ctx, ref, attempt, "asyncgate.invalid_output", "the handler's result is not valid JSON")
	}
	stored, err := a.Store.RecordItemOutcome(ctx, store.ItemOutcome{
		RequestID: ref.RequestID, Index: ref.Index, Status: store.ItemSucceeded, Attempts: attempt, Result: res,
	})
	if err != nil {
		return ItemResult{}, err
	}
	return resultOf(stored)
}

// RecordItemFailure records a final failure the workflow decided on (retries
// exhausted, timeouts). An item that already has an outcome keeps it; the
// stored outcome is returned either way.
func (a *Activities) RecordItemFailure(ctx context.Context, ref ItemRef, f ItemFailure) (ItemResult, error) {
	stored, err := a.Store.RecordItemOutcome(ctx, store.ItemOutcome{
		RequestID: ref.RequestID, Index: ref.Index, Status: store.ItemFailed, SubCode: f.SubCode, SubMsg: f.SubMsg,
	})
	if err != nil {
		return ItemResult{}, err
	}
	if stored.SubCode == f.SubCode && stored.Status == store.ItemFailed {
		a.Metrics.ItemFailed(ref.APICode)
	}
	return summarize(stored), nil
}

// FinishInput closes a request.
type FinishInput struct {
	RequestID int64
	Canceled  bool
}

// Summary is a finished request's counts.
type Summary struct {
	RequestID int64
	Status    string
	Total     int
	Succeeded int
	Failed    int
	Canceled  int
	// Notify says a completion callback is due, to be tried per NotifyPolicy.
	Notify       bool
	NotifyPolicy NotifyPolicy
}

// FinishRequest marks the request done (or canceled) with counts taken from
// its items.
func (a *Activities) FinishRequest(ctx context.Context, in FinishInput) (Summary, error) {
	r, err := a.Store.FinishRequest(ctx, in.RequestID, in.Canceled)
	if err != nil {
		return Summary{}, err
	}
	return Summary{RequestID: r.ID, Status: string(r.Status), Total: r.Total, Succeeded: r.Succeeded,
		Failed: r.Failed, Canceled: r.Canceled,
		Notify: r.Status == store.StatusDone && r.NotifyState == store.NotifyPending, NotifyPolicy: a.Notify}, nil
}

func (a *Activities) fail(ctx context.Context, ref ItemRef, attempt int, code, msg string) (ItemResult, error) {
	stored, err := a.Store.RecordItemOutcome(ctx, store.ItemOutcome{
		RequestID: ref.RequestID, Index: ref.Index, Status: store.ItemFailed, Attempts: attempt, SubCode: code, SubMsg: msg,
	})
	if err != nil {
		return ItemResult{}, err
	}
	return resultOf(stored)
}

func summarize(it store.Item) ItemResult {
	return ItemResult{
		Index: it.Index, Succeeded: it.Status == store.ItemSucceeded, Canceled: it.Status == store.ItemCanceled,
		SubCode: it.SubCode,
	}
}

// resultOf turns a stored outcome into ProcessItem's answer: a failed item is
// a non-retryable BusinessError carrying sub_code/sub_msg.
func resultOf(it store.Item) (ItemResult, error) {
	switch it.Status {
	case store.ItemSucceeded, store.ItemCanceled:
		return summarize(it), nil
	case store.ItemFailed:
		return summarize(it), temporal.NewNonRetryableApplicationError(
			it.SubMsg, BusinessErrorType, nil, ItemFailure{SubCode: it.SubCode, SubMsg: it.SubMsg})
	default:
		return ItemResult{}, fmt.Errorf("item %d[%d] is still %s", it.RequestID, it.Index, it.Status)
	}
}

func controls(d catalog.Definition) map[string]string {
	if len(d.ParamControls) == 0 {
		return nil
	}
	m := make(map[string]string, len(d.ParamControls))
	for _, c := range d.ParamControls {
		m[c.Key] = c.Value
	}
	return m
}
