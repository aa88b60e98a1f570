package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// rawCall is a call whose headers matter.
func (b *bundle) rawCall(t *testing.T, method, path string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.srv.App().Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(raw)
}

// setAPIField edits one field of a definition through the admin API.
func (b *bundle) setAPIField(t *testing.T, code, field string, value any) {
	t.Helper()
	status, raw := b.admin(t, "GET", "/apis/"+code, "", "")
	require.Equal(t, 200, status, string(raw))
	var def map[string]any
	require.NoError(t, json.Unmarshal(raw, &def))
	delete(def, "path")
	delete(def, "full_url")
	def[field] = value
	body, err := json.Marshal(def)
	require.NoError(t, err)
	status, raw = b.admin(t, "PUT", "/apis/"+code, "application/json", string(body))
	require.Equal(t, 200, status, string(raw))
}

// Status changes made through the admin API apply to the next call.
func TestLifecycleStatus(t *testing.T) {
	b := setup(t)
	auth := map[string]string{"access_token": b.token(t)}
	body := `{"data":[{"billno":"A","amount":1}]}`
	setTester := func(tester bool) {
		t.Helper()
		app := `{"app_key":"demo-app","name":"Demo app","grants":["*"],"tester":` + strconv.FormatBool(tester) + `}`
		code, raw := b.admin(t, "PUT", "/apps/demo-app", "application/json", app)
		require.Equal(t, 200, code, string(raw))
	}

	b.setAPIField(t, "demo_order_batchSave", "status", "testing")
	code, env := b.call(t, "POST", orderPath, auth, body)
	require.Equal(t, 403, code)
	require.Contains(t, env.Message, "internal testing")
	setTester(true)
	code, env = b.call(t, "POST", orderPath, auth, body)
	require.Equal(t, 200, code, "a tester app may call: %s", env.Message)
	setTester(false)

	b.setAPIField(t, "demo_order_batchSave", "status", "maintenance")
	code, hdr, raw := b.rawCall(t, "POST", orderPath, auth, body)
	require.Equal(t, 200, code, raw)
	require.Equal(t, "true", hdr.Get("Deprecation"))
	require.Contains(t, hdr.Get("Warning"), "maintenance")
	require.Contains(t, raw, "deprecated")

	b.setAPIField(t, "demo_order_batchSave", "status", "disabled")
	code, env = b.call(t, "POST", orderPath, auth, body)
	require.Equal(t, 404, code)
	require.Equal(t, "Cannot found OpenAPI(or disabled)", env.Message)

	b.setAPIField(t, "demo_order_batchSave", "status", "published")
	code, env = b.call(t, "POST", orderPath, auth, body)
	require.Equal(t, 200, code, env.Message)
}
