package handler

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
)

func TestHTTPForwardBatch(t *testing.T) {
	t.Parallel()
	var lastHeader http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastHeader = r.Header.Clone()
		var in struct {
			Items []struct{ Case string } `json:"items"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &in)
		switch in.Items[0].Case {
		case "wrapped":
			_, _ = w.Write([]byte(`{"results":[{"id":1},{"sub_code":"demo.no","sub_msg":"not this one"},{"id":3}]}`))
		case "bare":
			_, _ = w.Write([]byte(`[{"id":1},{"id":2},{"id":3}]`))
		case "short":
			_, _ = w.Write([]byte(`[{"id":1}]`))
		case "refused":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"sub_code":"demo.batch_refused","sub_msg":"closed today"}`))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	f := &HTTPForward{Client: srv.Client(), Spec: catalog.HTTPForward{URL: srv.URL, BatchSize: 3, Timeout: catalog.Duration(time.Second),
		HeaderMap: map[string]string{"X-App": "app_key", "X-Sku": "item.sku"}}}
	items := func(c string) []Item {
		out := make([]Item, 3)
		for i := range out {
			out[i] = Item{RequestID: 9, Index: 4 + i, AppKey: "app-1", Attempt: 2, Request: json.RawMessage(`{"case":"` + c + `","sku":"S"}`)}
		}
		return out
	}
	tests := []struct {
		name      string
		c         string
		results   []string // "" where an error is expected
		errCodes  []string
		transient bool
	}{
		{"wrapped with one business error", "wrapped", []string{`{"id":1}`, "", `{"id":3}`}, []string{"", "demo.no", ""}, false},
		{"bare array", "bare", []string{`{"id":1}`, `{"id":2}`, `{"id":3}`}, []string{"", "", ""}, false},
		{"wrong length", "short", []string{"", "", ""}, []string{"asyncgate.invalid_output", "asyncgate.invalid_output", "asyncgate.invalid_output"}, false},
		{"whole call refused", "refused", []string{"", "", ""}, []string{"demo.batch_refused", "demo.batch_refused", "demo.batch_refused"}, false},
		{"5xx is transient", "down", nil, nil, true},
	}
	for _, tt := range tests {
		out, err := f.HandleBatch(context.Background(), items(tt.c))
		if tt.transient {
			require.Error(t, err, tt.name)
			_, biz := AsBusiness(err)
			require.False(t, biz)
			continue
		}
		require.NoError(t, err, tt.name)
		require.Len(t, out, 3)
		for i, o := range out {
			if tt.errCodes[i] != "" {
				require.NotNil(t, o.Err, "%s #%d", tt.name, i)
				require.Equal(t, tt.errCodes[i], o.Err.Code)
				continue
			}
			require.Nil(t, o.Err, "%s #%d", tt.name, i)
			require.JSONEq(t, tt.results[i], string(o.Result))
		}
	}
	require.Equal(t, "9-4-6", lastHeader.Get("Idempotency-Key"))
	require.Equal(t, "4-6", lastHeader.Get("X-Asyncgate-Items"))
	require.Equal(t, "app-1", lastHeader.Get("X-App"))
	require.Empty(t, lastHeader.Get("X-Sku"), "item fields differ per item: not a batch header")
}
