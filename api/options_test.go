package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/requestid"
	"github.com/asyncgate/asyncgate/store"
)

const customerPath = "/kapi/v2/demo/demo_customer/batchSave"

func receiptID(t *testing.T, env envelope) string {
	t.Helper()
	var r struct {
		OpenAPIReqID string `json:"openApiReqId"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &r))
	require.Len(t, r.OpenAPIReqID, 19)
	return r.OpenAPIReqID
}

func TestDuplicateRequestPrevention(t *testing.T) {
	b := setup(t)
	auth := map[string]string{"access_token": b.token(t)}
	body := `{"data":[{"name":"张三","phone":"13812345678","email":"zs@example.com"}]}`
	code, env := b.call(t, "POST", customerPath, auth, body)
	require.Equal(t, 200, code, env.Message)
	first := receiptID(t, env)

	// The same body with other key order and spacing is the same call.
	same := `{ "data": [ {"email":"zs@example.com", "phone":"13812345678", "name":"张三"} ] }`
	code, env = b.call(t, "POST", customerPath, auth, same)
	require.Equal(t, 409, code)
	require.Equal(t, "409", env.ErrorCode)
	require.False(t, env.Status)
	require.Contains(t, env.Message, first)
	require.JSONEq(t, `{"openApiReqId":"`+first+`"}`, string(env.Data), "the error carries the original openApiReqId")

	// A different body is a different call; APIs without the option never dedup.
	code, env = b.call(t, "POST", customerPath, auth, strings.Replace(body, "13812345678", "13900000000", 1))
	require.Equal(t, 200, code, env.Message)
	order := `{"data":[{"billno":"A","amount":1}]}`
	for range 2 {
		code, env = b.call(t, "POST", orderPath, auth, order)
		require.Equal(t, 200, code, env.Message)
	}
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM async_requests`))
	require.Equal(t, 4, n, "the duplicate created nothing")

	// Outside the window the same call is accepted again.
	_, err := b.db.Exec(`UPDATE async_requests SET created_at = created_at - interval '31 seconds'`)
	require.NoError(t, err)
	code, env = b.call(t, "POST", customerPath, auth, same)
	require.Equal(t, 200, code, env.Message)
}

func TestThirdPartyAuthOnlyRefusesCookies(t *testing.T) {
	b := setup(t)
	tok := b.token(t)
	body := `{"data":[{"name":"A","phone":"1"}]}`
	code, env := b.call(t, "POST", customerPath, map[string]string{"access_token": tok, "Cookie": "KDSVCSessionId=abc"}, body)
	require.Equal(t, 403, code)
	require.Contains(t, env.Message, "only third-party app authorization")
	code, env = b.call(t, "POST", customerPath, map[string]string{"Cookie": "KDSVCSessionId=abc"}, body)
	require.Equal(t, 403, code, "anonymous with a session cookie: refused the same way")
	// Other APIs ignore cookies.
	code, env = b.call(t, "POST", orderPath, map[string]string{"access_token": tok, "Cookie": "a=b"}, `{"data":[{"billno":"A","amount":1}]}`)
	require.Equal(t, 200, code, env.Message)
}

func TestResultsAreMasked(t *testing.T) {
	b := setup(t)
	auth := map[string]string{"access_token": b.token(t)}
	code, env := b.call(t, "POST", customerPath, auth,
		`{"data":[{"name":"张三丰","phone":"13812345678","id_card":"110101199003071234","email":"alice@example.com"}]}`)
	require.Equal(t, 200, code, env.Message)
	idText := receiptID(t, env)
	id, err := requestid.Parse(idText)
	require.NoError(t, err)
	// What the worker would store: the handler's whole answer.
	whole := `{"id":"CUS-1","name":"张三丰","phone":"13812345678","id_card":"110101199003071234","email":"alice@example.com"}`
	_, err = b.store.RecordItemOutcome(t.Context(), store.ItemOutcome{RequestID: id, Index: 0, Status: store.ItemSucceeded,
		Attempts: 1, Result: json.RawMessage(whole)})
	require.NoError(t, err)
	_, err = b.store.FinishRequest(t.Context(), id, false)
	require.NoError(t, err)

	code, env = b.call(t, "GET", customerPath+"?queryOpenApiType=queryResult&openApiReqId="+idText, auth, "")
	require.Equal(t, 200, code, env.Message)
	var res struct {
		Items []struct {
			Result json.RawMessage `json:"result"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &res))
	require.JSONEq(t, `{"id":"CUS-1","name":"张**","phone":"138****5678","id_card":"110101********1234","email":"a****@example.com"}`,
		string(res.Items[0].Result))

	// The stored result stays whole (the call log gets the answer as sent).
	it, err := b.store.GetItem(t.Context(), id, 0)
	require.NoError(t, err)
	require.JSONEq(t, whole, string(it.Result.JSONText))
}

func TestGetAPIWithBareDataHeadersAndStrictParams(t *testing.T) {
	b := setup(t)
	tok := b.token(t)
	const path = "/kapi/v2/demo/demo_stock/query"
	tests := []struct {
		name  string
		query string
		hdr   map[string]string
		code  int
		want  string
	}{
		{"missing header", "?sku=A1", map[string]string{"access_token": tok}, 400, "header X-Tenant-Id: is required"},
		{"unknown param", "?sku=A1&color=red", map[string]string{"access_token": tok, "X-Tenant-Id": "t1"}, 400, "color: is not a declared parameter"},
		{"bad enum", "?sku=A1&warehouse=NORTH", map[string]string{"access_token": tok, "X-Tenant-Id": "t1"}, 400, "warehouse"},
	}
	for _, tt := range tests {
		code, env := b.call(t, "GET", path+tt.query, tt.hdr, "")
		require.Equal(t, tt.code, code, tt.name)
		require.Contains(t, env.Message, tt.want, tt.name)
	}
	code, _, raw := b.rawCall(t, "GET", path+"?sku=A1", map[string]string{"access_token": tok, "X-Tenant-Id": "t1"}, "")
	require.Equal(t, 200, code, raw)
	var bare struct {
		OpenAPIReqID string `json:"openApiReqId"`
		Status       string `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &bare), raw)
	require.Len(t, bare.OpenAPIReqID, 19, "return_data_only: the receipt is the bare data: %s", raw)
	require.NotContains(t, raw, "errorCode")
	id, err := requestid.Parse(bare.OpenAPIReqID)
	require.NoError(t, err)
	items, err := b.store.ListItems(t.Context(), id, 0, 10)
	require.NoError(t, err)
	require.JSONEq(t, `{"sku":"A1","warehouse":"MAIN"}`, string(items[0].Request), "the default is filled in")
}
