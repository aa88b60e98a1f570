package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/api"
	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/demo"
	"github.com/asyncgate/asyncgate/handler"
	"github.com/asyncgate/asyncgate/metrics"
	"github.com/asyncgate/asyncgate/requestid"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/store/storetest"
)

const orderPath = "/kapi/v2/demo/demo_order/batchSave"

// bundle is an API on its own database with the demo catalog and no
// Temporal: what the API does before and without any workflow.
type bundle struct {
	srv   *api.Server
	db    *sqlx.DB
	store *store.Store
	cat   *catalog.Cache
	kicks atomic.Int32
}

func setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	return newBundle(t)
}

// newBundle is setup without t.Parallel, for tests that measure the
// process (memory) and must not share it with others.
func newBundle(t *testing.T) *bundle {
	t.Helper()
	_, db := storetest.NewDatabase(t)
	s := store.New(db)
	f, err := demo.Catalog("http://127.0.0.1:1")
	require.NoError(t, err)
	_, err = s.Import(t.Context(), f)
	require.NoError(t, err)
	cat := catalog.NewCache(s)
	require.NoError(t, cat.Refresh(t.Context()))
	b := &bundle{db: db, store: s, cat: cat}
	b.srv = api.New(api.Deps{
		Store: s, Catalog: cat, IDs: requestid.New(), Kick: func() { b.kicks.Add(1) },
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		AdminToken: "admin-token-0123456789", TokenTTL: 2 * time.Hour, MaxBodyBytes: 1 << 20,
		RequestTimeout: 5 * time.Second, StatusQueryTimeout: 100 * time.Millisecond, Builtins: builtins(),
		Metrics: metrics.New(),
	})
	return b
}

func builtins() []string {
	reg := handler.NewRegistry(nil)
	demo.RegisterHandlers(reg)
	return reg.Names()
}

type envelope struct {
	Data      json.RawMessage `json:"data"`
	ErrorCode string          `json:"errorCode"`
	Message   string          `json:"message"`
	Status    bool            `json:"status"`
}

func (b *bundle) call(t *testing.T, method, path string, hdr map[string]string, body string) (int, envelope) {
	t.Helper()
	code, h, raw := b.rawCall(t, method, path, hdr, body)
	require.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/json"), "every answer is JSON: %q", h.Get("Content-Type"))
	var env envelope
	require.NoError(t, json.Unmarshal([]byte(raw), &env), raw)
	return code, env
}

func (b *bundle) token(t *testing.T) string {
	t.Helper()
	code, env := b.call(t, "POST", "/kapi/oauth2/getToken", nil, `{"client_id":"demo-app","client_secret":"demo-secret"}`)
	require.Equal(t, 200, code, env.Message)
	var d struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &d))
	require.NotEmpty(t, d.AccessToken)
	require.InDelta(t, 7200, d.ExpiresIn, 5)
	return d.AccessToken
}

