package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/asyncgate/asyncgate/workflows"
)

const (
	orderPath     = "/kapi/v2/demo/demo_order/batchSave"
	inventoryPath = "/kapi/v2/demo/demo_inventory/batchReserve"
)

// orders builds n demo orders; the listed indexes get a negative amount.
func orders(n int, negative ...int) map[string]any {
	neg := map[int]bool{}
	for _, i := range negative {
		neg[i] = true
	}
	items := make([]map[string]any, n)
	for i := range items {
		amount := 10.5 + float64(i)
		if neg[i] {
			amount = -amount
		}
		items[i] = map[string]any{"billno": fmt.Sprintf("SO-%04d", i), "amount": amount}
	}
	return map[string]any{"data": items}
}

// The walk-through of the README: token → submit 40 items, some with a
// negative amount → checkStatus → queryResult with every item's outcome.
func TestKapiBatchEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	token := s.token("demo-app", "demo-secret")
	negative := []int{3, 17, 29}
	id := s.submit(token, orderPath, orders(40, negative...))

	// Right after the receipt the request is known, whatever its progress.
	st := s.checkStatus(token, orderPath, id)
	require.Equal(t, 40, st.Total)
	require.Contains(t, []string{"new", "doing", "done"}, st.Status)

	// While unfinished, queryResult answers the status only.
	if early := s.queryResult(token, orderPath, id, ""); early.Status != "done" {
		require.Empty(t, early.Items)
	}

	st = s.waitDone(token, orderPath, id, 60*time.Second)
	require.Equal(t, statusData{OpenAPIReqID: id, Status: "done", Total: 40, Finished: 40, Succeeded: 37, Failed: 3,
		Percent: 100, Source: "table"}, st)

	items := s.allItems(token, orderPath, id)
	require.Len(t, items, 40)
	isNeg := map[int]bool{3: true, 17: true, 29: true}
	for i, it := range items {
		require.Equal(t, i, it.Index)
		var req struct {
			Billno   string  `json:"billno"`
			Amount   float64 `json:"amount"`
			Currency string  `json:"currency"`
		}
		require.NoError(t, json.Unmarshal(it.Request, &req))
		require.Equal(t, fmt.Sprintf("SO-%04d", i), req.Billno)
		require.Equal(t, "CNY", req.Currency, "the definition's default is filled in")
		if isNeg[i] {
			require.False(t, it.Success, "item %d", i)
			require.Equal(t, "demo.negative_amount", it.SubCode)
			require.NotEmpty(t, it.SubMsg)
			require.Empty(t, it.Result)
			continue
		}
		require.True(t, it.Success, "item %d: %+v", i, it)
		var res struct {
			ID     string `json:"id"`
			Billno string `json:"billno"`
		}
		require.NoError(t, json.Unmarshal(it.Result, &res))
		require.Equal(t, req.Billno, res.Billno)
		require.NotEmpty(t, res.ID)
		require.Equal(t, 1, it.Attempts)
	}

	// Paging: 40 items in pages of 15.
	page3 := s.queryResult(token, orderPath, id, "&pageNo=3&pageSize=15")
	require.Equal(t, 3, page3.TotalPages)
	require.Len(t, page3.Items, 10)
	require.Equal(t, 30, page3.Items[0].Index)
	require.Equal(t, 37, page3.Succeeded)

	total, final := s.itemRows(id)
	require.Equal(t, 40, total)
	require.Equal(t, 40, final)

	// The run is in Temporal with its search attributes and the summary as result.
	desc, err := s.temporal.DescribeWorkflowExecution(t.Context(), workflows.RequestWorkflowID(mustID(t, id)), "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
	sa := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	require.Contains(t, string(sa["AsyncgateApiCode"].GetData()), "demo_order_batchSave")
	require.Contains(t, string(sa["AsyncgateAppKey"].GetData()), "demo-app")
	require.Contains(t, string(sa["AsyncgateStatus"].GetData()), "done")
	var summary workflows.ProcessRequestResult
	require.NoError(t, s.temporal.GetWorkflow(t.Context(), workflows.RequestWorkflowID(mustID(t, id)), "").Get(t.Context(), &summary))
	require.Equal(t, workflows.ProcessRequestResult{RequestID: mustID(t, id), Status: "done", Total: 40, Succeeded: 37, Failed: 3}, summary)

	s.recordHistory(id, "batch_with_business_errors")

	// Another app cannot see the request.
	r := s.do("GET", orderPath+"?queryOpenApiType=checkStatus&openApiReqId="+id, map[string]string{"access_token": "agt_unknown"}, nil)
	require.Equal(t, 401, r.code)
}

