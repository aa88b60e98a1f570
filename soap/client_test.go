package soap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/nodetest"
)

// clientDir holds the node-soap client (testdata/client/call.mjs).
const clientDir = "testdata/client"

// nodeClient makes sure node and the client's node_modules are there.
func nodeClient(t *testing.T) {
	t.Helper()
	nodetest.Dir(t, clientDir, "soap")
}

// fakeGateway serves the WSDL at /ws?wsdl and answers POST /ws through
// ParseRequest and Response, with a fake backend behind.
type fakeGateway struct {
	code string
	ws   catalog.WebService

	mu     sync.Mutex
	tokens []string // the access token of each call, SOAP header first
}

// startGateway is the setup helper: it returns the gateway and its WSDL URL.
func startGateway(t *testing.T, code string, ws catalog.WebService) (*fakeGateway, string) {
	t.Helper()
	g := &fakeGateway{code: code, ws: ws}
	srv := httptest.NewServer(g) // loopback
	t.Cleanup(srv.Close)
	return g, srv.URL + "/ws?wsdl"
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	switch {
	case r.URL.Path != "/ws":
		http.NotFound(w, r)
	case r.Method == http.MethodGet && r.URL.RawQuery == "wsdl":
		b, err := WSDL(g.code, g.ws, "http://"+r.Host+"/ws")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b)
	case r.Method == http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := g.call(r, body)
		var f *Fault
		if errors.As(err, &f) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(f.Envelope())
			return
		}
		_, _ = w.Write(out)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (g *fakeGateway) call(r *http.Request, body []byte) ([]byte, error) {
	req, err := ParseRequest(g.ws, body)
	if err != nil {
		return nil, err
	}
	token := req.AccessToken
	if token == "" {
		token = r.Header.Get("access_token")
	}
	g.mu.Lock()
	g.tokens = append(g.tokens, token)
	g.mu.Unlock()

	var in map[string]any
	if err := json.Unmarshal([]byte(req.Input), &in); err != nil {
		return nil, &Fault{Code: FaultClient, String: "input is not valid JSON: " + err.Error(),
			Detail: `{"errorCode":"400","message":"invalid JSON","status":false}`}
	}
	data := map[string]any{"openApiReqId": in["openApiReqId"]}
	switch req.Op {
	case OpSubmit:
		data = map[string]any{"openApiReqId": "req-42", "received": in}
	case OpCheckStatus:
		data["status"] = "finished"
	case OpQueryResult:
		data["pageNo"], data["pageSize"] = in["pageNo"], in["pageSize"]
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // keep <, > and & raw: the XML layer must escape them
	if err := enc.Encode(map[string]any{"data": data, "errorCode": "0", "message": "ok", "status": true}); err != nil {
		return nil, &Fault{Code: FaultServer, String: err.Error()}
	}
	return Response(g.ws, req.Op, string(bytes.TrimSpace(out.Bytes()))), nil
}

// nodeCall is one call of call.mjs.
type nodeCall struct {
	Operation  string `json:"operation"`
	InputParam string `json:"inputParam"`
	Input      string `json:"input"`
	SOAPToken  string `json:"soapToken,omitempty"`
	HTTPToken  string `json:"httpToken,omitempty"`
	Namespace  string `json:"namespace"`
}

// runNode runs call.mjs and returns its stdout, stderr and error.
func runNode(t *testing.T, wsdlURL string, calls []nodeCall) (string, string, error) {
	t.Helper()
	b, err := json.Marshal(calls)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "calls.json")
	require.NoError(t, os.WriteFile(file, b, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "node", "call.mjs", wsdlURL, file)
	cmd.Dir, cmd.Stdout, cmd.Stderr = clientDir, &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

func TestNodeSOAPClient(t *testing.T) {
	t.Parallel()
	nodeClient(t)
	demo, other := webServices()
	const submitInput = `{"data":[{"number":"SO<1>&2","note":"]]> \"quoted\" 金蝶"}]}`
	for _, tc := range []struct {
		name, code string
		ws         catalog.WebService
		soapHeader bool // token in the SOAP header, else in the HTTP header
	}{
		{"demo, token in SOAP header", "demo_order", demo, true},
		{"other, token in HTTP header", "inventory.stock", other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw, wsdlURL := startGateway(t, tc.code, tc.ws)
			token := "tok-" + tc.code
			call := func(op Op, input string) nodeCall {
				c := nodeCall{Operation: OperationName(tc.ws, op), InputParam: tc.ws.InputParam, Input: input, Namespace: tc.ws.Namespace}
				if tc.soapHeader {
					c.SOAPToken = token
				} else {
					c.HTTPToken = token
				}
				return c
			}

			stdout, stderr, err := runNode(t, wsdlURL, []nodeCall{
				call(OpSubmit, submitInput),
				call(OpCheckStatus, `{"openApiReqId":"req-42"}`),
				call(OpQueryResult, `{"openApiReqId":"req-42","pageNo":1,"pageSize":100}`),
			})
			require.NoError(t, err, "stderr: %s", stderr)
			var results []map[string]string
			require.NoError(t, json.Unmarshal([]byte(stdout), &results), stdout)
			require.Len(t, results, 3)
			outputs := make([]string, len(results))
			for i, r := range results {
				require.Contains(t, r, tc.ws.OutputParam)
				outputs[i] = r[tc.ws.OutputParam]
			}
			require.JSONEq(t, `{"data":{"openApiReqId":"req-42","received":`+submitInput+`},"errorCode":"0","message":"ok","status":true}`, outputs[0])
			require.JSONEq(t, `{"data":{"openApiReqId":"req-42","status":"finished"},"errorCode":"0","message":"ok","status":true}`, outputs[1])
			require.JSONEq(t, `{"data":{"openApiReqId":"req-42","pageNo":1,"pageSize":100},"errorCode":"0","message":"ok","status":true}`, outputs[2])
			gw.mu.Lock()
			require.Equal(t, []string{token, token, token}, gw.tokens)
			gw.mu.Unlock()

			// A fault is an error in node: non-zero exit, faultstring shown.
			_, stderr, err = runNode(t, wsdlURL, []nodeCall{call(OpCheckStatus, `openApiReqId=req-42`)})
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "a SOAP fault must fail the node client")
			require.Contains(t, stderr, "soap:Client")
			require.Contains(t, stderr, "input is not valid JSON")
		})
	}
}
