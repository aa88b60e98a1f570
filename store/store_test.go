package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/store/storetest"
)

type testBundle struct {
	ctx   context.Context
	store *store.Store
}

func setup(t *testing.T) testBundle {
	t.Helper()
	t.Parallel()
	return testBundle{ctx: context.Background(), store: storetest.TxStore(t)}
}

func demoDefinition(code, service string) catalog.Definition {
	return catalog.Definition{
		Code: code, Name: "Test " + code, AppID: "demo", FormID: "demo_order", ServiceName: service,
		TopMethod:  "taobao.topats." + service + ".get",
		TopLists:   []catalog.TopList{{Param: "billnos", Field: "billno"}},
		Params:     []catalog.Param{{Name: "billno", Type: catalog.TypeString, Required: true}},
		Handler:    catalog.HandlerSpec{Type: catalog.HandlerBuiltin, Builtin: "noop"},
		WebService: &catalog.WebService{Namespace: "http://x", InputParam: "in", OutputParam: "out", WSDLMethod: "m"},
	}.WithDefaults()
}

func newRequest(b testBundle, t *testing.T, id int64, items ...string) store.Request {
	t.Helper()
	raw := make([]json.RawMessage, len(items))
	for i, it := range items {
		raw[i] = json.RawMessage(it)
	}
	r, err := b.store.CreateRequest(b.ctx, store.NewRequest{
		ID: id, APICode: "api_a", AppKey: "app", Protocol: "kapi", Header: json.RawMessage(`{"note":"x"}`),
		Items: raw, WorkflowID: "wf-" + time.Now().String(),
		Log: &store.CallLogEntry{Protocol: "kapi", Kind: "submit", HTTPMethod: "POST", Path: "/kapi/v2/x", HTTPStatus: 200, RequestBody: `{"data":[]}`},
	})
	require.NoError(t, err)
	return r
}

func TestDefinitionRoundTripAndConflicts(t *testing.T) {
	b := setup(t)
	d := demoDefinition("api_a", "batchSave")
	d.ParamControls = []catalog.ParamControl{{Key: "k", Value: "v"}}
	d.Options.DedupEnabled = true
	d.Options.DedupWindow = catalog.Duration(45 * time.Second)
	require.NoError(t, b.store.UpsertDefinition(b.ctx, d))

	got, err := b.store.GetDefinition(b.ctx, "api_a")
	require.NoError(t, err)
	require.Equal(t, d, got)

	d.Status = catalog.StatusMaintenance
	require.NoError(t, b.store.UpsertDefinition(b.ctx, d))
	got, err = b.store.GetDefinition(b.ctx, "api_a")
	require.NoError(t, err)
	require.Equal(t, catalog.StatusMaintenance, got.Status)
	_, err = b.store.GetDefinition(b.ctx, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)

	// Same path, other code: the URL clash is a conflict (last: it aborts
	// the test's transaction).
	clash := demoDefinition("api_b", "batchSave")
	clash.TopMethod = ""
	err = b.store.UpsertDefinition(b.ctx, clash)
	require.ErrorIs(t, err, store.ErrConflict)
}

func TestDefinitionsVersionChangesWithRows(t *testing.T) {
	b := setup(t)
	v1, err := b.store.DefinitionsVersion(b.ctx)
	require.NoError(t, err)
	require.NoError(t, b.store.UpsertDefinition(b.ctx, demoDefinition("api_v", "batchV")))
	v2, err := b.store.DefinitionsVersion(b.ctx)
	require.NoError(t, err)
	require.NotEqual(t, v1, v2)
	require.NoError(t, b.store.DeleteDefinition(b.ctx, "api_v"))
	require.ErrorIs(t, b.store.DeleteDefinition(b.ctx, "api_v"), store.ErrNotFound)
}

