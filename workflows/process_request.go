package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/asyncgate/asyncgate/activities"
)

// ItemsPerRun bounds the items one run processes before continuing as new,
// so a request of thousands of items keeps each history far below
// Temporal's limits (~4 events per item).
const ItemsPerRun = 500

// ProcessRequestInput is a request as the dispatcher starts it; the
// definition's batch settings are copied in so a later edit of the API does
// not change a running request.
type ProcessRequestInput struct {
	RequestID   int64
	APICode     string
	AppKey      string
	Total       int
	Concurrency int
	ItemTimeout time.Duration
	Retry       RetryPolicy
	// ChunkSize > 1: items are processed ChunkSize at a time by one
	// ProcessChunk activity (a batched HTTP forward); Concurrency then
	// counts chunks. Zero in runs started before batching existed.
	ChunkSize int

	// Carried across continue-as-new.
	NextIndex int
	Counts    Counts
}

// RetryPolicy is an item's retry policy.
type RetryPolicy struct {
	MaxAttempts        int
	InitialInterval    time.Duration
	BackoffCoefficient float64
	MaxInterval        time.Duration
}

// Counts are item outcomes seen by the workflow.
type Counts struct {
	Succeeded int
	Failed    int
	Canceled  int
}

// Progress is the answer of the progress query (checkStatus).
type Progress struct {
	Status    string `json:"status"`
	Total     int    `json:"total"`
	Finished  int    `json:"finished"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
	Canceled  int    `json:"canceled"`
}

// ProcessRequestResult is the workflow's result: the summary. Item results
// live in PostgreSQL.
type ProcessRequestResult struct {
	RequestID int64
	Status    string
	Total     int
	Succeeded int
	Failed    int
	Canceled  int
}

// a is only used to name activities; Temporal calls the registered instance.
var a *activities.Activities

// ProcessRequest processes one async request: every item through
// ProcessItem with bounded concurrency, then the summary.
func ProcessRequest(ctx workflow.Context, in ProcessRequestInput) (ProcessRequestResult, error) {
	w := &requestWorkflow{in: in, counts: in.Counts, status: "doing"}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, w.progress); err != nil {
		return ProcessRequestResult{}, fmt.Errorf("register progress query: %w", err)
	}
	if in.NextIndex == 0 {
		if err := w.begin(ctx); err != nil {
			return ProcessRequestResult{}, err
		}
	}
	end := min(in.Total, in.NextIndex+ItemsPerRun)
	w.runItems(ctx, in.NextIndex, end)

	canceled := errors.Is(ctx.Err(), workflow.ErrCanceled)
	if !canceled && end < in.Total {
		next := in
		next.NextIndex, next.Counts = end, w.counts
		return ProcessRequestResult{}, workflow.NewContinueAsNewError(ctx, ProcessRequest, next)
	}
	return w.finish(ctx, canceled)
}

type requestWorkflow struct {
	in     ProcessRequestInput
	counts Counts
	status string

	versionRead        bool
	bookkeepingVersion workflow.Version
}

func (w *requestWorkflow) progress() (Progress, error) {
	c := w.counts
	return Progress{Status: w.status, Total: w.in.Total, Finished: c.Succeeded + c.Failed + c.Canceled,
		Succeeded: c.Succeeded, Failed: c.Failed, Canceled: c.Canceled}, nil
}

// begin marks the request doing in the table and in the search attributes.
func (w *requestWorkflow) begin(ctx workflow.Context) error {
	if err := w.bookkeep(ctx, a.MarkDoing, w.in.RequestID).Get(ctx, nil); err != nil {
		return fmt.Errorf("mark doing: %w", err)
	}
	return workflow.UpsertTypedSearchAttributes(ctx, SearchStatus.ValueSet("doing"))
}

// runItems processes items [from, to) with at most Concurrency in flight.
// On cancellation it stops scheduling; unfinished items become canceled in
// finish.
func (w *requestWorkflow) runItems(ctx workflow.Context, from, to int) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: w.in.ItemTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        w.in.Retry.InitialInterval,
			BackoffCoefficient:     w.in.Retry.BackoffCoefficient,
			MaximumInterval:        w.in.Retry.MaxInterval,
			MaximumAttempts:        int32(w.in.Retry.MaxAttempts),
			NonRetryableErrorTypes: []string{BusinessErrorType},
		},
	})
	if w.in.ChunkSize > 1 {
		w.runChunks(ctx, actx, from, to)
		return
	}
	limit := max(1, w.in.Concurrency)
	sel := workflow.NewSelector(ctx)
	inflight := 0
	for i := from; i < to && ctx.Err() == nil; i++ {
		for inflight >= limit && ctx.Err() == nil {
			sel.Select(ctx)
		}
		if ctx.Err() != nil {
			break
		}
		ref := activities.ItemRef{RequestID: w.in.RequestID, Index: i, APICode: w.in.APICode}
		inflight++
		sel.AddFuture(workflow.ExecuteActivity(actx, a.ProcessItem, ref), func(f workflow.Future) {
			inflight--
			if fail, ok := w.itemDone(ctx, f); !ok {
				// Retries exhausted or timed out: record the failure so the
				// item has exactly one outcome.
				inflight++
				sel.AddFuture(w.bookkeep(ctx, a.RecordItemFailure, ref, fail),
					func(f workflow.Future) {
						inflight--
						var r activities.ItemResult
						if err := f.Get(ctx, &r); err == nil {
							w.count(r)
						}
					})
			}
		})
	}
	for inflight > 0 {
		sel.Select(ctx)
	}
}

// runChunks is runItems for batched handlers: chunks of ChunkSize items,
// at most Concurrency chunks in flight; a chunk whose retries run out has
// its undecided items recorded as failed.
func (w *requestWorkflow) runChunks(ctx, actx workflow.Context, from, to int) {
	limit := max(1, w.in.Concurrency)
	sel := workflow.NewSelector(ctx)
	inflight := 0
	for lo := from; lo < to && ctx.Err() == nil; lo += w.in.ChunkSize {
		for inflight >= limit && ctx.Err() == nil {
			sel.Select(ctx)
		}
		if ctx.Err() != nil {
			break
		}
		ref := activities.ChunkRef{RequestID: w.in.RequestID, From: lo, To: min(to, lo+w.in.ChunkSize), APICode: w.in.APICode}
		inflight++
		sel.AddFuture(workflow.ExecuteActivity(actx, a.ProcessChunk, ref), func(f workflow.Future) {
			inflight--
			var rs []activities.ItemResult
			err := f.Get(ctx, &rs)
			if err == nil {
				for _, r := range rs {
					w.count(r)
				}
				return
			}
			fail, final := w.itemDone(ctx, errFuture{err})
			if final {
				return // canceled: finish marks the rest canceled
			}
			inflight++
			sel.AddFuture(w.bookkeep(ctx, a.RecordChunkFailure, ref, fail), func(f workflow.Future) {
				inflight--
				var rs []activities.ItemResult
				if err := f.Get(ctx, &rs); err == nil {
					for _, r := range rs {
						w.count(r)
					}
				}
			})
		})
	}
	for inflight > 0 {
		sel.Select(ctx)
	}
}

// errFuture is a settled future holding err, so itemDone can classify a
// chunk's error like an item's.
type errFuture struct{ err error }

func (f errFuture) Get(workflow.Context, any) error { return f.err }
func (f errFuture) IsReady() bool                   { return true }

// itemDone counts a finished ProcessItem. It returns ok=false with the
// failure to record when the activity gave up without an outcome.
func (w *requestWorkflow) itemDone(ctx workflow.Context, f workflow.Future) (activities.ItemFailure, bool) {
	var r activities.ItemResult
	err := f.Get(ctx, &r)
	if err == nil {
		w.count(r)
		return activities.ItemFailure{}, true
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == BusinessErrorType {
		w.counts.Failed++
		return activities.ItemFailure{}, true
	}
	var canceledErr *temporal.CanceledError
	if errors.As(err, &canceledErr) || errors.Is(ctx.Err(), workflow.ErrCanceled) {
		return activities.ItemFailure{}, true // finish marks it canceled
	}
	fail := activities.ItemFailure{SubCode: "asyncgate.item_failed", SubMsg: cause(err)}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		fail = activities.ItemFailure{SubCode: "asyncgate.item_timeout",
			SubMsg: fmt.Sprintf("item did not finish within %s", w.in.ItemTimeout)}
	}
	return fail, false
}

func (w *requestWorkflow) count(r activities.ItemResult) {
	switch {
	case r.Succeeded:
		w.counts.Succeeded++
	case r.Canceled:
		w.counts.Canceled++
	default:
		w.counts.Failed++
	}
}

// finish records the final status; after a cancellation it runs on a
// disconnected context so the bookkeeping still happens.
func (w *requestWorkflow) finish(ctx workflow.Context, canceled bool) (ProcessRequestResult, error) {
	fctx := ctx
	if canceled {
		fctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	var s activities.Summary
	in := activities.FinishInput{RequestID: w.in.RequestID, Canceled: canceled}
	if err := w.bookkeep(fctx, a.FinishRequest, in).Get(fctx, &s); err != nil {
		return ProcessRequestResult{}, fmt.Errorf("finish request: %w", err)
	}
	w.status = s.Status
	w.counts = Counts{Succeeded: s.Succeeded, Failed: s.Failed, Canceled: s.Canceled}
	if err := workflow.UpsertTypedSearchAttributes(fctx, SearchStatus.ValueSet(s.Status)); err != nil {
		return ProcessRequestResult{}, fmt.Errorf("upsert status: %w", err)
	}
	if s.Notify && workflow.GetVersion(fctx, notifyChange, workflow.DefaultVersion, notifyVersion) >= notifyVersion {
		w.startNotify(fctx, s)
	}
	return ProcessRequestResult{RequestID: s.RequestID, Status: s.Status, Total: s.Total,
		Succeeded: s.Succeeded, Failed: s.Failed, Canceled: s.Canceled}, nil
}

// notifyVersion: from version 1 a done request whose callback is due
// starts the Notify child workflow. Runs recorded before never did.
const (
	notifyChange  = "notify-callback"
	notifyVersion = 1
)

// startNotify starts the callback delivery as an abandoned child: the
// request is finished and its result must not wait for a receiver that may
// be down for minutes. Only the start is awaited.
func (w *requestWorkflow) startNotify(ctx workflow.Context, s activities.Summary) {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        NotifyWorkflowID(w.in.RequestID),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		// The delivery's own budget bounds it; this is a backstop.
		WorkflowExecutionTimeout: 24 * time.Hour,
	})
	child := workflow.ExecuteChildWorkflow(cctx, NotifyName, NotifyInput{RequestID: w.in.RequestID, Policy: s.NotifyPolicy})
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		// Already running (an admin redelivery): that run delivers it.
		workflow.GetLogger(ctx).Warn("start callback delivery", "request_id", w.in.RequestID, "error", err)
	}
}

// localBookkeepingVersion: from version 1 the table writes (MarkDoing,
// RecordItemFailure, FinishRequest) run as local activities — short
// PostgreSQL writes gain nothing from a server round trip each, and
// dropping three scheduled activities per request is the largest cut in
// history size and server load for small requests. Runs recorded before
// (DefaultVersion) keep regular activities.
const (
	localBookkeepingChange  = "local-bookkeeping"
	localBookkeepingVersion = 1
)

// bookkeep runs a table write. The writes must eventually succeed, so they
// retry without limit (PostgreSQL may be restarting).
func (w *requestWorkflow) bookkeep(ctx workflow.Context, activity any, args ...any) workflow.Future {
	retry := &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}
	if w.version(ctx) >= localBookkeepingVersion {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry,
		})
		return workflow.ExecuteLocalActivity(lctx, activity, args...)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry})
	return workflow.ExecuteActivity(actx, activity, args...)
}

// version reads the workflow's version of the bookkeeping change once, at
// its first table write, so one run never mixes the two kinds.
func (w *requestWorkflow) version(ctx workflow.Context) workflow.Version {
	if !w.versionRead {
		w.bookkeepingVersion = workflow.GetVersion(ctx, localBookkeepingChange, workflow.DefaultVersion, localBookkeepingVersion)
		w.versionRead = true
	}
	return w.bookkeepingVersion
}

// cause is the innermost error message, without Temporal's wrapping.
func cause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			msg := err.Error()
			if len(msg) > 500 {
				msg = msg[:500]
			}
			return msg
		}
		err = next
	}
}
