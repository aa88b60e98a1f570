package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/nodetest"
)

// The console driven in headless Chromium (Debian's chromium, Playwright's
// driver): log in, run an API test to completion, find the request, open
// it, export its items. ASYNCGATE_SCREENSHOTS=dir keeps the screenshots
// (docs/console holds the README's).
func TestConsoleInChromium(t *testing.T) {
	t.Parallel()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium not found at %s: run scripts/ensure-chromium (Debian's chromium package)", chromium)
	}
	dir := nodetest.Dir(t, "console", "playwright-core")
	s := newStack(t)
	shots := os.Getenv("ASYNCGATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots, err := filepath.Abs(shots)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(shots, 0o755))

	cmd := exec.CommandContext(t.Context(), "node", "console.mjs", s.apiURL, s.adminToken, shots)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s\n%s", out, stderr.String())
	var r struct {
		LoginRefused  string   `json:"loginRefused"`
		TestStatus    string   `json:"testStatus"`
		OpenAPIReqID  string   `json:"openApiReqId"`
		RequestStatus string   `json:"requestStatus"`
		TemporalLink  string   `json:"temporalLink"`
		ItemRows      int      `json:"itemRows"`
		ExportLines   int      `json:"exportLines"`
		ExportName    string   `json:"exportName"`
		PageErrors    []string `json:"pageErrors"`
		SaveResult    string   `json:"saveResult"`
		ParamRows     []int    `json:"paramRows"`
		MovedParam    string   `json:"movedParam"`
		NewSecretLen  int      `json:"newSecretLength"`
		CallLogHeader string   `json:"callLogHeader"`
		CallLogSubmit bool     `json:"callLogHasSubmit"`
	}
	require.NoError(t, json.Unmarshal(out, &r), string(out))
	require.Contains(t, r.LoginRefused, "admin token")
	require.True(t, strings.HasPrefix(r.TestStatus, "done: 2/2 items"), r.TestStatus)
	require.Len(t, r.OpenAPIReqID, 19)
	require.Equal(t, "done", r.RequestStatus)
	require.Contains(t, r.TemporalLink, "/namespaces/default/workflows/asyncgate-request-"+r.OpenAPIReqID)
	require.Equal(t, 2, r.ItemRows)
	require.Equal(t, 3, r.ExportLines, "a header and the two items")
	require.Equal(t, "asyncgate-"+r.OpenAPIReqID+"-items.csv", r.ExportName)
	require.Empty(t, r.PageErrors)
	require.True(t, strings.HasPrefix(r.CallLogHeader, "id,at,openApiReqId"), r.CallLogHeader)
	require.True(t, r.CallLogSubmit, "the exported call log has the submit line")
	require.Equal(t, "saved", r.SaveResult)
	require.Len(t, r.ParamRows, 2)
	require.Equal(t, r.ParamRows[0]+1, r.ParamRows[1], "the added parameter was saved")
	require.Equal(t, "note", r.MovedParam, "and moved up one row")
	require.Equal(t, 43, r.NewSecretLen, "a rotated secret is shown once")
	var def struct {
		Params []struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	require.Equal(t, 200, s.admin("GET", "/apis/demo_order_batchSave", nil, &def))
	require.Equal(t, "note", def.Params[len(def.Params)-2].Name)
	for _, name := range []string{"login", "queue", "apis", "api", "api-test", "requests", "request", "apps"} {
		st, err := os.Stat(filepath.Join(shots, name+".png"))
		require.NoError(t, err)
		require.Positive(t, st.Size())
	}
}
