package e2e

import (
	"encoding/json"
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

	"github.com/asyncgate/asyncgate/nodetest"
)

// soapCall is one call of soap/testdata/client/call.mjs.
type soapCall struct {
	Operation  string `json:"operation"`
	InputParam string `json:"inputParam"`
	Input      string `json:"input"`
	SOAPToken  string `json:"soapToken,omitempty"`
	HTTPToken  string `json:"httpToken,omitempty"`
	Namespace  string `json:"namespace"`
}

// runSOAPClient has node-soap build a client from the gateway's WSDL and
// make the calls; it returns each call's output JSON (resultJson).
func runSOAPClient(t *testing.T, wsdlURL string, calls []soapCall) ([]string, error) {
	t.Helper()
	dir := nodetest.Dir(t, filepath.Join("..", "soap", "testdata", "client"), "soap")
	file := filepath.Join(t.TempDir(), "calls.json")
	require.NoError(t, os.WriteFile(file, mustJSON(calls), 0o644))
	cmd := exec.CommandContext(t.Context(), "node", "call.mjs", wsdlURL, file)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, &soapClientError{stderr: string(exit.Stderr)}
		}
		return nil, err
	}
	var results []map[string]string
	require.NoError(t, json.Unmarshal(out, &results), string(out))
	var outputs []string
	for _, r := range results {
		outputs = append(outputs, r["resultJson"])
	}
	return outputs, nil
}

type soapClientError struct{ stderr string }

func (e *soapClientError) Error() string { return e.stderr }

// A standard SOAP client (node-soap) generates its client from the WSDL of
// demo_order_batchSave and calls all three operations.
func TestSOAPClientFromWSDL(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	token := s.token("demo-app", "demo-secret")
	wsdl := s.apiURL + "/kapi/ws/demo_order_batchSave?wsdl"
	const ns = "http://asyncgate.example/ws/demo_order"
	call := func(op, input string) soapCall {
		return soapCall{Operation: op, InputParam: "requestJson", Input: input, SOAPToken: token, Namespace: ns}
	}

	out, err := runSOAPClient(t, wsdl, []soapCall{call("batchSave", string(mustJSON(orders(3, 1))))})
	require.NoError(t, err)
	var env struct {
		Data struct {
			OpenAPIReqID string `json:"openApiReqId"`
			Status       string `json:"status"`
		} `json:"data"`
		ErrorCode string `json:"errorCode"`
	}
	require.NoError(t, json.Unmarshal([]byte(out[0]), &env), out[0])
	require.Equal(t, "0", env.ErrorCode)
	require.Len(t, env.Data.OpenAPIReqID, 19)
	id := env.Data.OpenAPIReqID
	s.waitDone(token, orderPath, id, 60*time.Second)

	q := `{"openApiReqId":"` + id + `","pageSize":2}`
	httpTok := soapCall{Operation: "batchSaveCheckStatus", InputParam: "requestJson", Input: q, HTTPToken: token, Namespace: ns}
	out, err = runSOAPClient(t, wsdl, []soapCall{httpTok, call("batchSaveQueryResult", q)})
	require.NoError(t, err)
	require.Contains(t, out[0], `"status":"done"`)
	require.Contains(t, out[0], `"succeeded":2`)
	var res struct {
		Data struct {
			Status     string `json:"status"`
			TotalPages int    `json:"totalPages"`
			Items      []struct {
				Index   int    `json:"index"`
				SubCode string `json:"sub_code"`
			} `json:"items"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(out[1]), &res), out[1])
	require.Equal(t, 2, res.Data.TotalPages)
	require.Len(t, res.Data.Items, 2)
	require.Equal(t, "demo.negative_amount", res.Data.Items[1].SubCode)

	// Refusals are SOAP faults, with the field named and no task created.
	_, err = runSOAPClient(t, wsdl, []soapCall{call("batchSave", `{"data":[{"billno":"A","amount":"x"}]}`)})
	require.Error(t, err)
	require.Contains(t, err.Error(), "soap:Client")
	require.Contains(t, err.Error(), "data[0].amount")
	bad := call("batchSave", string(mustJSON(orders(1))))
	bad.SOAPToken = "not-a-token"
	_, err = runSOAPClient(t, wsdl, []soapCall{bad})
	require.Error(t, err)
	require.Contains(t, err.Error(), "access_token")
	var n int
	require.NoError(t, s.db.QueryRow(`SELECT count(*) FROM async_requests`).Scan(&n))
	require.Equal(t, 1, n)
}

// /openapi.json of the running gateway validates with a standard OpenAPI
// 3.1 validator.
func TestOpenAPIDocumentValidates(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	resp, err := http.Get(s.apiURL + "/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	doc, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, string(doc))
	require.Contains(t, string(doc), `"openapi": "3.1.0"`)
	require.Contains(t, string(doc), "/kapi/v2/demo/demo_order/batchSave")

	dir := nodetest.Dir(t, filepath.Join("..", "openapi", "testdata", "validator"), "@seriousme/openapi-schema-validator")
	file := filepath.Join(t.TempDir(), "openapi.json")
	require.NoError(t, os.WriteFile(file, doc, 0o644))
	cmd := exec.CommandContext(t.Context(), "node", "validate.mjs", file)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.True(t, strings.Contains(string(out), `"valid": true`), string(out))
}
