package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/store"
)

// finished creates a request of app "app" with two items and finishes it.
func finished(b testBundle, t *testing.T, id int64, notifyURL string, canceled bool) store.Request {
	t.Helper()
	require.NoError(t, b.store.UpsertApp(b.ctx, catalog.App{AppKey: "app", Secret: "s3cret-s3cret", Name: "App",
		NotifyURL: notifyURL, NotifyFormat: catalog.NotifyWebhook, Grants: []string{"*"}}))
	newRequest(b, t, id, `{"billno":"a"}`, `{"billno":"b"}`)
	r, err := b.store.FinishRequest(b.ctx, id, canceled)
	require.NoError(t, err)
	return r
}

func TestFinishMakesTheCallbackDue(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		canceled bool
		want     string
	}{
		{"done with notify url", "https://isv.example.com/cb", false, store.NotifyPending},
		{"done without notify url", "", false, store.NotifyNone},
		{"canceled", "https://isv.example.com/cb", true, store.NotifyNone},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t)
			r := finished(b, t, 1000000000000000500+int64(i), tt.url, tt.canceled)
			require.Equal(t, tt.want, r.NotifyState)
			// Finishing again (a retried activity) changes nothing.
			again, err := b.store.FinishRequest(b.ctx, r.ID, tt.canceled)
			require.NoError(t, err)
			require.Equal(t, tt.want, again.NotifyState)
		})
	}
}