func TestAppsGrantsAndTokens(t *testing.T) {
	b := setup(t)
	app := catalog.App{AppKey: "isv-1", Secret: "s3cret-value", Name: "ISV", Grants: []string{"b", "a"}, Tester: true}
	require.NoError(t, b.store.UpsertApp(b.ctx, app))
	got, err := b.store.GetApp(b.ctx, "isv-1")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, got.Grants)
	require.Equal(t, catalog.NotifyWebhook, got.NotifyFormat)
	require.True(t, got.Granted("a"))
	require.False(t, got.Granted("c"))

	app.Grants = []string{"*"}
	require.NoError(t, b.store.UpsertApp(b.ctx, app))
	got, err = b.store.GetApp(b.ctx, "isv-1")
	require.NoError(t, err)
	require.True(t, got.Granted("anything"))

	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	require.NoError(t, b.store.InsertToken(b.ctx, "tok-1", "isv-1", exp))
	key, gotExp, err := b.store.LookupToken(b.ctx, "tok-1")
	require.NoError(t, err)
	require.Equal(t, "isv-1", key)
	require.True(t, exp.Equal(gotExp))
	_, _, err = b.store.LookupToken(b.ctx, "tok-2")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestCreateRequestStoresItemsAndLog(t *testing.T) {
	b := setup(t)
	r := newRequest(b, t, 1000000000000000001, `{"billno":"A","amount":1}`, `{"billno":"B","amount":-1}`)
	require.Equal(t, store.StatusNew, r.Status)
	require.Equal(t, 2, r.Total)
	require.Equal(t, store.DispatchPending, r.DispatchState)

	items, err := b.store.ListItems(b.ctx, r.ID, 0, 10)
	require.NoError(t, err)
	require.Len(t, items, 2)
	require.Equal(t, 1, items[1].Index)
	require.JSONEq(t, `{"billno":"B","amount":-1}`, string(items[1].Request))
	require.Equal(t, store.ItemPending, items[1].Status)

	logs, err := b.store.ListCallLog(b.ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "submit", logs[0].Kind)

	// The same id again is a conflict: the caller takes another id.
	_, err = b.store.CreateRequest(b.ctx, store.NewRequest{ID: r.ID, APICode: "x", AppKey: "y", Protocol: "kapi", WorkflowID: "w"})
	require.ErrorIs(t, err, store.ErrConflict)
}

func TestClaimPendingLeasesRows(t *testing.T) {
	b := setup(t)
	r1 := newRequest(b, t, 1000000000000000011, `{}`)
	r2 := newRequest(b, t, 1000000000000000012, `{}`)

	claimed, err := b.store.ClaimPending(b.ctx, 10, time.Minute)
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{r1.ID, r2.ID}, ids(claimed))
	require.Equal(t, 1, claimed[0].DispatchAttempts)

	// Leased rows are not handed out again.
	again, err := b.store.ClaimPending(b.ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, again)

	require.NoError(t, b.store.MarkDispatched(b.ctx, r1.ID, "run-1"))
	require.NoError(t, b.store.MarkDispatchFailed(b.ctx, r2.ID, "temporal unavailable", 0))
	// r2 is due again (no backoff), r1 is started.
	again, err = b.store.ClaimPending(b.ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int64{r2.ID}, ids(again))
	require.Equal(t, 2, again[0].DispatchAttempts)
	require.Equal(t, "temporal unavailable", again[0].DispatchError)

	got, err := b.store.GetRequest(b.ctx, r1.ID)
	require.NoError(t, err)
	require.Equal(t, store.DispatchStarted, got.DispatchState)
	require.Equal(t, "run-1", got.RunID)
	require.True(t, got.DispatchedAt.Valid)
}

// A dispatcher that dies holding a lease: once the lease expires the row is
// claimable again. now() is fixed inside a transaction, so this test commits
// to its own database.
func TestExpiredLeaseComesBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.NewDatabase(t)
	s := store.New(db)
	_, err := s.CreateRequest(ctx, store.NewRequest{ID: 1000000000000000021, APICode: "a", AppKey: "b",
		Protocol: "kapi", Items: []json.RawMessage{json.RawMessage(`{}`)}, WorkflowID: "w"})
	require.NoError(t, err)
	claimed, err := s.ClaimPending(ctx, 10, 50*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	again, err := s.ClaimPending(ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, again, "leased")
	time.Sleep(100 * time.Millisecond)
	again, err = s.ClaimPending(ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, again, 1, "lease expired")
	require.Equal(t, 2, again[0].DispatchAttempts)
}

func TestItemOutcomeIsRecordedOnce(t *testing.T) {
	b := setup(t)
	r := newRequest(b, t, 1000000000000000031, `{"a":1}`, `{"a":2}`, `{"a":3}`)
	require.NoError(t, b.store.MarkDoing(b.ctx, r.ID))

	first, err := b.store.RecordItemOutcome(b.ctx, store.ItemOutcome{RequestID: r.ID, Index: 0, Status: store.ItemSucceeded,
		Attempts: 2, Result: json.RawMessage(`{"id":"x"}`)})
	require.NoError(t, err)
	require.Equal(t, store.ItemSucceeded, first.Status)
	require.Equal(t, 2, first.Attempts)

	// A late failure of a retried attempt does not overwrite the success.
	again, err := b.store.RecordItemOutcome(b.ctx, store.ItemOutcome{RequestID: r.ID, Index: 0, Status: store.ItemFailed,
		SubCode: "late", SubMsg: "late"})
	require.NoError(t, err)
	require.Equal(t, store.ItemSucceeded, again.Status)
	require.JSONEq(t, `{"id":"x"}`, string(again.Result.JSONText))

	_, err = b.store.RecordItemOutcome(b.ctx, store.ItemOutcome{RequestID: r.ID, Index: 1, Status: store.ItemFailed,
		Attempts: 1, SubCode: "demo.negative_amount", SubMsg: "negative"})
	require.NoError(t, err)

	p, err := b.store.CountItems(b.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, store.Progress{Total: 3, Succeeded: 1, Failed: 1}, p)

	// Finishing with cancel turns the pending item into canceled.
	done, err := b.store.FinishRequest(b.ctx, r.ID, true)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, done.Status)
	require.Equal(t, [3]int{1, 1, 1}, [3]int{done.Succeeded, done.Failed, done.Canceled})
	require.True(t, done.FinishedAt.Valid)

	// Finishing again keeps the first final status.
	again2, err := b.store.FinishRequest(b.ctx, r.ID, false)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, again2.Status)
}

