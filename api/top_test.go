package api_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/top"
)

const (
	topApp    = "demo-top-app"
	topSecret = "demo-top-secret"
	tradesGet = "taobao.topats.trades.fullinfo.get"
)

// topParams are a signed call's parameters: system ones filled in, then
// changed by edit (before signing) and by after (after signing).
func topParams(t *testing.T, method string, biz map[string]string, edit, after func(url.Values)) url.Values {
	t.Helper()
	p := url.Values{}
	p.Set("method", method)
	p.Set("app_key", topApp)
	p.Set("timestamp", time.Now().In(top.Beijing).Format(top.TimestampLayout))
	p.Set("v", "2.0")
	p.Set("sign_method", "md5")
	p.Set("format", "json")
	for k, v := range biz {
		p.Set(k, v)
	}
	if edit != nil {
		edit(p)
	}
	tp := top.Params{}
	for k := range p {
		tp[k] = p.Get(k)
	}
	m, ok := top.ParseSignMethod(p.Get("sign_method"))
	if !ok {
		m = top.SignMD5
	}
	secret := topSecret
	if p.Get("app_key") == "demo-app" {
		secret = "demo-secret"
	}
	sign, err := top.Sign(tp, secret, m)
	require.NoError(t, err)
	p.Set("sign", sign)
	if after != nil {
		after(p)
	}
	return p
}

// topCall posts p as a urlencoded form and decodes the JSON answer.
func (b *bundle) topCall(t *testing.T, p url.Values) (map[string]json.RawMessage, string) {
	t.Helper()
	req := httptest.NewRequest("POST", "/router/rest", strings.NewReader(p.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	resp, err := b.srv.App().Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, "TOP answers errors with HTTP 200: %s", raw)
	if p.Get("format") == "xml" {
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml"))
		return nil, string(raw)
	}
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
	var out map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return out, string(raw)
}

type topErr struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	SubCode   string `json:"sub_code"`
	SubMsg    string `json:"sub_msg"`
	RequestID string `json:"request_id"`
}

