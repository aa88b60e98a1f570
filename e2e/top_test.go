package e2e

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// defineTopSleepAPI aliases a sleeping batch API as a TOP method, so a task
// stays doing long enough to be seen doing.
func defineTopSleepAPI(t *testing.T, s *stack) {
	t.Helper()
	def := map[string]any{
		"code": "e2e_top_sleep", "name": "E2E TOP sleep", "method": "POST", "app_id": "e2e", "form_id": "e2e_top_sleep",
		"service_name": "batch", "status": "published", "top_method": "taobao.topats.e2e.sleep",
		"top_lists": []map[string]any{{"param": "sleeps", "field": "sleep_ms"}},
		"params":    []map[string]any{{"name": "sleep_ms", "type": "integer", "required": true}},
		"batch":     map[string]any{"items_path": "data", "max_items": 40, "concurrency": 2, "item_timeout": "10s"},
		"handler":   map[string]any{"type": "builtin", "builtin": "demo.sleep"},
	}
	require.Equal(t, 200, s.admin("PUT", "/apis/e2e_top_sleep", def, nil))
	app := map[string]any{"app_key": "demo-top-app", "secret": "demo-top-secret", "name": "Demo TOP app",
		"notify_format": "top", "grants": []string{"demo_trades_fullinfo_get", "demo_delivery_send", "e2e_top_sleep"}}
	require.Equal(t, 200, s.admin("PUT", "/apps/demo-top-app", app, nil))
}

// A TOP client drives the whole flow: create → result.get while doing →
// done with some failed subtasks → the same in XML; each sign method.
func TestTopProtocolEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	defineTopSleepAPI(t, s)
	c := &topClient{t: t, url: s.apiURL, appKey: "demo-top-app", secret: "demo-top-secret", signMethod: "md5", format: "json"}

	// A task that takes ~2 s is seen new or doing, without subtasks.
	slow := c.createTask("taobao.topats.e2e.sleep", map[string]string{"sleeps": "700,700,700,700"})
	sawDoing := false
	deadline := time.Now().Add(60 * time.Second)
	for {
		task := c.result(slow)
		require.Equal(t, "taobao.topats.e2e.sleep", task.Method)
		if task.Status == "done" {
			require.Len(t, task.Subtasks.Subtask, 4)
			break
		}
		require.Contains(t, []string{"new", "doing"}, task.Status)
		require.Nil(t, task.Subtasks, "subtasks only when done")
		sawDoing = sawDoing || task.Status == "doing"
		require.True(t, time.Now().Before(deadline), "slow task never finished")
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, sawDoing, "result.get saw the task doing")

	// Trade details with one tid that does not exist, under each sign method.
	for _, m := range []string{"md5", "hmac", "hmac-sha256"} {
		t.Run(m, func(t *testing.T) {
			c := *c
			c.t, c.signMethod = t, m
			id := c.createTask("taobao.topats.trades.fullinfo.get", map[string]string{
				"tids": "1001,2404,1003", "fields": "tid,seller_nick"})
			task := c.waitTask(id, 60*time.Second)
			require.Equal(t, "taobao.topats.trades.fullinfo.get", task.Method)
			subs := task.Subtasks.Subtask
			require.Len(t, subs, 3)
			for i, tid := range []int64{1001, 2404, 1003} {
				var req struct {
					Tid    int64  `json:"tid"`
					Fields string `json:"fields"`
				}
				require.NoError(t, json.Unmarshal([]byte(subs[i].Request), &req), "sub_task_request is JSON text")
				require.NotContains(t, subs[i].Request, " ", "compact JSON text")
				require.Equal(t, tid, req.Tid)
				require.Equal(t, "tid,seller_nick", req.Fields)
			}
			require.True(t, subs[0].IsSuccess)
			require.JSONEq(t, `{"trade":{"tid":1001,"seller_nick":"demo_seller"}}`, subs[0].Result)
			require.False(t, subs[1].IsSuccess)
			require.JSONEq(t, `{"sub_code":"isv.trade-not-exist","sub_msg":"trade 2404 does not exist"}`, subs[1].Result)
			require.True(t, subs[2].IsSuccess)
		})
	}

	// Parallel lists: delivery.send, with an unknown company on the second.
	id := c.createTask("taobao.topats.delivery.send", map[string]string{
		"tids": "11,12", "company_codes": "SF,NOPE", "out_sids": "W1,W2"})
	task := c.waitTask(id, 60*time.Second)
	require.Len(t, task.Subtasks.Subtask, 2)
	require.True(t, task.Subtasks.Subtask[0].IsSuccess)
	require.Contains(t, task.Subtasks.Subtask[1].Result, "isv.logistics-company-not-exist")

	// The same task in XML: subtasks is <subtasks list="true"><subtask>….
	x := *c
	x.format = "xml"
	raw := x.call("taobao.topats.result.get", map[string]string{"task_id": id})
	var xr struct {
		XMLName xml.Name `xml:"topats_result_get_response"`
		Task    struct {
			TaskID   string `xml:"task_id"`
			Status   string `xml:"status"`
			Method   string `xml:"method"`
			Subtasks struct {
				List    string `xml:"list,attr"`
				Subtask []struct {
					Request   string `xml:"sub_task_request"`
					Result    string `xml:"sub_task_result"`
					IsSuccess bool   `xml:"is_success"`
				} `xml:"subtask"`
			} `xml:"subtasks"`
		} `xml:"task"`
	}
	require.NoError(t, xml.Unmarshal(raw, &xr), string(raw))
	require.Equal(t, id, xr.Task.TaskID)
	require.Equal(t, "done", xr.Task.Status)
	require.Equal(t, "true", xr.Task.Subtasks.List)
	require.Len(t, xr.Task.Subtasks.Subtask, 2)
	require.JSONEq(t, `{"company_code":"SF","out_sid":"W1","tid":11}`, xr.Task.Subtasks.Subtask[0].Request)
	require.JSONEq(t, task.Subtasks.Subtask[1].Result, xr.Task.Subtasks.Subtask[1].Result)
	require.False(t, xr.Task.Subtasks.Subtask[1].IsSuccess)

	// tasks.get lists the app's history in a time range.
	now := time.Now().In(beijing)
	raw = c.call("taobao.topats.tasks.get", map[string]string{
		"start_time": now.Add(-time.Hour).Format("2006-01-02 15:04:05"),
		"end_time":   now.Add(time.Minute).Format("2006-01-02 15:04:05"),
	})
	require.Contains(t, string(raw), `"total_results":5`, string(raw))
	require.Contains(t, string(raw), id)

	// Another app's task is unknown to this one.
	other := *c
	other.appKey, other.secret = "demo-app", "demo-secret"
	e := topError(t, other.call("taobao.topats.result.get", map[string]string{"task_id": id}))
	require.NotNil(t, e)
	require.Equal(t, 41, e.Code)
	require.Equal(t, "isv.task-not-exist:task_id", e.SubCode)

	// The CLI makes the same signed call.
	out, err := exec.Command(binary, "top", "-url", s.apiURL, "-sign-method", "hmac-sha256",
		"taobao.topats.trades.fullinfo.get", "tids=7,8", "fields=tid").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), `"topats_trades_fullinfo_get_response"`)
	out, err = exec.Command(binary, "top", "-url", s.apiURL, "-secret", "wrong",
		"taobao.topats.trades.fullinfo.get", "tids=7", "fields=tid").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `"code": 25`)
}