func TestCancelBeforeDispatchSkipsTheWorkflow(t *testing.T) {
	b := setup(t)
	r := newRequest(b, t, 1000000000000000041, `{}`, `{}`)
	got, err := b.store.RequestCancel(b.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, got.Status)
	require.Equal(t, store.DispatchSkipped, got.DispatchState)
	require.Equal(t, 2, got.Canceled)
	claimed, err := b.store.ClaimPending(b.ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, claimed)

	// Once dispatched, cancel only raises the flag; the workflow finishes it.
	r2 := newRequest(b, t, 1000000000000000042, `{}`)
	_, err = b.store.ClaimPending(b.ctx, 10, time.Minute)
	require.NoError(t, err)
	require.NoError(t, b.store.MarkDispatched(b.ctx, r2.ID, "run"))
	got, err = b.store.RequestCancel(b.ctx, r2.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusNew, got.Status)
	require.True(t, got.CancelRequested)
}

func TestListRequestsFilters(t *testing.T) {
	b := setup(t)
	newRequest(b, t, 1000000000000000051, `{}`)
	newRequest(b, t, 1000000000000000052, `{}`)
	all, err := b.store.ListRequests(b.ctx, store.RequestFilter{AppKey: "app"})
	require.NoError(t, err)
	require.Len(t, all, 2)
	none, err := b.store.ListRequests(b.ctx, store.RequestFilter{AppKey: "other"})
	require.NoError(t, err)
	require.Empty(t, none)
	future, err := b.store.ListRequests(b.ctx, store.RequestFilter{From: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, future)
}

func TestCallLogBatch(t *testing.T) {
	b := setup(t)
	r := newRequest(b, t, 1000000000000000061, `{}`)
	entries := []store.CallLogEntry{
		{RequestID: r.ID, Protocol: "kapi", Kind: "checkStatus", HTTPMethod: "GET", Path: "/p", HTTPStatus: 200, Duration: time.Millisecond},
		{Protocol: "kapi", Kind: "submit", HTTPMethod: "POST", Path: "/p", HTTPStatus: 400, ErrorCode: "400", ResponseBody: "bad"},
	}
	require.NoError(t, b.store.InsertCallLogs(b.ctx, entries))
	logs, err := b.store.ListCallLog(b.ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, logs, 2) // the submit line from CreateRequest and the checkStatus line
	require.Equal(t, int64(1000), logs[1].DurationUS)
}

// Two dispatchers claiming at once never get the same row (SKIP LOCKED);
// this needs real commits, so it uses its own database.
func TestConcurrentClaimsAreDisjoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.NewDatabase(t)
	s := store.New(db)
	for i := range 50 {
		_, err := s.CreateRequest(ctx, store.NewRequest{ID: 1000000000000000100 + int64(i), APICode: "a", AppKey: "b",
			Protocol: "kapi", Items: []json.RawMessage{json.RawMessage(`{}`)}, WorkflowID: "w"})
		require.NoError(t, err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rows, err := s.ClaimPending(ctx, 7, time.Minute)
				if err != nil || len(rows) == 0 {
					return
				}
				mu.Lock()
				for _, r := range rows {
					seen[r.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, seen, 50)
	for id, n := range seen {
		require.Equal(t, 1, n, "request %d claimed %d times", id, n)
	}
}

func TestOpenCreatesMissingDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, err := url.Parse(storetest.ServerURL())
	require.NoError(t, err)
	name := fmt.Sprintf("asyncgate_test_%d_open", time.Now().UnixNano())
	u.Path = "/" + name
	admin, err := sqlx.Open("postgres", storetest.ServerURL())
	require.NoError(t, err)
	defer admin.Close()
	t.Cleanup(func() { _, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`) })

	db, err := store.Open(ctx, u.String())
	require.NoError(t, err)
	defer db.Close()
	applied, err := store.Migrate(ctx, db)
	require.NoError(t, err)
	require.NotEmpty(t, applied)
	applied, err = store.Migrate(ctx, db)
	require.NoError(t, err)
	require.Empty(t, applied, "migrations are applied once")
}

func ids(rs []store.Request) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