func TestTopRefusalsCreateNoTask(t *testing.T) {
	b := setup(t)
	ok := map[string]string{"tids": "1001,1002", "fields": "tid,status"}
	stale := time.Now().Add(-11 * time.Minute).In(top.Beijing).Format(top.TimestampLayout)
	tests := []struct {
		name    string
		method  string
		biz     map[string]string
		edit    func(url.Values)
		after   func(url.Values)
		code    int
		subCode string
	}{
		{"missing method", "", ok, nil, nil, top.CodeMissingMethod, ""},
		{"unknown method", "taobao.topats.nope.get", ok, nil, nil, top.CodeInvalidMethod, ""},
		{"missing app key", tradesGet, ok, func(p url.Values) { p.Del("app_key") }, nil, top.CodeMissingAppKey, ""},
		{"unknown app key", tradesGet, ok, func(p url.Values) { p.Set("app_key", "nobody") }, nil, top.CodeInvalidAppKey, ""},
		{"missing sign", tradesGet, ok, nil, func(p url.Values) { p.Del("sign") }, top.CodeMissingSignature, ""},
		{"bad sign", tradesGet, ok, nil, func(p url.Values) { p.Set("sign", strings.Repeat("A", 32)) }, top.CodeInvalidSignature, ""},
		{"tampered after signing", tradesGet, ok, nil, func(p url.Values) { p.Set("tids", "1001,1003") }, top.CodeInvalidSignature, ""},
		{"bad sign method", tradesGet, ok, func(p url.Values) { p.Set("sign_method", "sha1") }, nil, top.CodeInvalidSignature, "isv.invalid-parameter:sign_method"},
		{"missing timestamp", tradesGet, ok, func(p url.Values) { p.Del("timestamp") }, nil, top.CodeMissingTimestamp, "isv.missing-parameter:timestamp"},
		{"stale timestamp", tradesGet, ok, func(p url.Values) { p.Set("timestamp", stale) }, nil, top.CodeInvalidTimestamp, "isv.invalid-parameter:timestamp"},
		{"malformed timestamp", tradesGet, ok, func(p url.Values) { p.Set("timestamp", "2026/11/25") }, nil, top.CodeInvalidTimestamp, "isv.invalid-parameter:timestamp"},
		{"missing version", tradesGet, ok, func(p url.Values) { p.Del("v") }, nil, top.CodeMissingVersion, ""},
		{"wrong version", tradesGet, ok, func(p url.Values) { p.Set("v", "1.0") }, nil, top.CodeInvalidVersion, "isv.invalid-parameter:v"},
		{"bad format", tradesGet, ok, func(p url.Values) { p.Set("format", "yaml") }, nil, top.CodeInvalidFormat, "isv.invalid-parameter:format"},
		{"missing tids", tradesGet, map[string]string{"fields": "tid"}, nil, nil, top.CodeMissingArguments, "isv.missing-parameter:tids"},
		{"missing fields", tradesGet, map[string]string{"tids": "1"}, nil, nil, top.CodeMissingArguments, "isv.missing-parameter:fields"},
		{"41 tids", tradesGet, map[string]string{"tids": strings.Repeat("7,", 40) + "7", "fields": "tid"}, nil, nil, top.CodeInvalidArguments, "isv.invalid-parameter:tids"},
		{"non-numeric tid", tradesGet, map[string]string{"tids": "1001,abc", "fields": "tid"}, nil, nil, top.CodeInvalidArguments, "isv.invalid-parameter:tids"},
		{"unequal parallel lists", "taobao.topats.delivery.send", map[string]string{"tids": "1,2", "company_codes": "SF", "out_sids": "a,b"}, nil, nil, top.CodeInvalidArguments, "isv.invalid-parameter:company_codes"},
		{"result of unknown task", "taobao.topats.result.get", map[string]string{"task_id": "1234567890123456789"}, nil, nil, top.CodeInvalidArguments, "isv.task-not-exist:task_id"},
		{"result without task id", "taobao.topats.result.get", nil, nil, nil, top.CodeMissingArguments, "isv.missing-parameter:task_id"},
		{"tasks without end", "taobao.topats.tasks.get", map[string]string{"start_time": "2026-11-25 00:00:00"}, nil, nil, top.CodeMissingArguments, "isv.missing-parameter:end_time"},
		{"tasks range reversed", "taobao.topats.tasks.get", map[string]string{"start_time": "2026-11-25 00:00:00", "end_time": "2026-11-24 00:00:00"}, nil, nil, top.CodeInvalidArguments, "isv.invalid-parameter:end_time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, raw := b.topCall(t, topParams(t, tc.method, tc.biz, tc.edit, tc.after))
			require.Contains(t, out, "error_response", raw)
			var e topErr
			require.NoError(t, json.Unmarshal(out["error_response"], &e))
			require.Equal(t, tc.code, e.Code, raw)
			require.NotEmpty(t, e.Msg)
			require.NotEmpty(t, e.RequestID)
			require.Equal(t, tc.subCode, e.SubCode, raw)
			require.NotContains(t, raw, topSecret)
		})
	}
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM async_requests`))
	require.Zero(t, n, "a low-level error never creates a task")
}

func TestTopNotGrantedIsInsufficientPermissions(t *testing.T) {
	b := setup(t)
	// demo-top-app is granted only the two TOP APIs; alias the order API.
	def, err := b.store.GetDefinition(t.Context(), "demo_order_batchSave")
	require.NoError(t, err)
	def.TopMethod = "taobao.topats.orders.save"
	require.NoError(t, b.store.UpsertDefinition(t.Context(), def))
	require.NoError(t, b.cat.Refresh(t.Context()))
	out, raw := b.topCall(t, topParams(t, "taobao.topats.orders.save", map[string]string{"billno": "A", "amount": "1"}, nil, nil))
	var e topErr
	require.NoError(t, json.Unmarshal(out["error_response"], &e), raw)
	require.Equal(t, top.CodeInsufficientISVPerms, e.Code)
	require.Equal(t, "isv.permission-api-package-empty", e.SubCode)
}

func TestTopCreateTaskAndReadItBack(t *testing.T) {
	b := setup(t)
	out, raw := b.topCall(t, topParams(t, tradesGet, map[string]string{"tids": "1001, 1002,1404", "fields": "tid,status"}, nil, nil))
	require.Contains(t, out, "topats_trades_fullinfo_get_response", raw)
	var created struct {
		Task struct {
			TaskID  int64  `json:"task_id"`
			Created string `json:"created"`
		} `json:"task"`
	}
	require.NoError(t, json.Unmarshal(out["topats_trades_fullinfo_get_response"], &created))
	require.Len(t, strconv.FormatInt(created.Task.TaskID, 10), 19)
	_, err := time.ParseInLocation(top.TimestampLayout, created.Task.Created, top.Beijing)
	require.NoError(t, err)
	require.Equal(t, int32(1), b.kicks.Load(), "the dispatcher is woken")

	// One request of protocol top, one item per tid, the shared fields in each.
	var proto string
	require.NoError(t, b.db.Get(&proto, `SELECT protocol FROM async_requests WHERE id = $1`, created.Task.TaskID))
	require.Equal(t, "top", proto)
	var items []string
	require.NoError(t, b.db.Select(&items, `SELECT request::text FROM async_items WHERE request_id = $1 ORDER BY idx`, created.Task.TaskID))
	require.Len(t, items, 3)
	require.JSONEq(t, `{"fields":"tid,status","tid":1002}`, items[1])
	var logged struct {
		Body  string `db:"request_body"`
		Query string `db:"query"`
	}
	require.NoError(t, b.db.Get(&logged, `SELECT request_body, query FROM call_log WHERE request_id = $1`, created.Task.TaskID))
	require.Contains(t, logged.Body, "sign=%2A%2A%2A", "the sign is not logged")

	// result.get while new: status only, no subtasks.
	id := strconv.FormatInt(created.Task.TaskID, 10)
	out, raw = b.topCall(t, topParams(t, "taobao.topats.result.get", map[string]string{"task_id": id}, nil, nil))
	var res struct {
		Task map[string]json.RawMessage `json:"task"`
	}
	require.NoError(t, json.Unmarshal(out["topats_result_get_response"], &res), raw)
	require.JSONEq(t, `"new"`, string(res.Task["status"]))
	require.JSONEq(t, `"`+tradesGet+`"`, string(res.Task["method"]))
	require.NotContains(t, res.Task, "subtasks")

	// The same task in XML.
	_, x := b.topCall(t, topParams(t, "taobao.topats.result.get", map[string]string{"task_id": id}, func(p url.Values) { p.Set("format", "xml") }, nil))
	var xr struct {
		XMLName xml.Name `xml:"topats_result_get_response"`
		TaskID  string   `xml:"task>task_id"`
		Status  string   `xml:"task>status"`
	}
	require.NoError(t, xml.Unmarshal([]byte(x), &xr), x)
	require.Equal(t, id, xr.TaskID)
	require.Equal(t, "new", xr.Status)

	// Another app does not see it, through either protocol.
	out, raw = b.topCall(t, topParams(t, "taobao.topats.result.get", map[string]string{"task_id": id},
		func(p url.Values) { p.Set("app_key", "demo-app") }, nil))
	require.Contains(t, out, "error_response", raw)
	require.Contains(t, raw, "isv.task-not-exist:task_id")

	// The Kingdee protocol sees the TOP-created task (same app key needed:
	// grant demo-top-app a token).
	code, env := b.call(t, "POST", "/kapi/oauth2/getToken", nil, `{"client_id":"demo-top-app","client_secret":"demo-top-secret"}`)
	require.Equal(t, 200, code, env.Message)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &tok))
	code, env = b.call(t, "GET", "/kapi/v2/demo/demo_trade/fullinfoGet?queryOpenApiType=checkStatus&openApiReqId="+id,
		map[string]string{"access_token": tok.AccessToken}, "")
	require.Equal(t, 200, code, env.Message)
	require.Contains(t, string(env.Data), `"total":3`)

	// tasks.get lists it; task.delete cancels it.
	now := time.Now().In(top.Beijing)
	out, raw = b.topCall(t, topParams(t, "taobao.topats.tasks.get", map[string]string{
		"start_time": now.Add(-time.Hour).Format(top.TimestampLayout), "end_time": now.Add(time.Minute).Format(top.TimestampLayout),
	}, nil, nil))
	var list struct {
		Tasks struct {
			Task []struct {
				TaskID int64  `json:"task_id"`
				Status string `json:"status"`
				Method string `json:"method"`
			} `json:"task"`
		} `json:"tasks"`
		Total int `json:"total_results"`
	}
	require.NoError(t, json.Unmarshal(out["topats_tasks_get_response"], &list), raw)
	require.Equal(t, 1, list.Total)
	require.Equal(t, created.Task.TaskID, list.Tasks.Task[0].TaskID)
	require.Equal(t, tradesGet, list.Tasks.Task[0].Method)

	out, raw = b.topCall(t, topParams(t, "taobao.topats.task.delete", map[string]string{"task_id": id}, nil, nil))
	require.JSONEq(t, `{"is_success":true}`, string(out["topats_task_delete_response"]), raw)
	var status string
	require.NoError(t, b.db.Get(&status, `SELECT status FROM async_requests WHERE id = $1`, created.Task.TaskID))
	require.Equal(t, "canceled", status, "a task not yet started is canceled at once")
}

func TestTopParamsFromQueryAndForm(t *testing.T) {
	b := setup(t)
	p := topParams(t, tradesGet, map[string]string{"tids": "5", "fields": "tid"}, nil, nil)
	// System parameters in the query, business ones in the form, as TOP's SDKs send them.
	q, form := url.Values{}, url.Values{}
	for k := range p {
		if k == "tids" || k == "fields" {
			form.Set(k, p.Get(k))
		} else {
			q.Set(k, p.Get(k))
		}
	}
	req := httptest.NewRequest("POST", "/router/rest?"+q.Encode(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.srv.App().Test(req, -1)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(raw), "topats_trades_fullinfo_get_response", string(raw))

	// GET with everything in the query works too.
	resp, err = b.srv.App().Test(httptest.NewRequest("GET", "/router/rest?"+p.Encode(), nil), -1)
	require.NoError(t, err)
	raw, _ = io.ReadAll(resp.Body)
	require.Contains(t, string(raw), "topats_trades_fullinfo_get_response", string(raw))
}

func TestTopCallLimited(t *testing.T) {
	b := setup(t)
	f, err := b.store.GetApp(t.Context(), topApp)
	require.NoError(t, err)
	f.RateLimit = 2
	require.NoError(t, b.store.UpsertApp(t.Context(), f))
	codes := map[int]int{}
	for range 6 {
		out, raw := b.topCall(t, topParams(t, "taobao.topats.tasks.get", map[string]string{
			"start_time": "2026-11-25 00:00:00", "end_time": "2026-11-25 01:00:00"}, nil, nil))
		var e topErr
		if er, ok := out["error_response"]; ok {
			require.NoError(t, json.Unmarshal(er, &e), raw)
		}
		codes[e.Code]++
	}
	require.Positive(t, codes[top.CodeCallLimited], "%v", codes)
	require.Positive(t, codes[0], "%v", codes)
}

func TestTopDuplicateTaskIsRefused(t *testing.T) {
	b := setup(t)
	def, err := b.store.GetDefinition(t.Context(), "demo_trades_fullinfo_get")
	require.NoError(t, err)
	def.Options.DedupEnabled, def.Options.DedupWindow = true, catalog.Duration(30*time.Second)
	require.NoError(t, b.store.UpsertDefinition(t.Context(), def))
	require.NoError(t, b.cat.Refresh(t.Context()))

	biz := map[string]string{"tids": "1,2", "fields": "tid"}
	out, raw := b.topCall(t, topParams(t, tradesGet, biz, nil, nil))
	require.Contains(t, out, "topats_trades_fullinfo_get_response", raw)
	out, raw = b.topCall(t, topParams(t, tradesGet, biz, nil, nil)) // new timestamp and sign: still the same call
	var e topErr
	require.NoError(t, json.Unmarshal(out["error_response"], &e), raw)
	require.Equal(t, top.CodeInvalidArguments, e.Code)
	require.Equal(t, "isv.duplicate-request", e.SubCode)
	out, raw = b.topCall(t, topParams(t, tradesGet, map[string]string{"tids": "1,3", "fields": "tid"}, nil, nil))
	require.Contains(t, out, "topats_trades_fullinfo_get_response", raw)
}
