package e2e

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/client"
)

func TestGoClient(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	c := client.New(s.apiURL, "demo-app", "demo-secret")

	id, err := c.Submit(ctx, orderPath, mustJSON(orders(5, 2)))
	require.NoError(t, err)
	polls := 0
	st, err := c.Wait(ctx, orderPath, id, 100*time.Millisecond, func(client.Status) { polls++ })
	require.NoError(t, err)
	require.Positive(t, polls)
	require.Equal(t, "done", st.Status)
	require.Equal(t, 4, st.Succeeded)
	items, err := c.Items(ctx, orderPath, id)
	require.NoError(t, err)
	require.Len(t, items, 5)
	require.Equal(t, "demo.negative_amount", items[2].SubCode)

	// The queue monitor sees the worker's pollers and the finished items.
	var q struct {
		TaskQueue string `json:"task_queue"`
		Temporal  map[string]struct {
			Pollers int `json:"pollers"`
		} `json:"temporal"`
		TemporalError string `json:"temporal_error"`
		PerMinute     []struct {
			Items int `json:"items"`
		} `json:"items_per_minute"`
	}
	require.Equal(t, 200, s.admin("GET", "/queue", nil, &q))
	require.Empty(t, q.TemporalError)
	require.Equal(t, s.env["ASYNCGATE_TASK_QUEUE"], q.TaskQueue)
	require.Positive(t, q.Temporal["workflow"].Pollers)
	require.Positive(t, q.Temporal["activity"].Pollers)
	finished := 0
	for _, m := range q.PerMinute {
		finished += m.Items
	}
	require.GreaterOrEqual(t, finished, 5)

	// /metrics (admin token) has asyncgate's counters and the SDK's.
	req, err := http.NewRequest("GET", s.apiURL+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(body), `asyncgate_requests_accepted_total{api="demo_order_batchSave",protocol="kapi"} 1`)
	require.Contains(t, string(body), "temporal_request", "the dispatcher's Temporal client reports its metrics")

	// Refusals are *APIError naming the field.
	_, err = c.Submit(ctx, orderPath, []byte(`{"data":[{"billno":"A","amount":"x"}]}`))
	var apiErr *client.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, 400, apiErr.HTTPStatus)
	require.Contains(t, apiErr.Message, "data[0].amount")

	// Cancel a slow request.
	id, err = c.Submit(ctx, "/kapi/v2/demo/demo_sleep/batch", mustJSON(sleepItems(20, 1000)))
	require.NoError(t, err)
	_, err = c.Cancel(ctx, "/kapi/v2/demo/demo_sleep/batch", id)
	require.NoError(t, err)
	st, err = c.Wait(ctx, "/kapi/v2/demo/demo_sleep/batch", id, 100*time.Millisecond, nil)
	require.NoError(t, err)
	require.Equal(t, "canceled", st.Status)
}

func TestCallCommand(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "orders.json")
	require.NoError(t, os.WriteFile(data, mustJSON(orders(6, 1, 4)), 0o644))
	out := filepath.Join(dir, "results.csv")

	cmd := exec.Command(binary, "call", "demo_order_batchSave", "--data", data, "--wait", "--out", out, "--poll", "100ms", "--url", s.apiURL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	require.Contains(t, stderr.String(), "items", "a progress bar was drawn")
	require.Contains(t, stderr.String(), "done: 4 succeeded, 2 failed")
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 7)
	require.Equal(t, []string{"index", "success", "status", "attempts", "sub_code", "sub_msg", "request", "result"}, rows[0])
	require.Equal(t, "false", rows[2][1])
	require.Equal(t, "demo.negative_amount", rows[2][4])

	// Without --wait: the receipt only; by path; unknown API named.
	got, err := exec.Command(binary, "call", "/kapi/v2/demo/demo_order/batchSave", "--data", data, "--url", s.apiURL).Output()
	require.NoError(t, err)
	require.Len(t, strings.TrimSpace(string(got)), 19)
	got, err = exec.Command(binary, "call", s.apiURL+"/kapi/v2/demo/demo_order/batchSave", "--data", data, "--url", "http://127.0.0.1:1").Output()
	require.NoError(t, err, "a full URL names the gateway")
	require.Len(t, strings.TrimSpace(string(got)), 19)
	msg, err := exec.Command(binary, "call", "nope_api", "--data", data, "--url", s.apiURL).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(msg), `no published API "nope_api"`)
}