func TestNotifyAttemptsAreNumberedAndDeliveredOnce(t *testing.T) {
	b := setup(t)
	r := finished(b, t, 1000000000000000510, "https://isv.example.com/cb", false)

	w, err := b.store.GetNotifyWork(b.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, "https://isv.example.com/cb", w.NotifyURL)
	require.Equal(t, "webhook", w.NotifyFormat)
	require.Equal(t, "s3cret-s3cret", w.Secret)
	require.Equal(t, store.NotifyPending, w.NotifyState)

	at := time.Now()
	long := make([]byte, 5000)
	for i := range long {
		long[i] = 'x'
	}
	a1, err := b.store.RecordNotifyAttempt(b.ctx, store.NotifyAttempt{RequestID: r.ID, At: at, URL: w.NotifyURL,
		Format: "webhook", HTTPStatus: 500, ResponseBody: string(long), Error: "HTTP 500"})
	require.NoError(t, err)
	require.Equal(t, 1, a1.Attempt)
	require.Len(t, a1.ResponseBody, 1024)

	a2, err := b.store.RecordNotifyAttempt(b.ctx, store.NotifyAttempt{RequestID: r.ID, At: at.Add(time.Second),
		URL: w.NotifyURL, Format: "webhook", HTTPStatus: 204, Delivered: true, DurationUS: 1500})
	require.NoError(t, err)
	require.Equal(t, 2, a2.Attempt)

	got, err := b.store.GetRequest(b.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, store.NotifyDelivered, got.NotifyState)
	require.True(t, got.NotifiedAt.Valid)

	// A delivered callback is not marked failed, nor redelivered.
	require.NoError(t, b.store.MarkNotifyFailed(b.ctx, r.ID))
	_, err = b.store.PrepareRedelivery(b.ctx, r.ID)
	require.ErrorIs(t, err, store.ErrNotRedeliverable)
	require.ErrorContains(t, err, "delivered")

	list, err := b.store.ListNotifyAttempts(b.ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.False(t, list[0].Delivered)
	require.True(t, list[1].Delivered)
	require.EqualValues(t, 1500, list[1].DurationUS)

	// Last: the conflict aborts the test's transaction.
	_, err = b.store.RecordNotifyAttempt(b.ctx, store.NotifyAttempt{RequestID: r.ID, At: at, URL: w.NotifyURL,
		Format: "webhook", HTTPStatus: 200, Delivered: true})
	require.ErrorIs(t, err, store.ErrConflict)
}

func TestRedeliveryAfterFailure(t *testing.T) {
	b := setup(t)
	r := finished(b, t, 1000000000000000520, "https://isv.example.com/cb", false)

	_, err := b.store.PrepareRedelivery(b.ctx, r.ID)
	require.ErrorIs(t, err, store.ErrNotRedeliverable, "pending: a delivery is under way")
	require.ErrorContains(t, err, "pending")

	require.NoError(t, b.store.MarkNotifyFailed(b.ctx, r.ID))
	got, err := b.store.GetRequest(b.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, store.NotifyFailed, got.NotifyState)

	again, err := b.store.PrepareRedelivery(b.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, store.NotifyPending, again.NotifyState)

	// Not done yet: nothing to deliver.
	newRequest(b, t, 1000000000000000521, `{"billno":"c"}`)
	_, err = b.store.PrepareRedelivery(b.ctx, 1000000000000000521)
	require.ErrorIs(t, err, store.ErrNotRedeliverable)
	require.ErrorContains(t, err, "not done")

	_, err = b.store.PrepareRedelivery(b.ctx, 42)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestCountRequestsMatchesList(t *testing.T) {
	b := setup(t)
	for i := range 3 {
		newRequest(b, t, 1000000000000000530+int64(i), `{"billno":"a"}`)
	}
	f := store.RequestFilter{AppKey: "app", From: time.Now().Add(-time.Minute)}
	n, err := b.store.CountRequests(b.ctx, f)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	list, err := b.store.ListRequests(b.ctx, store.RequestFilter{AppKey: "app", From: f.From, Limit: 2})
	require.NoError(t, err)
	require.Len(t, list, 2)
	n, err = b.store.CountRequests(b.ctx, store.RequestFilter{AppKey: "other"})
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestUpsertAppWithoutSecretKeepsIt(t *testing.T) {
	b := setup(t)
	a := catalog.App{AppKey: "keep", Secret: "s3cret-s3cret", Name: "K", Grants: []string{"*"}}
	require.NoError(t, b.store.UpsertApp(b.ctx, a))
	a.Secret, a.Name = "", "Renamed"
	require.NoError(t, b.store.UpsertApp(b.ctx, a))
	got, err := b.store.GetApp(b.ctx, "keep")
	require.NoError(t, err)
	require.Equal(t, "s3cret-s3cret", got.Secret)
	require.Equal(t, "Renamed", got.Name)

	err = b.store.UpsertApp(b.ctx, catalog.App{AppKey: "new-app", Name: "N"})
	require.ErrorIs(t, err, store.ErrSecretRequired)
}

func TestRetryFailedItemsOnly(t *testing.T) {
	b := setup(t)
	r := newRequest(b, t, 1000000000000000540, `{"billno":"a"}`, `{"billno":"b"}`, `{"billno":"c"}`)
	_, _, err := b.store.RetryFailedItems(b.ctx, r.ID)
	require.ErrorIs(t, err, store.ErrNotRetryable, "not done yet")
	for i, st := range []store.ItemStatus{store.ItemSucceeded, store.ItemFailed, store.ItemFailed} {
		o := store.ItemOutcome{RequestID: r.ID, Index: i, Status: st, Attempts: 3, SubCode: "x.fail", SubMsg: "no"}
		if st == store.ItemSucceeded {
			o.Result, o.SubCode, o.SubMsg = json.RawMessage(`{"ok":1}`), "", ""
		}
		_, err := b.store.RecordItemOutcome(b.ctx, o)
		require.NoError(t, err)
	}
	_, err = b.store.FinishRequest(b.ctx, r.ID, false)
	require.NoError(t, err)

	got, n, err := b.store.RetryFailedItems(b.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, store.StatusNew, got.Status)
	require.Equal(t, store.DispatchPending, got.DispatchState)
	require.Equal(t, 1, got.Retries)
	require.Equal(t, "asyncgate-request-1000000000000000540-retry-1", got.WorkflowID)
	items, err := b.store.ListItems(b.ctx, r.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, store.ItemSucceeded, items[0].Status, "succeeded items keep their outcome")
	require.JSONEq(t, `{"ok":1}`, string(items[0].Result.JSONText))
	require.Equal(t, store.ItemPending, items[1].Status)
	require.Empty(t, items[1].SubCode)
	require.Equal(t, store.ItemPending, items[2].Status)

	_, _, err = b.store.RetryFailedItems(b.ctx, r.ID)
	require.ErrorIs(t, err, store.ErrNotRetryable, "running again: not done")
}
