package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/store/storetest"
)

// `asyncgate dev` as a new user runs it: one process with the embedded
// Temporal server (SQLite file), Web UI, migrations, demo catalog, API and
// worker. A request in flight when dev stops completes after a restart.
func TestDevModeSurvivesRestart(t *testing.T) {
	t.Parallel()
	dsn, db := storetest.NewDatabase(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	httpAddr, uiAddr := freeAddr(), freeAddr()
	s := &stack{t: t, dsn: dsn, db: db, apiURL: "http://" + httpAddr, env: map[string]string{
		"DATABASE_URL":               dsn,
		"TEMPORAL_ADDRESS":           freeAddr(),
		"ASYNCGATE_HTTP_ADDR":        httpAddr,
		"ASYNCGATE_TEMPORAL_UI_ADDR": uiAddr,
		"ASYNCGATE_DATA_DIR":         dataDir,
	}}
	dev := s.startProc("dev-1", "dev")
	require.NoError(t, dev.waitOutput("asyncgate dev is up", 120*time.Second), dev.output())
	out := dev.output()
	for _, want := range []string{"http://" + httpAddr, "http://" + uiAddr, "client_id=demo-app client_secret=demo-secret",
		"/kapi/v2/demo/demo_order/batchSave", "Admin token   dev-"} {
		require.Contains(t, out, want)
	}

	// The Temporal Web UI answers.
	resp, err := http.Get("http://" + uiAddr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	token := s.token("demo-app", "demo-secret")
	done := s.submit(token, orderPath, orders(40, 1, 2))
	st := s.waitDone(token, orderPath, done, 60*time.Second)
	require.Equal(t, 38, st.Succeeded)

	// A slow request is in flight when dev stops (SIGINT, graceful).
	slow := s.submit(token, "/kapi/v2/demo/demo_sleep/batch", map[string]any{"data": []map[string]any{
		{"sleep_ms": 300}, {"sleep_ms": 300}, {"sleep_ms": 300}, {"sleep_ms": 300},
		{"sleep_ms": 300}, {"sleep_ms": 300}, {"sleep_ms": 300}, {"sleep_ms": 300},
	}})
	require.NoError(t, dev.stop(), "graceful shutdown exits 0")
	require.True(t, strings.Contains(dev.output(), "asyncgate dev is up"))

	dev2 := s.startProc("dev-2", "dev")
	require.NoError(t, dev2.waitOutput("asyncgate dev is up", 120*time.Second), dev2.output())
	st = s.waitDone(token, "/kapi/v2/demo/demo_sleep/batch", slow, 90*time.Second)
	require.Equal(t, 8, st.Succeeded, "the request accepted before the restart completed")
	// The earlier request is still answered (PostgreSQL holds the results).
	require.Equal(t, "done", s.checkStatus(token, orderPath, done).Status)
}
