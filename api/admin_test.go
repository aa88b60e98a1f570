package api_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/asyncgate/asyncgate/catalog"
)

// admin calls the admin API with the admin token and returns the status
// and raw body.
func (b *bundle) admin(t *testing.T, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, "/admin/api"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := b.srv.App().Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, raw
}

func codes(t *testing.T, raw []byte) []string {
	t.Helper()
	var out struct {
		APIs []struct {
			Code string `json:"code"`
		} `json:"apis"`
	}
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	var cs []string
	for _, a := range out.APIs {
		cs = append(cs, a.Code)
	}
	return cs
}

func TestAdminListFilters(t *testing.T) {
	b := setup(t)
	tests := []struct {
		query string
		want  []string
	}{
		{"?q=fullinfo", []string{"demo_trades_fullinfo_get"}},
		{"?q=TAOBAO.TOPATS.DELIVERY", []string{"demo_delivery_send"}},
		{"?q=/kapi/v2/demo/demo_order/", []string{"demo_order_batchSave", "demo_order_mapScript"}},
		{"?app=demo-top-app", []string{"demo_delivery_send", "demo_trades_fullinfo_get"}},
		{"?status=disabled", nil},
		{"?status=published&q=sleep", []string{"demo_sleep_batch"}},
		{"?group=none", nil},
	}
	for _, tt := range tests {
		code, raw := b.admin(t, "GET", "/apis"+tt.query, "", "")
		require.Equal(t, 200, code, string(raw))
		require.Equal(t, tt.want, codes(t, raw), tt.query)
	}
	code, raw := b.admin(t, "GET", "/apis?app=nobody", "", "")
	require.Equal(t, 404, code, string(raw))
}

func TestAdminCreateValidatesAndRefusesDuplicates(t *testing.T) {
	b := setup(t)
	def := `{"code":"x_new","name":"New","app_id":"x","form_id":"x_form","service_name":"save",
		"params":[{"name":"a","type":"string","required":true}],"batch":{"items_path":"data"},
		"handler":{"type":"builtin","builtin":"demo.noop"}}`
	code, raw := b.admin(t, "POST", "/apis", "application/json", def)
	require.Equal(t, 201, code, string(raw))
	require.Contains(t, string(raw), `"full_url":"`)
	require.Contains(t, string(raw), `/kapi/v2/x/x_form/save`)
	code, raw = b.admin(t, "POST", "/apis", "application/json", def)
	require.Equal(t, 409, code, string(raw))
	require.Contains(t, string(raw), "code: API x_new already exists")

	tests := []struct{ name, body, want string }{
		{"unknown handler", strings.Replace(def, `"demo.noop"`, `"nope.handler"`, 1), `handler.builtin: \"nope.handler\" is not a built-in handler`},
		{"bad param type", strings.Replace(strings.Replace(def, `"string"`, `"strng"`, 1), "x_new", "x_other", 1), `params[0].type: unknown type \"strng\"`},
		{"url clash", strings.Replace(def, "x_new", "x_clash", 1), "another API already uses /kapi/v2/x/x_form/save"},
	}
	for _, tt := range tests {
		code, raw := b.admin(t, "POST", "/apis", "application/json", tt.body)
		require.True(t, code == 400 || code == 409, "%s: %d %s", tt.name, code, raw)
		require.Contains(t, string(raw), tt.want, tt.name)
	}
}

// "Fill example data": the example request is accepted by the API itself.
func TestAdminExampleIsACallTheAPIAccepts(t *testing.T) {
	b := setup(t)
	tok := b.token(t)
	for _, code := range []string{"demo_order_batchSave", "demo_customer_batchSave", "demo_inventory_batchReserve", "demo_sleep_batch"} {
		status, raw := b.admin(t, "GET", "/apis/"+code+"/example", "", "")
		require.Equal(t, 200, status, string(raw))
		var ex struct {
			URL         string          `json:"url"`
			Request     json.RawMessage `json:"request"`
			QueryResult json.RawMessage `json:"queryResult"`
		}
		require.NoError(t, json.Unmarshal(raw, &ex))
		path := ex.URL[strings.Index(ex.URL, "/kapi/"):]
		st, env := b.call(t, "POST", path, map[string]string{"access_token": tok}, string(ex.Request))
		require.Equal(t, 200, st, "%s: %s → %s", code, ex.Request, env.Message)
		require.Contains(t, string(ex.QueryResult), `"items"`)
	}
	status, raw := b.admin(t, "GET", "/apis/demo_customer_batchSave/example", "", "")
	require.Equal(t, 200, status)
	require.Contains(t, string(raw), `****`, "the example result is masked as answers are")

	// A GET API's example is a URL with the item in the query string.
	status, raw = b.admin(t, "GET", "/apis/demo_stock_query/example", "", "")
	require.Equal(t, 200, status)
	var ex struct {
		URL string `json:"url"`
	}
	require.NoError(t, json.Unmarshal(raw, &ex))
	st, _, body := b.rawCall(t, "GET", ex.URL[strings.Index(ex.URL, "/kapi/"):], map[string]string{"access_token": tok, "X-Tenant-Id": "t"}, "")
	require.Equal(t, 200, st, "%s → %s", ex.URL, body)
	require.Contains(t, body, `"openApiReqId"`)
}

