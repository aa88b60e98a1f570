package e2e

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// topClient calls /router/rest the way TOP's SDKs do (taobao-sdk-java's
// DefaultTaobaoClient): system parameters in the query string, business
// parameters in a urlencoded POST body, timestamp in Beijing time, v=2.0,
// partner_id naming the SDK, and the sign over all of them. Signing is
// written here from TOP's documentation, independently of the gateway.
type topClient struct {
	t          *testing.T
	url        string
	appKey     string
	secret     string
	signMethod string // md5, hmac, hmac-sha256
	format     string // json, xml
}

var beijing = time.FixedZone("CST", 8*3600)

func (c *topClient) sign(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k, v := range p {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + p[k])
	}
	var h hash.Hash
	switch c.signMethod {
	case "hmac":
		h = hmac.New(md5.New, []byte(c.secret))
		h.Write([]byte(b.String()))
	case "hmac-sha256":
		h = hmac.New(sha256.New, []byte(c.secret))
		h.Write([]byte(b.String()))
	default:
		h = md5.New()
		h.Write([]byte(c.secret + b.String() + c.secret))
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// call executes method with business parameters and returns the raw answer.
func (c *topClient) call(method string, biz map[string]string) []byte {
	c.t.Helper()
	sys := map[string]string{
		"method": method, "app_key": c.appKey, "timestamp": time.Now().In(beijing).Format("2006-01-02 15:04:05"),
		"v": "2.0", "sign_method": c.signMethod, "format": c.format, "partner_id": "top-sdk-java-20250101",
	}
	all := map[string]string{}
	for k, v := range sys {
		all[k] = v
	}
	for k, v := range biz {
		all[k] = v
	}
	q := url.Values{}
	for k, v := range sys {
		q.Set(k, v)
	}
	q.Set("sign", c.sign(all))
	form := url.Values{}
	for k, v := range biz {
		form.Set(k, v)
	}
	req, err := http.NewRequest("POST", c.url+"/router/rest?"+q.Encode(), strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	require.Equal(c.t, 200, resp.StatusCode, string(raw))
	return raw
}

// topError is error_response, or nil when the answer is not an error.
func topError(t *testing.T, raw []byte) *struct {
	Code    int    `json:"code"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
} {
	t.Helper()
	var out struct {
		Err *struct {
			Code    int    `json:"code"`
			SubCode string `json:"sub_code"`
			SubMsg  string `json:"sub_msg"`
		} `json:"error_response"`
	}
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return out.Err
}

// createTask calls a task-creating method and returns the task id as text.
func (c *topClient) createTask(method string, biz map[string]string) string {
	c.t.Helper()
	raw := c.call(method, biz)
	var out map[string]struct {
		Task struct {
			TaskID  json.Number `json:"task_id"`
			Created string      `json:"created"`
		} `json:"task"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber() // 19 digits: keep them exact
	require.NoError(c.t, dec.Decode(&out), string(raw))
	name := strings.ReplaceAll(strings.TrimPrefix(method, "taobao."), ".", "_") + "_response"
	task := out[name].Task
	require.Len(c.t, task.TaskID.String(), 19, string(raw))
	_, err := time.ParseInLocation("2006-01-02 15:04:05", task.Created, beijing)
	require.NoError(c.t, err, string(raw))
	return task.TaskID.String()
}

type topSubtask struct {
	Request   string `json:"sub_task_request"`
	Result    string `json:"sub_task_result"`
	IsSuccess bool   `json:"is_success"`
}

type topTask struct {
	TaskID   json.Number `json:"task_id"`
	Status   string      `json:"status"`
	Method   string      `json:"method"`
	Created  string      `json:"created"`
	Subtasks *struct {
		Subtask []topSubtask `json:"subtask"`
	} `json:"subtasks"`
}

func (c *topClient) result(taskID string) topTask {
	c.t.Helper()
	raw := c.call("taobao.topats.result.get", map[string]string{"task_id": taskID})
	var out struct {
		R struct {
			Task topTask `json:"task"`
		} `json:"topats_result_get_response"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	require.NoError(c.t, dec.Decode(&out), string(raw))
	require.Equal(c.t, taskID, out.R.Task.TaskID.String(), string(raw))
	return out.R.Task
}

// waitTask polls result.get until the task is done.
func (c *topClient) waitTask(taskID string, timeout time.Duration) topTask {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		task := c.result(taskID)
		if task.Status == "done" {
			return task
		}
		require.Nil(c.t, task.Subtasks, "no subtasks before the task is done")
		require.True(c.t, time.Now().Before(deadline), "task %s not done after %s: %+v", taskID, timeout, task)
		time.Sleep(200 * time.Millisecond)
	}
}
