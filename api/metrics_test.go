package api_test

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMetricsCountCallsAndNeedTheAdminToken(t *testing.T) {
	b := setup(t)
	auth := map[string]string{"access_token": b.token(t)}
	code, _ := b.call(t, "POST", orderPath, auth, `{"data":[{"billno":"A","amount":1}]}`)
	require.Equal(t, 200, code)
	code, _ = b.call(t, "POST", orderPath, auth, `{"data":[{"billno":"A","amount":"x"}]}`)
	require.Equal(t, 400, code)
	code, _ = b.call(t, "POST", "/kapi/v2/demo/nope/x", auth, `{}`)
	require.Equal(t, 404, code)
	out, _ := b.topCall(t, topParams(t, tradesGet, map[string]string{"tids": "1"}, nil, nil))
	require.Contains(t, out, "error_response")

	resp, err := b.srv.App().Test(httptest.NewRequest("GET", "/metrics", nil), -1)
	require.NoError(t, err)
	require.Equal(t, 401, resp.StatusCode, "metrics need the admin token")
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	resp, err = b.srv.App().Test(req, -1)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	body := string(raw)
	for _, want := range []string{
		`asyncgate_requests_accepted_total{api="demo_order_batchSave",protocol="kapi"} 1`,
		`asyncgate_requests_refused_total{api="demo_order_batchSave",protocol="kapi",reason="400"} 1`,
		`asyncgate_requests_refused_total{api="",protocol="kapi",reason="404"} 1`,
		`asyncgate_requests_refused_total{api="demo_trades_fullinfo_get",protocol="top",reason="40"} 1`,
	} {
		require.Contains(t, body, want)
	}
}

func TestQueueMonitorWithoutTemporal(t *testing.T) {
	b := setup(t)
	auth := map[string]string{"access_token": b.token(t)}
	code, _ := b.call(t, "POST", orderPath, auth, `{"data":[{"billno":"A","amount":1}]}`)
	require.Equal(t, 200, code)
	status, raw := b.admin(t, "GET", "/queue", "", "")
	require.Equal(t, 200, status, string(raw))
	require.Contains(t, string(raw), `"temporal_error":"not connected"`)
	require.Contains(t, string(raw), `"new":1`)
	require.Contains(t, string(raw), `"dispatch_pending":1`)
}
