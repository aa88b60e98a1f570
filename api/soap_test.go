package api_test

import (
	"encoding/xml"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSOAPEndpoint(t *testing.T) {
	b := setup(t)
	get := func(path string) (int, string) {
		resp, err := b.srv.App().Test(httptest.NewRequest("GET", path, nil), -1)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	code, wsdl := get("/kapi/ws/demo_order_batchSave?wsdl")
	require.Equal(t, 200, code, wsdl)
	require.NoError(t, xml.Unmarshal([]byte(wsdl), new(struct{})))
	for _, op := range []string{`"batchSave"`, `"batchSaveCheckStatus"`, `"batchSaveQueryResult"`} {
		require.Contains(t, wsdl, op)
	}
	code, _ = get("/kapi/ws/demo_noop_batch?wsdl")
	require.Equal(t, 404, code, "no WebService info: no SOAP")
	code, _ = get("/kapi/ws/demo_order_batchSave")
	require.Equal(t, 400, code)

	post := func(body, token string) (int, string) {
		req := httptest.NewRequest("POST", "/kapi/ws/demo_order_batchSave", strings.NewReader(body))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		if token != "" {
			req.Header.Set("access_token", token)
		}
		resp, err := b.srv.App().Test(req, -1)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml"))
		return resp.StatusCode, string(raw)
	}
	envelope := func(input string) string {
		return `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://asyncgate.example/ws/demo_order">` +
			`<soapenv:Body><t:batchSave><t:requestJson>` + input + `</t:requestJson></t:batchSave></soapenv:Body></soapenv:Envelope>`
	}
	tok := b.token(t)
	tests := []struct{ name, body, token, want string }{
		{"no token", envelope(`{"data":[{"billno":"A","amount":1}]}`), "", "access_token"},
		{"bad field", envelope(`{"data":[{"billno":"A","amount":"x"}]}`), tok, "data[0].amount"},
		{"not soap", `{"data":[]}`, tok, "soap:Client"},
	}
	for _, tt := range tests {
		code, raw := post(tt.body, tt.token)
		require.Equal(t, 500, code, "SOAP 1.1 faults travel with HTTP 500")
		require.Contains(t, raw, "soap:Client", tt.name)
		require.Contains(t, raw, tt.want, tt.name)
	}
	code, raw := post(envelope(`{"data":[{"billno":"A","amount":1}]}`), tok)
	require.Equal(t, 200, code, raw)
	require.Contains(t, raw, "batchSaveResponse")
	require.Contains(t, raw, "openApiReqId")
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM async_requests`))
	require.Equal(t, 1, n, "only the good call created a task")
}
