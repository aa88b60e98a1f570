package api_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// serve runs the app on a loopback listener (streamed bodies need a real
// connection; app.Test buffers).
func (b *bundle) serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = b.srv.App().Listener(ln) }()
	t.Cleanup(func() { _ = b.srv.App().Shutdown() })
	return "http://" + ln.Addr().String()
}

func adminGet(t *testing.T, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, 200, resp.StatusCode)
	return resp
}

// 100 000 items (~50 MB of JSON Lines) stream with the server's heap
// growing by a fraction of that.
func TestExportStreamsWithBoundedMemory(t *testing.T) {
	b := newBundle(t) // not parallel: it measures the process's heap
	const n = 100_000
	_, err := b.db.Exec(`INSERT INTO async_requests (id, api_code, app_key, protocol, total, workflow_id, status)
		VALUES (1000000000000000777, 'demo_order_batchSave', 'demo-app', 'kapi', $1, 'wf', 'done')`, n)
	require.NoError(t, err)
	_, err = b.db.Exec(`INSERT INTO async_items (request_id, idx, request, status, attempts, result, finished_at)
		SELECT 1000000000000000777, g, jsonb_build_object('billno', 'SO-' || g, 'amount', g, 'note', repeat('x', 400)),
			'succeeded', 1, jsonb_build_object('id', 'ORD-' || g), now()
		FROM generate_series(0, $1 - 1) g`, n)
	require.NoError(t, err)
	base := b.serve(t)

	// Collect eagerly so the heap in use tracks what is live, not garbage
	// waiting for the next cycle.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	resp := adminGet(t, base+"/admin/api/export/items?request=1000000000000000777&format=jsonl")
	require.Contains(t, resp.Header.Get("Content-Type"), "application/x-ndjson")
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lines, bytes := 0, 0
	var first struct {
		ID    string `json:"openApiReqId"`
		Index int    `json:"index"`
	}
	for sc.Scan() {
		if lines == 0 {
			require.NoError(t, json.Unmarshal(sc.Bytes(), &first))
		}
		lines++
		bytes += len(sc.Bytes()) + 1
	}
	close(stop)
	require.NoError(t, sc.Err())
	require.Equal(t, n, lines)
	require.Equal(t, "1000000000000000777", first.ID)
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("exported %d items, %.1f MB; server heap grew by %.1f MB at most", lines, float64(bytes)/1e6, float64(growth)/1e6)
	require.Greater(t, bytes, 45_000_000)
	require.Less(t, growth, int64(bytes/3), "the export is streamed, not built in memory")
}

func TestExportFormatsAndMasking(t *testing.T) {
	b := setup(t)
	auth := map[string]string{"access_token": b.token(t)}
	code, env := b.call(t, "POST", customerPath, auth, `{"data":[{"name":"张三","phone":"13812345678"}]}`)
	require.Equal(t, 200, code, env.Message)
	id := receiptID(t, env)
	base := b.serve(t)

	resp := adminGet(t, base+"/admin/api/export/items?api=demo_customer_batchSave&format=csv")
	rows, err := csv.NewReader(resp.Body).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, id, rows[1][0])
	require.Contains(t, rows[1][8], "138****5678", "exports are masked")
	require.NotContains(t, rows[1][8], "13812345678")

	resp = adminGet(t, base+"/admin/api/export/calllog?request="+id+"&format=jsonl")
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.Len(t, lines, 1, "the submit line")
	require.True(t, strings.Contains(lines[0], `"kind":"submit"`), lines[0])
	require.NotContains(t, lines[0], "13812345678")

	code, _ = b.admin(t, "GET", "/export/items?format=xml", "", "")
	require.Equal(t, 400, code)
}
