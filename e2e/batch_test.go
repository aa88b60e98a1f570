package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A batched HTTP forward: 25 items go to the sync API in 3 calls of at
// most 10, each item still has exactly one outcome of its own.
func TestBatchedHTTPForward(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const path = "/kapi/v2/demo/demo_inventory/bulkReserve"
	token := s.token("demo-app", "demo-secret")
	items := make([]map[string]any, 25)
	for i := range items {
		qty := i + 1
		if i == 12 {
			qty = 5000
		}
		items[i] = map[string]any{"sku": fmt.Sprintf("SKU-%d", i), "qty": qty}
	}
	id := s.submit(token, path, map[string]any{"data": items})
	st := s.waitDone(token, path, id, 60*time.Second)
	s.recordHistory(id, "batched_http_forward")
	require.Equal(t, 24, st.Succeeded)
	require.Equal(t, 1, st.Failed)
	got := s.allItems(token, path, id)
	require.Len(t, got, 25)
	batches := map[string]int{}
	for i, it := range got {
		if i == 12 {
			require.False(t, it.Success)
			require.Equal(t, "demo.insufficient_stock", it.SubCode)
			continue
		}
		var r struct {
			ReservationID string `json:"reservation_id"`
			Batch         string `json:"batch"`
		}
		require.NoError(t, json.Unmarshal(it.Result, &r))
		require.Equal(t, fmt.Sprintf("R-SKU-%d-%d", i, i+1), r.ReservationID)
		batches[r.Batch]++
	}
	require.Equal(t, map[string]int{"0-9": 10, "10-19": 9, "20-24": 5}, batches)
	total, final := s.itemRows(id)
	require.Equal(t, 25, total)
	require.Equal(t, 25, final)
}
