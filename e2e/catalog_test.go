package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Quick create turns the demo's synchronous endpoint into an async API that
// works end to end at once.
func TestQuickCreatedAPIRuns(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	var out struct {
		API struct {
			Path string `json:"path"`
		} `json:"api"`
	}
	in := map[string]any{"url": s.apiURL + "/demo/sync/inventory/reserve", "code": "quick_reserve",
		"sample_request": map[string]any{"sku": "A-1", "qty": 2}, "sample_response": map[string]any{"reservation_id": "R-1"}}
	require.Equal(t, 201, s.admin("POST", "/quick-create", in, &out))
	require.True(t, strings.HasPrefix(out.API.Path, "/kapi/v2/quick/"), out.API.Path)

	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, out.API.Path, map[string]any{"data": []map[string]any{{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 5000}}})
	st := s.waitDone(token, out.API.Path, id, 60*time.Second)
	require.Equal(t, 1, st.Succeeded)
	require.Equal(t, 1, st.Failed)
	items := s.allItems(token, out.API.Path, id)
	var res struct {
		ReservationID string `json:"reservation_id"`
	}
	require.NoError(t, json.Unmarshal(items[0].Result, &res))
	require.NotEmpty(t, res.ReservationID)
	require.Equal(t, "demo.insufficient_stock", items[1].SubCode, "the sync API's 4xx is a business error")
}
