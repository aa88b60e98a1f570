package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/asyncgate/asyncgate/activities"
	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/handler"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/store/storetest"
)

const reqID = int64(1000000000000000042)

type bundle struct {
	env   *testsuite.TestActivityEnvironment
	store *store.Store
	calls atomic.Int32
}

// setup stores one 3-item request for an API whose handler succeeds on
// "ok", fails with a business error on "bad" and transiently on "flaky".
func setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	s := storetest.TxStore(t)
	ctx := t.Context()
	def := catalog.Definition{Code: "t_api", Name: "T", AppID: "t", FormID: "t_form", ServiceName: "batch",
		Status: catalog.StatusPublished, Handler: catalog.HandlerSpec{Type: catalog.HandlerBuiltin, Builtin: "t.handler"},
		ParamControls: []catalog.ParamControl{{Key: "mode", Value: "strict"}}}.WithDefaults()
	require.NoError(t, s.UpsertDefinition(ctx, def))
	require.NoError(t, s.UpsertApp(ctx, catalog.App{AppKey: "t-app", Secret: "t-secret-0123456789", Name: "T", Grants: []string{"*"}}))
	_, err := s.CreateRequest(ctx, store.NewRequest{ID: reqID, APICode: "t_api", AppKey: "t-app", Protocol: "kapi",
		Items: []json.RawMessage{json.RawMessage(`{"v":"ok"}`), json.RawMessage(`{"v":"bad"}`), json.RawMessage(`{"v":"flaky"}`),
			json.RawMessage(`{"v":"broken"}`), json.RawMessage(`{"v":"panic"}`)},
		WorkflowID: "wf"})
	require.NoError(t, err)
	cat := catalog.NewCache(s)
	require.NoError(t, cat.Refresh(ctx))

	b := &bundle{store: s}
	reg := handler.NewRegistry(nil)
	reg.Register("t.handler", handler.Func(func(_ context.Context, it handler.Item) (json.RawMessage, error) {
		b.calls.Add(1)
		var in struct{ V string }
		_ = json.Unmarshal(it.Request, &in)
		switch in.V {
		case "bad":
			return nil, handler.Business("t.bad", "bad item")
		case "flaky":
			return nil, errors.New("downstream 503")
		case "broken":
			return json.RawMessage(`{"half":`), nil
		case "panic":
			var m map[string]int
			m["x"]++ // nil map: a handler bug
		}
		return json.Marshal(map[string]any{"ok": true, "mode": it.Controls["mode"], "app": it.AppKey, "attempt": it.Attempt})
	}))
	var ts testsuite.WorkflowTestSuite
	b.env = ts.NewTestActivityEnvironment()
	b.env.RegisterActivity(&activities.Activities{Store: s, Catalog: cat, Handlers: reg})
	return b
}

func (b *bundle) process(idx int) (activities.ItemResult, error) {
	var a *activities.Activities
	v, err := b.env.ExecuteActivity(a.ProcessItem, activities.ItemRef{RequestID: reqID, Index: idx, APICode: "t_api"})
	if err != nil {
		return activities.ItemResult{}, err
	}
	var r activities.ItemResult
	return r, v.Get(&r)
}

func TestProcessItemRecordsSuccessOnce(t *testing.T) {
	b := setup(t)
	r, err := b.process(0)
	require.NoError(t, err)
	require.Equal(t, activities.ItemResult{Index: 0, Succeeded: true}, r)
	it, err := b.store.GetItem(t.Context(), reqID, 0)
	require.NoError(t, err)
	require.Equal(t, store.ItemSucceeded, it.Status)
	require.JSONEq(t, `{"ok":true,"mode":"strict","app":"t-app","attempt":1}`, string(it.Result.JSONText))

	// A retry after a crash (or a replayed run) does not run the handler again.
	r, err = b.process(0)
	require.NoError(t, err)
	require.True(t, r.Succeeded)
	require.EqualValues(t, 1, b.calls.Load())
}

func TestProcessItemBusinessErrorIsFinal(t *testing.T) {
	b := setup(t)
	_, err := b.process(1)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, activities.BusinessErrorType, appErr.Type())
	require.True(t, appErr.NonRetryable())
	var f activities.ItemFailure
	require.NoError(t, appErr.Details(&f))
	require.Equal(t, activities.ItemFailure{SubCode: "t.bad", SubMsg: "bad item"}, f)
	it, err := b.store.GetItem(t.Context(), reqID, 1)
	require.NoError(t, err)
	require.Equal(t, store.ItemFailed, it.Status)
	require.Equal(t, "t.bad", it.SubCode)
}

func TestProcessItemTransientErrorRecordsNothing(t *testing.T) {
	b := setup(t)
	_, err := b.process(2)
	require.ErrorContains(t, err, "downstream 503")
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		require.False(t, appErr.NonRetryable(), "a transient error must be retried")
	}
	it, err := b.store.GetItem(t.Context(), reqID, 2)
	require.NoError(t, err)
	require.Equal(t, store.ItemPending, it.Status)

	// Retries exhausted: the workflow records the failure; a second record keeps the first.
	var a *activities.Activities
	_, err = b.env.ExecuteActivity(a.RecordItemFailure, activities.ItemRef{RequestID: reqID, Index: 2, APICode: "t_api"},
		activities.ItemFailure{SubCode: "asyncgate.item_failed", SubMsg: "downstream 503"})
	require.NoError(t, err)
	_, err = b.env.ExecuteActivity(a.RecordItemFailure, activities.ItemRef{RequestID: reqID, Index: 2, APICode: "t_api"},
		activities.ItemFailure{SubCode: "other", SubMsg: "other"})
	require.NoError(t, err)
	it, err = b.store.GetItem(t.Context(), reqID, 2)
	require.NoError(t, err)
	require.Equal(t, "asyncgate.item_failed", it.SubCode)
}

func TestFinishRequestCountsItems(t *testing.T) {
	b := setup(t)
	_, _ = b.process(0)
	_, _ = b.process(1)
	var a *activities.Activities
	_, err := b.env.ExecuteActivity(a.MarkDoing, reqID)
	require.NoError(t, err)
	v, err := b.env.ExecuteActivity(a.FinishRequest, activities.FinishInput{RequestID: reqID, Canceled: true})
	require.NoError(t, err)
	var sum activities.Summary
	require.NoError(t, v.Get(&sum))
	require.Equal(t, activities.Summary{RequestID: reqID, Status: "canceled", Total: 5, Succeeded: 1, Failed: 1, Canceled: 3}, sum)
	r, err := b.store.GetRequest(t.Context(), reqID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, r.Status)
}

// A handler's misbehaviour is a clear item error: invalid output is final
// at once; a panic is an ordinary error (retried, then item_failed).
func TestProcessItemHandlerMisbehaviour(t *testing.T) {
	b := setup(t)
	_, err := b.process(3)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.True(t, appErr.NonRetryable())
	it, err := b.store.GetItem(t.Context(), reqID, 3)
	require.NoError(t, err)
	require.Equal(t, store.ItemFailed, it.Status)
	require.Equal(t, "asyncgate.invalid_output", it.SubCode)

	_, err = b.process(4)
	require.ErrorContains(t, err, "panic")
	it, err = b.store.GetItem(t.Context(), reqID, 4)
	require.NoError(t, err)
	require.Equal(t, store.ItemPending, it.Status, "retried by the activity's policy")
}