// Low-level errors through a real TOP client: the right code, and no task.
func TestTopBadInputCreatesNoTask(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	c := &topClient{t: t, url: s.apiURL, appKey: "demo-top-app", secret: "demo-top-secret", signMethod: "md5", format: "json"}
	bad := *c
	bad.secret = "wrong-secret"
	other := *c
	other.appKey, other.secret = "demo-app", "demo-secret"
	ok := c.createTask("taobao.topats.trades.fullinfo.get", map[string]string{"tids": "1", "fields": "tid"})

	tests := []struct {
		name    string
		c       *topClient
		method  string
		biz     map[string]string
		code    int
		subCode string
	}{
		{"bad sign", &bad, "taobao.topats.trades.fullinfo.get", map[string]string{"tids": "1", "fields": "tid"}, 25, ""},
		{"unknown method", c, "taobao.topats.nope.get", map[string]string{"tids": "1"}, 22, ""},
		{"41 tids", c, "taobao.topats.trades.fullinfo.get", map[string]string{"tids": strings.Repeat("9,", 40) + "9", "fields": "tid"}, 41, "isv.invalid-parameter:tids"},
		{"non-numeric tid", c, "taobao.topats.trades.fullinfo.get", map[string]string{"tids": "1,x2", "fields": "tid"}, 41, "isv.invalid-parameter:tids"},
		{"missing fields", c, "taobao.topats.trades.fullinfo.get", map[string]string{"tids": "1"}, 40, "isv.missing-parameter:fields"},
		{"not granted", &other, "taobao.topats.trades.fullinfo.get", map[string]string{"tids": "1", "fields": "tid"}, 0, ""},
		{"wrong app's task_id", &other, "taobao.topats.result.get", map[string]string{"task_id": ok}, 41, "isv.task-not-exist:task_id"},
		{"wrong app deletes", &other, "taobao.topats.task.delete", map[string]string{"task_id": ok}, 41, "isv.task-not-exist:task_id"},
	}
	for _, tt := range tests {
		raw := tt.c.call(tt.method, tt.biz)
		e := topError(t, raw)
		if tt.code == 0 { // demo-app is granted every API: this one is accepted
			require.Nil(t, e, "%s: %s", tt.name, raw)
			continue
		}
		require.NotNil(t, e, "%s: %s", tt.name, raw)
		require.Equal(t, tt.code, e.Code, "%s: %s", tt.name, raw)
		require.Equal(t, tt.subCode, e.SubCode, "%s: %s", tt.name, raw)
	}

	// Stale timestamp: sign a call from 11 minutes ago by hand.
	stale := staleCall(t, c)
	e := topError(t, stale)
	require.NotNil(t, e)
	require.Equal(t, 31, e.Code)

	var n int
	require.NoError(t, s.db.QueryRow(`SELECT count(*) FROM async_requests`).Scan(&n))
	require.Equal(t, 2, n, "only the two accepted calls created tasks")
}

// staleCall sends a correctly signed call whose timestamp is 11 minutes old.
func staleCall(t *testing.T, c *topClient) []byte {
	t.Helper()
	p := map[string]string{
		"method": "taobao.topats.trades.fullinfo.get", "app_key": c.appKey, "v": "2.0", "sign_method": "md5",
		"format": "json", "tids": "1", "fields": "tid",
		"timestamp": time.Now().Add(-11 * time.Minute).In(beijing).Format("2006-01-02 15:04:05"),
	}
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	form.Set("sign", c.sign(p))
	resp, err := http.PostForm(c.url+"/router/rest", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return raw
}
