package activities

import (
	"context"
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/asyncgate/asyncgate/handler"
	"github.com/asyncgate/asyncgate/store"
)

// ChunkRef names items [From, To) of a request, forwarded in one call.
type ChunkRef struct {
	RequestID int64
	From, To  int
	APICode   string
}

// ProcessChunk runs a batched HTTP forward over the chunk's items that have
// no outcome yet and records each outcome; items decided before (a retry
// after a crash) are not sent again. The answer has every item of the
// chunk. Transient failures (5xx, timeouts) are errors: the activity's
// retry policy re-sends the still-pending items.
func (a *Activities) ProcessChunk(ctx context.Context, ref ChunkRef) ([]ItemResult, error) {
	items, err := a.Store.ListItems(ctx, ref.RequestID, ref.From, ref.To-ref.From)
	if err != nil {
		return nil, err
	}
	var pending []store.Item
	for _, it := range items {
		if !it.Status.Final() {
			pending = append(pending, it)
		}
	}
	if len(pending) > 0 {
		if err := a.forwardChunk(ctx, ref, pending); err != nil {
			return nil, err
		}
		if items, err = a.Store.ListItems(ctx, ref.RequestID, ref.From, ref.To-ref.From); err != nil {
			return nil, err
		}
	}
	out := make([]ItemResult, 0, len(items))
	for _, it := range items {
		out = append(out, summarize(it))
	}
	return out, nil
}

func (a *Activities) forwardChunk(ctx context.Context, ref ChunkRef, pending []store.Item) error {
	attempt := int(activity.GetInfo(ctx).Attempt)
	fail := func(code, msg string) error { // every pending item, final
		for _, it := range pending {
			if _, err := a.Store.RecordItemOutcome(ctx, store.ItemOutcome{RequestID: ref.RequestID, Index: it.Index,
				Status: store.ItemFailed, Attempts: attempt, SubCode: code, SubMsg: msg}); err != nil {
				return err
			}
		}
		return nil
	}
	def, ok, err := a.Catalog.Lookup(ctx, ref.APICode)
	if err != nil {
		return fmt.Errorf("load api %q: %w", ref.APICode, err)
	}
	if !ok {
		return fail("asyncgate.api_removed", fmt.Sprintf("API %q no longer exists", ref.APICode))
	}
	h, err := a.Handlers.Resolve(def.Handler)
	if err != nil {
		return fail("asyncgate.handler_unavailable", err.Error())
	}
	bh, ok := h.(handler.BatchHandler)
	if !ok {
		return fail("asyncgate.handler_unavailable", "the API's handler cannot process items in batches")
	}
	r, err := a.Store.GetRequest(ctx, ref.RequestID)
	if err != nil {
		return err
	}
	batch := make([]handler.Item, len(pending))
	for i, it := range pending {
		batch[i] = handler.Item{RequestID: ref.RequestID, Index: it.Index, APICode: ref.APICode, AppKey: r.AppKey,
			Attempt: attempt, Request: json.RawMessage(it.Request), Header: json.RawMessage(r.Header), Controls: controls(def)}
	}
	outcomes, err := bh.HandleBatch(ctx, batch)
	if be, ok := handler.AsBusiness(err); ok {
		code, msg := def.BusinessError(be.Code, be.Msg)
		return fail(code, msg)
	}
	if err != nil {
		activity.GetLogger(ctx).Warn("chunk attempt failed", "request_id", ref.RequestID, "from", ref.From, "to", ref.To,
			"attempt", attempt, "error", err)
		return err
	}
	for i, o := range outcomes {
		oc := store.ItemOutcome{RequestID: ref.RequestID, Index: pending[i].Index, Attempts: attempt}
		switch {
		case o.Err != nil:
			oc.Status = store.ItemFailed
			oc.SubCode, oc.SubMsg = def.BusinessError(o.Err.Code, o.Err.Msg)
		case !json.Valid(o.Result):
			oc.Status, oc.SubCode, oc.SubMsg = store.ItemFailed, "asyncgate.invalid_output", "the handler's result is not valid JSON"
		default:
			oc.Status, oc.Result = store.ItemSucceeded, o.Result
		}
		if _, err := a.Store.RecordItemOutcome(ctx, oc); err != nil {
			return err
		}
	}
	return nil
}

// RecordChunkFailure records a final failure for every item of the chunk
// still without an outcome (retries exhausted) and returns all of them.
func (a *Activities) RecordChunkFailure(ctx context.Context, ref ChunkRef, f ItemFailure) ([]ItemResult, error) {
	out := make([]ItemResult, 0, ref.To-ref.From)
	for i := ref.From; i < ref.To; i++ {
		r, err := a.RecordItemFailure(ctx, ItemRef{RequestID: ref.RequestID, Index: i, APICode: ref.APICode}, f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