// The HTTP-forward handler: retries on 5xx, business errors on 4xx,
// timeouts exhaust the retry budget into a clear item error.
func TestHTTPForwardRetriesAndBusinessErrors(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, inventoryPath, map[string]any{"data": []map[string]any{
		{"sku": "A-1", "qty": 5},
		{"sku": "FLAKY-2", "qty": 1},
		{"sku": "B-3", "qty": 5000},
		{"sku": "SLOW-4", "qty": 1},
	}})
	st := s.waitDone(token, inventoryPath, id, 90*time.Second)
	require.Equal(t, 2, st.Succeeded)
	require.Equal(t, 2, st.Failed)
	items := s.allItems(token, inventoryPath, id)
	require.True(t, items[0].Success)
	require.JSONEq(t, `{"reservation_id":"R-A-1-5","sku":"A-1","qty":5}`, string(items[0].Result))
	require.True(t, items[1].Success, "a 503 is retried: %+v", items[1])
	require.Equal(t, 2, items[1].Attempts)
	require.False(t, items[2].Success)
	require.Equal(t, "demo.insufficient_stock", items[2].SubCode)
	require.Equal(t, 1, items[2].Attempts, "a business error is not retried")
	require.False(t, items[3].Success)
	require.Contains(t, []string{"asyncgate.item_timeout", "asyncgate.item_failed"}, items[3].SubCode)
	s.recordHistory(id, "http_forward_retries_and_timeouts")
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

// Every malformed call gets a 4xx with a non-zero errorCode and a message
// naming the field — and creates no task and no workflow.
func TestBadInputCreatesNoTask(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	token := s.token("demo-app", "demo-secret")
	_, err := s.db.Exec(`INSERT INTO apps (app_key, secret, name) VALUES ('no-grants', 'no-grants-secret', 'x')`)
	require.NoError(t, err)
	noGrant := s.token("no-grants", "no-grants-secret")
	_, err = s.db.Exec(`INSERT INTO access_tokens (token_hash, app_key, expires_at)
		VALUES (sha256('agt_expired'::bytea), 'demo-app', now() - interval '1 minute')`)
	require.NoError(t, err)

	items41 := orders(41)
	big := `{"data":[{"billno":"` + strings.Repeat("x", 5<<20) + `","amount":1}]}` // only its length is sent
	tests := []struct {
		name    string
		path    string
		token   string
		body    string
		code    int
		errCode string
		msg     string
	}{
		{"malformed JSON", orderPath, token, `{"data":[{"billno":"A","amount":1}`, 400, "400", "body"},
		{"trailing garbage", orderPath, token, `{"data":[{"billno":"A","amount":1}]} x`, 400, "400", "body"},
		{"not an object", orderPath, token, `[1,2]`, 400, "400", "body"},
		{"missing items", orderPath, token, `{}`, 400, "400", "data"},
		{"items not an array", orderPath, token, `{"data":{}}`, 400, "400", "data"},
		{"zero items", orderPath, token, `{"data":[]}`, 400, "400", "data"},
		{"41 items", orderPath, token, string(mustJSON(items41)), 400, "400", "at most 40"},
		{"missing field", orderPath, token, `{"data":[{"billno":"A","amount":1},{"amount":2}]}`, 400, "400", "data[1].billno"},
		{"mistyped field", orderPath, token, `{"data":[{"billno":"A","amount":"12"}]}`, 400, "400", "data[0].amount"},
		{"mistyped row field", orderPath, token, `{"data":[{"billno":"A","amount":1,"entries":[{"sku":"s","qty":1.5}]}]}`, 400, "400", "data[0].entries[0].qty"},
		{"bad enum", orderPath, token, `{"data":[{"billno":"A","amount":1,"currency":"XYZ"}]}`, 400, "400", "data[0].currency"},
		{"oversized body", orderPath, token, big, 413, "413", "body"},
		{"unknown API", "/kapi/v2/demo/nope/batchSave", token, `{"data":[]}`, 404, "404", "Cannot found OpenAPI"},
		{"no token", orderPath, "", `{"data":[{"billno":"A","amount":1}]}`, 401, "401", "access_token"},
		{"bad token", orderPath, "agt_forged", `{"data":[{"billno":"A","amount":1}]}`, 401, "401", "access_token"},
		{"expired token", orderPath, "agt_expired", `{"data":[{"billno":"A","amount":1}]}`, 401, "401", "expired"},
		{"not granted", orderPath, noGrant, `{"data":[{"billno":"A","amount":1}]}`, 403, "403", "not granted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.token != "" {
				hdr["access_token"] = tc.token
			}
			var r response
			if len(tc.body) > 1<<20 {
				r = s.headersOnly("POST", tc.path, hdr, len(tc.body))
			} else {
				r = s.do("POST", tc.path, hdr, []byte(tc.body))
			}
			require.Equal(t, tc.code, r.code, string(r.raw))
			require.False(t, r.env.Status)
			require.Equal(t, tc.errCode, r.env.ErrorCode)
			require.Contains(t, r.env.Message, tc.msg)
		})
	}

	var requests, items int
	require.NoError(t, s.db.QueryRow(`SELECT (SELECT count(*) FROM async_requests), (SELECT count(*) FROM async_items)`).Scan(&requests, &items))
	require.Zero(t, requests, "no task created")
	require.Zero(t, items)
	// The call log is written in the background, in batches.
	require.Eventually(t, func() bool {
		var refused int
		require.NoError(t, s.db.QueryRow(`SELECT count(*) FROM call_log WHERE http_status >= 400`).Scan(&refused))
		return refused > 0
	}, 5*time.Second, 100*time.Millisecond, "refusals of known apps are in the call log")
	resp, err := s.temporal.ListWorkflow(t.Context(), workflowsOnQueue(s))
	require.NoError(t, err)
	require.Empty(t, resp.GetExecutions(), "no workflow started")
}