func TestAdminExportImportRoundTrip(t *testing.T) {
	b := setup(t)
	code, raw := b.admin(t, "GET", "/export?format=yaml", "", "")
	require.Equal(t, 200, code, string(raw))
	require.NotContains(t, string(raw), "demo-secret", "exports carry no secrets")
	var f catalog.File
	require.NoError(t, yaml.Unmarshal(raw, &f))
	require.Len(t, f.Apps, 2)
	require.GreaterOrEqual(t, len(f.APIs), 7)

	// Import it back (apps keep their secrets), and as JSON too.
	code, out := b.admin(t, "POST", "/import", "application/yaml", string(raw))
	require.Equal(t, 200, code, string(out))
	require.JSONEq(t, `{"apps":2,"apis":`+itoa(len(f.APIs))+`}`, string(out))
	require.NotEmpty(t, b.token(t), "demo-app still authenticates with its secret")
	code, raw = b.admin(t, "GET", "/export?format=json", "", "")
	require.Equal(t, 200, code)
	code, out = b.admin(t, "POST", "/import", "application/json", string(raw))
	require.Equal(t, 200, code, string(out))
	code, _ = b.admin(t, "GET", "/export?format=xml", "", "")
	require.Equal(t, 400, code)

	// A new app needs a secret.
	code, out = b.admin(t, "POST", "/import", "application/yaml", "apps:\n- {app_key: fresh, name: F}\n")
	require.Equal(t, 400, code, string(out))
	require.Contains(t, string(out), "secret: is required for a new app")
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestAdminQuickCreate(t *testing.T) {
	b := setup(t)
	in := `{"url":"http://127.0.0.1:9/api/order/save","sample_request":{"billno":"SO-1","amount":1.5},"sample_response":{"id":"X"}}`
	code, raw := b.admin(t, "POST", "/quick-create", "application/json", in)
	require.Equal(t, 201, code, string(raw))
	var out struct {
		API struct {
			Code    string `json:"code"`
			FullURL string `json:"full_url"`
		} `json:"api"`
		Example json.RawMessage `json:"example_request"`
	}
	require.NoError(t, json.Unmarshal(raw, &out))
	require.Equal(t, "quick_order_save", out.API.Code)
	require.True(t, strings.HasSuffix(out.API.FullURL, "/kapi/v2/quick/order/save"))

	// Ready to call: the example is accepted.
	st, env := b.call(t, "POST", "/kapi/v2/quick/order/save", map[string]string{"access_token": b.token(t)}, string(out.Example))
	require.Equal(t, 200, st, env.Message)

	code, raw = b.admin(t, "POST", "/quick-create", "application/json", in)
	require.Equal(t, 409, code, string(raw))
	code, raw = b.admin(t, "POST", "/quick-create", "application/json", `{"url":"nope"}`)
	require.Equal(t, 400, code)
	require.Contains(t, string(raw), "url: must be an absolute http or https URL")
}

func TestRotateSecretKeepsTheOldOneForTheGracePeriod(t *testing.T) {
	b := setup(t)
	getToken := func(secret string) int {
		code, _ := b.call(t, "POST", "/kapi/oauth2/getToken", nil, `{"client_id":"demo-top-app","client_secret":"`+secret+`"}`)
		return code
	}
	code, raw := b.admin(t, "POST", "/apps/demo-top-app/rotate-secret", "application/json", `{"grace":"1h"}`)
	require.Equal(t, 200, code, string(raw))
	var out struct {
		Secret string `json:"secret"`
	}
	require.NoError(t, json.Unmarshal(raw, &out))
	require.Len(t, out.Secret, 43)
	require.Equal(t, 200, getToken(out.Secret))
	require.Equal(t, 200, getToken("demo-top-secret"), "the old secret works during the grace period")
	// TOP signatures with the old secret too.
	o, r := b.topCall(t, topParams(t, "taobao.topats.tasks.get", map[string]string{
		"start_time": "2026-11-25 00:00:00", "end_time": "2026-11-25 01:00:00"}, nil, nil))
	require.Contains(t, o, "topats_tasks_get_response", r)

	code, raw = b.admin(t, "POST", "/apps/demo-top-app/rotate-secret", "application/json", `{"grace":"0s"}`)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 401, getToken("demo-top-secret"), "retired at once")
	require.Equal(t, 401, getToken(out.Secret), "the first new secret was retired by the second rotation")
	code, _ = b.admin(t, "POST", "/apps/demo-top-app/rotate-secret", "application/json", `{"grace":"9999h"}`)
	require.Equal(t, 400, code)
	code, _ = b.admin(t, "POST", "/apps/nobody/rotate-secret", "", "")
	require.Equal(t, 404, code)
}
