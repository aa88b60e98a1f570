package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Quick create turns the demo's synchronous endpoint into an async API that
// works end to end at once.
func TestQuickCreatedAPIRuns(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	var out struct {
		API struct {
			Path string `json:"path"`
		} `json:"api"`
	}
	in := map[string]any{"url": s.apiURL + "/demo/sync/inventory/reserve", "code": "quick_reserve",
		"sample_request": map[string]any{"sku": "A-1", "qty": 2}, "sample_response": map[string]any{"reservation_id": "R-1"}}
	require.Equal(t, 201, s.admin("POST", "/quick-create", in, &out))
	require.True(t, strings.HasPrefix(out.API.Path, "/kapi/v2/quick/"), out.API.Path)

	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, out.API.Path, map[string]any{"data": []map[string]any{{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 5000}}})
	st := s.waitDone(token, out.API.Path, id, 60*time.Second)
	require.Equal(t, 1, st.Succeeded)
	require.Equal(t, 1, st.Failed)
	items := s.allItems(token, out.API.Path, id)
	var res struct {
		ReservationID string `json:"reservation_id"`
	}
	require.NoError(t, json.Unmarshal(items[0].Result, &res))
	require.NotEmpty(t, res.ReservationID)
	require.Equal(t, "demo.insufficient_stock", items[1].SubCode, "the sync API's 4xx is a business error")
}

// Masking: answers and the call log never hold the masked fields whole;
// the stored result does (the worker needs it, exports are masked).
func TestMaskedFieldsStayOutOfAnswersAndLogs(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const path = "/kapi/v2/demo/demo_customer/batchSave"
	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, path, map[string]any{"data": []map[string]any{
		{"name": "张三丰", "phone": "13812345678", "id_card": "110101199003071234", "email": "alice@example.com"}}})
	s.waitDone(token, path, id, 60*time.Second)
	items := s.allItems(token, path, id)
	require.Len(t, items, 1)
	require.Contains(t, string(items[0].Result), `"138****5678"`)
	require.NotContains(t, string(items[0].Result), "13812345678")

	var stored string
	require.NoError(t, s.db.QueryRow(`SELECT result::text FROM async_items WHERE request_id = $1`, id).Scan(&stored))
	require.Contains(t, stored, "13812345678")
	require.Eventually(t, func() bool {
		var n int
		_ = s.db.QueryRow(`SELECT count(*) FROM call_log WHERE request_id = $1 AND kind = 'queryResult'`, id).Scan(&n)
		return n > 0
	}, 10*time.Second, 100*time.Millisecond, "the queryResult call is logged")
	var leaks []string
	require.NoError(t, s.db.Select(&leaks, `SELECT kind || ': ' || request_body || ' → ' || response_body FROM call_log
		WHERE request_id = $1 AND (request_body LIKE '%13812345678%' OR response_body LIKE '%13812345678%'
		OR request_body LIKE '%alice@%')`, id))
	require.Empty(t, leaks, "no call-log line holds the phone or email whole")
}

// The script handler maps items in the worker's sandbox; a throw with a
// code is that item's business error.
func TestScriptHandlerMapsItems(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const path = "/kapi/v2/demo/demo_order/mapScript"
	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, path, map[string]any{"data": []map[string]any{
		{"billno": "so-1", "amount": 12.345}, {"billno": "so-2", "amount": -1}}})
	st := s.waitDone(token, path, id, 60*time.Second)
	require.Equal(t, 1, st.Succeeded)
	require.Equal(t, 1, st.Failed)
	items := s.allItems(token, path, id)
	require.JSONEq(t, `{"order_no":"SO-1","total_cents":1235,"currency":"CNY"}`, string(items[0].Result))
	require.Equal(t, "demo.negative_amount", items[1].SubCode)
	require.Equal(t, "amount -1 of so-2 is negative", items[1].SubMsg)

	// A script that does not compile is refused when the API is defined.
	def := map[string]any{"code": "e2e_bad_script", "name": "Bad", "app_id": "e2e", "form_id": "bad", "service_name": "x",
		"batch": map[string]any{"items_path": "data"}, "handler": map[string]any{"type": "script", "script": "function handle(item) { return {"}}
	require.Equal(t, 400, s.admin("POST", "/apis", def, nil))
}
