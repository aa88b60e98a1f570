package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An operator retries a done request's failed items only: succeeded items
// are not sent again, the failed one succeeds this time.
func TestRetryFailedItemsOnly(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	var mu sync.Mutex
	hits := map[string]int{}
	syncAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SKU string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &in)
		mu.Lock()
		hits[in.SKU]++
		n := hits[in.SKU]
		mu.Unlock()
		if in.SKU == "B" && n == 1 {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"sub_code":"e2e.not_yet","sub_msg":"try later"}`))
			return
		}
		_, _ = w.Write([]byte(`{"sku":"` + in.SKU + `"}`))
	}))
	t.Cleanup(syncAPI.Close)
	def := map[string]any{"code": "e2e_retry", "name": "Retry", "app_id": "e2e", "form_id": "retry", "service_name": "save",
		"params":  []map[string]any{{"name": "sku", "type": "string", "required": true}},
		"batch":   map[string]any{"items_path": "data", "retry": map[string]any{"max_attempts": 2, "initial_interval": "100ms"}},
		"handler": map[string]any{"type": "http", "http": map[string]any{"url": syncAPI.URL, "timeout": "2s"}}}
	require.Equal(t, 200, s.admin("PUT", "/apis/e2e_retry", def, nil))
	const path = "/kapi/v2/e2e/retry/save"
	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, path, map[string]any{"data": []map[string]any{{"sku": "A"}, {"sku": "B"}, {"sku": "C"}}})
	st := s.waitDone(token, path, id, 60*time.Second)
	require.Equal(t, 2, st.Succeeded)
	require.Equal(t, 1, st.Failed)

	var view map[string]any
	require.Equal(t, 202, s.admin("POST", "/requests/"+id+"/retry", nil, &view))
	require.EqualValues(t, 1, view["retried_items"])
	require.Equal(t, "asyncgate-request-"+id+"-retry-1", view["workflow_id"])
	st = s.waitDone(token, path, id, 60*time.Second)
	require.Equal(t, 3, st.Succeeded)
	require.Zero(t, st.Failed)
	mu.Lock()
	require.Equal(t, map[string]int{"A": 1, "B": 2, "C": 1}, hits, "succeeded items were not sent again")
	mu.Unlock()
	items := s.allItems(token, path, id)
	require.JSONEq(t, `{"sku":"B"}`, string(items[1].Result))

	// Nothing failed now: nothing to retry. Cancel of a done request changes nothing.
	require.Equal(t, 409, s.admin("POST", "/requests/"+id+"/retry", nil, nil))
	var cs map[string]any
	require.Equal(t, 200, s.admin("POST", "/requests/"+id+"/cancel", nil, &cs))
	require.Equal(t, "done", cs["status"])
}