func TestSubmitCommitsRequestAndAnswersReceipt(t *testing.T) {
	b := setup(t)
	tok := b.token(t)
	code, env := b.call(t, "POST", orderPath, map[string]string{"access_token": tok},
		`{"data":[{"billno":"A","amount":1},{"billno":"B","amount":-2,"entries":[{"sku":"x"}]}]}`)
	require.Equal(t, 200, code, env.Message)
	require.True(t, env.Status)
	require.Equal(t, "0", env.ErrorCode)
	var receipt struct {
		OpenAPIReqID string `json:"openApiReqId"`
		Status       string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &receipt))
	require.Len(t, receipt.OpenAPIReqID, 19)
	require.Equal(t, "new", receipt.Status)
	require.EqualValues(t, 1, b.kicks.Load(), "the dispatcher is woken")

	id, err := requestid.Parse(receipt.OpenAPIReqID)
	require.NoError(t, err)
	r, err := b.store.GetRequest(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, 2, r.Total)
	require.Equal(t, store.DispatchPending, r.DispatchState)
	items, err := b.store.ListItems(t.Context(), id, 0, 10)
	require.NoError(t, err)
	require.Len(t, items, 2)
	require.JSONEq(t, `{"billno":"B","amount":-2,"currency":"CNY","entries":[{"sku":"x","qty":1}]}`, string(items[1].Request),
		"defaults are filled in, entry rows too")

	// checkStatus from the table while no workflow runs; queryResult is status only.
	q := orderPath + "?openApiReqId=" + receipt.OpenAPIReqID + "&queryOpenApiType="
	code, env = b.call(t, "GET", q+"checkStatus", map[string]string{"access_token": tok}, "")
	require.Equal(t, 200, code, env.Message)
	require.JSONEq(t, fmt.Sprintf(`{"openApiReqId":%q,"status":"new","total":2,"finished":0,"succeeded":0,"failed":0,
		"canceled":0,"percent":0,"source":"table"}`, receipt.OpenAPIReqID), string(env.Data))
	code, env = b.call(t, "GET", q+"queryResult", map[string]string{"access_token": tok}, "")
	require.Equal(t, 200, code)
	require.JSONEq(t, fmt.Sprintf(`{"openApiReqId":%q,"status":"new"}`, receipt.OpenAPIReqID), string(env.Data))

	// Cancel before any workflow: canceled at once, every item canceled.
	code, env = b.call(t, "GET", q+"cancel", map[string]string{"access_token": tok}, "")
	require.Equal(t, 405, code, "cancel needs POST")
	code, env = b.call(t, "POST", q+"cancel", map[string]string{"access_token": tok}, "")
	require.Equal(t, 200, code, env.Message)
	var st struct {
		Status   string `json:"status"`
		Canceled int    `json:"canceled"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &st))
	require.Equal(t, "canceled", st.Status)
	require.Equal(t, 2, st.Canceled)
	code, env = b.call(t, "GET", q+"queryResult", map[string]string{"access_token": tok}, "")
	require.Equal(t, 200, code)
	require.Contains(t, string(env.Data), `"status":"canceled"`)
	require.Contains(t, string(env.Data), `"items":[`)
}

func TestRefusalsCreateNothing(t *testing.T) {
	b := setup(t)
	tok := b.token(t)
	auth := map[string]string{"access_token": tok}
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		status             int
		msg                string
	}{
		{"token: wrong secret", "POST", "/kapi/oauth2/getToken", nil, `{"client_id":"demo-app","client_secret":"nope"}`, 401, "client_secret"},
		{"token: missing id", "POST", "/kapi/oauth2/getToken", nil, `{"client_secret":"x"}`, 400, "client_id"},
		{"token: bad JSON", "POST", "/kapi/oauth2/getToken", nil, `{`, 400, "body"},
		{"no token", "POST", orderPath, nil, `{"data":[{"billno":"A","amount":1}]}`, 401, "access_token"},
		{"unknown API", "POST", "/kapi/v2/demo/x/y", auth, `{}`, 404, "Cannot found OpenAPI"},
		{"malformed JSON", "POST", orderPath, auth, `{"data":[`, 400, "body"},
		{"zero items", "POST", orderPath, auth, `{"data":[]}`, 400, "data"},
		{"missing field", "POST", orderPath, auth, `{"data":[{"amount":1}]}`, 400, "data[0].billno"},
		{"mistyped field", "POST", orderPath, auth, `{"data":[{"billno":"A","amount":true}]}`, 400, "data[0].amount"},
		{"row field", "POST", orderPath, auth, `{"data":[{"billno":"A","amount":1,"entries":[{"qty":1}]}]}`, 400, "data[0].entries[0].sku"},
		{"bad query type", "GET", orderPath + "?queryOpenApiType=nope&openApiReqId=1", auth, "", 400, "queryOpenApiType"},
		{"bad request id", "GET", orderPath + "?queryOpenApiType=checkStatus&openApiReqId=12x", auth, "", 400, "openApiReqId"},
		{"unknown request id", "GET", orderPath + "?queryOpenApiType=checkStatus&openApiReqId=1000000000000000001", auth, "", 404, "openApiReqId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, env := b.call(t, tc.method, tc.path, tc.hdr, tc.body)
			require.Equal(t, tc.status, code, env.Message)
			require.False(t, env.Status)
			require.NotEqual(t, "0", env.ErrorCode)
			require.Contains(t, env.Message, tc.msg)
		})
	}
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM async_requests`))
	require.Zero(t, n)
	require.Zero(t, b.kicks.Load())
}

func TestAdminNeedsToken(t *testing.T) {
	b := setup(t)
	for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer wrong-token-0123456789"}} {
		req := httptest.NewRequest("GET", "/admin/api/apis", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := b.srv.App().Test(req, -1)
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	req := httptest.NewRequest("GET", "/admin/api/apis", nil)
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	resp, err := b.srv.App().Test(req, -1)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(body), "demo_order_batchSave")
	require.NotContains(t, string(body), "demo-secret", "secrets never leave the server")
}
