package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
)

func workflowsOnQueue(s *stack) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: "default",
		Query:     fmt.Sprintf("TaskQueue = '%s'", s.env["ASYNCGATE_TASK_QUEUE"]),
	}
}

const sleepPath = "/kapi/v2/e2e/e2e_sleep/batch"

// defineSleepAPI adds, through the admin API, a batch API whose items sleep:
// slow enough to be caught in flight, with a short item timeout so a
// crashed worker's items are retried quickly.
func defineSleepAPI(t *testing.T, s *stack) {
	t.Helper()
	def := map[string]any{
		"code": "e2e_sleep_batch", "name": "E2E sleep", "method": "POST", "app_id": "e2e", "form_id": "e2e_sleep",
		"service_name": "batch", "status": "published",
		"params": []map[string]any{{"name": "sleep_ms", "type": "integer", "required": true}},
		"batch": map[string]any{"items_path": "data", "max_items": 100, "concurrency": 4, "item_timeout": "4s",
			"retry": map[string]any{"max_attempts": 5, "initial_interval": "200ms"}},
		"handler": map[string]any{"type": "builtin", "builtin": "demo.sleep"},
	}
	req, err := http.NewRequest("PUT", s.apiURL+"/admin/api/apis/e2e_sleep_batch", bytes.NewReader(mustJSON(def)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
}

func sleepItems(n, ms int) map[string]any {
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{"sleep_ms": ms}
	}
	return map[string]any{"data": items}
}

// (a) The worker is killed (SIGKILL) mid-batch and a new one is started:
// the batch completes and every item has exactly one result.
func TestWorkerKilledMidBatch(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	defineSleepAPI(t, s)
	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, sleepPath, sleepItems(16, 1000))

	// Kill the worker while the server sees item activities started on it
	// and far from done. Waiting on finished counts alone is racy: a wave of
	// items can end just before the kill and the next wave then starts on
	// the new worker at attempt 1 — nothing in flight would be retried.
	wid := "asyncgate-request-" + id
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := s.checkStatus(token, sleepPath, id)
		require.Less(t, st.Finished, 12, "batch finished before the worker could be killed")
		if st.Finished >= 4 && startedRecently(t, s, wid, 500*time.Millisecond) > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "batch never got going: %+v", st)
		time.Sleep(50 * time.Millisecond)
	}
	s.workers[0].kill()
	before := s.checkStatus(token, sleepPath, id)
	require.Equal(t, "doing", before.Status)
	require.Equal(t, "table", before.Source, "no worker answers the query: the table does")

	s.startWorker()
	st := s.waitDone(token, sleepPath, id, 120*time.Second)
	require.Equal(t, 16, st.Succeeded, "%+v", st)
	require.Zero(t, st.Failed)
	items := s.allItems(token, sleepPath, id)
	require.Len(t, items, 16)
	retried := 0
	for _, it := range items {
		require.True(t, it.Success, "%+v", it)
		require.JSONEq(t, `{"slept_ms":1000}`, string(it.Result))
		if it.Attempts > 1 {
			retried++
		}
	}
	require.Positive(t, retried, "the items in flight when the worker died were retried")
	total, final := s.itemRows(id)
	require.Equal(t, 16, total)
	require.Equal(t, 16, final)
}

// startedRecently counts the run's item activities the server sees started
// less than age ago (a 1 s item started that recently is still running).
func startedRecently(t *testing.T, s *stack, wid string, age time.Duration) int {
	t.Helper()
	desc, err := s.temporal.DescribeWorkflowExecution(t.Context(), wid, "")
	require.NoError(t, err)
	n := 0
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && time.Since(pa.GetLastStartedTime().AsTime()) < age {
			n++
		}
	}
	return n
}

// (b) The Temporal frontend is unreachable while requests are submitted:
// receipts keep coming from PostgreSQL, and every accepted request completes
// once the frontend is back.
func TestTemporalUnreachableWhileSubmitting(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	token := s.token("demo-app", "demo-secret")
	s.proxy.cut()

	var ids []string
	for i := range 10 {
		start := time.Now()
		ids = append(ids, s.submit(token, orderPath, orders(5+i, 0)))
		require.Less(t, time.Since(start), 2*time.Second, "the receipt does not wait on Temporal")
	}
	// During the outage checkStatus answers from the table.
	st := s.checkStatus(token, orderPath, ids[0])
	require.Equal(t, "new", st.Status)
	require.Equal(t, "table", st.Source)
	time.Sleep(3 * time.Second)
	var pending int
	require.NoError(t, s.db.QueryRow(`SELECT count(*) FROM async_requests WHERE dispatch_state = 'pending'`).Scan(&pending))
	require.Equal(t, 10, pending, "nothing could be started while Temporal was down")

	require.NoError(t, s.proxy.restore())
	for i, id := range ids {
		st := s.waitDone(token, orderPath, id, 120*time.Second)
		require.Equal(t, 5+i, st.Total)
		require.Equal(t, 4+i, st.Succeeded)
		require.Equal(t, 1, st.Failed)
		total, final := s.itemRows(id)
		require.Equal(t, 5+i, total)
		require.Equal(t, total, final)
	}
	var attempts int
	require.NoError(t, s.db.QueryRow(`SELECT max(dispatch_attempts) FROM async_requests`).Scan(&attempts))
	require.Greater(t, attempts, 1, "starts were retried by the dispatcher")
}

// The API process dies right after answering: a new one (any dispatcher)
// starts what it accepted.
func TestAPIKilledAfterReceipt(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	token := s.token("demo-app", "demo-secret")
	s.proxy.cut() // the receipt is given, the start cannot happen yet
	id := s.submit(token, orderPath, orders(3))
	s.api.kill()
	require.NoError(t, s.proxy.restore())
	s.api = s.startProc("api-2", "api")
	require.NoError(t, waitHTTP(s.apiURL+"/readyz", 30*time.Second))
	st := s.waitDone(token, orderPath, id, 60*time.Second)
	require.Equal(t, 3, st.Succeeded)
}

// Cancel: a running request stops; finished items keep their results and the
// rest are canceled.
func TestCancelRunningRequest(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	defineSleepAPI(t, s)
	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, sleepPath, sleepItems(20, 500))
	deadline := time.Now().Add(60 * time.Second)
	for s.checkStatus(token, sleepPath, id).Finished < 2 {
		require.True(t, time.Now().Before(deadline))
		time.Sleep(100 * time.Millisecond)
	}
	r := s.do("POST", sleepPath+"?queryOpenApiType=cancel&openApiReqId="+id, map[string]string{"access_token": token}, nil)
	require.Equal(t, 200, r.code, string(r.raw))
	st := s.waitDone(token, sleepPath, id, 60*time.Second)
	require.Equal(t, "canceled", st.Status)
	require.Positive(t, st.Succeeded)
	require.Positive(t, st.Canceled)
	require.Equal(t, 20, st.Succeeded+st.Canceled)
	total, final := s.itemRows(id)
	require.Equal(t, 20, total)
	require.Equal(t, 20, final)
	s.recordHistory(id, "canceled_mid_batch")
}
