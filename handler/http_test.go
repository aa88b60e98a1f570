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

func TestHTTPForward(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct{ Case string }
		_ = json.Unmarshal(body, &in)
		switch in.Case {
		case "ok":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"key":"` + r.Header.Get("Idempotency-Key") + `","token":"` + r.Header.Get("X-Token") + `"}`))
		case "text":
			_, _ = w.Write([]byte("plain"))
		case "top":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"sub_code":"isv.stock","sub_msg":"no stock"}`))
		case "rest":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"code":42,"message":"bad qty"}`))
		case "plain404":
			w.WriteHeader(http.StatusNotFound)
		case "slow":
			time.Sleep(300 * time.Millisecond)
		case "throttled":
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream down"))
		}
	}))
	t.Cleanup(srv.Close)

	spec := catalog.HTTPForward{URL: srv.URL, Headers: map[string]string{"X-Token": "t1"}, Timeout: catalog.Duration(100 * time.Millisecond)}
	tests := []struct {
		name      string
		item      string
		want      string // JSON result
		bizCode   string // business error sub_code
		bizMsg    string
		transient bool
	}{
		{name: "success passes JSON through", item: `{"case":"ok"}`, want: `{"key":"7-3","token":"t1"}`},
		{name: "non-JSON answer wrapped", item: `{"case":"text"}`, want: `{"body":"plain"}`},
		{name: "4xx with TOP body", item: `{"case":"top"}`, bizCode: "isv.stock", bizMsg: "no stock"},
		{name: "4xx with REST body", item: `{"case":"rest"}`, bizCode: "42", bizMsg: "bad qty"},
		{name: "4xx without body", item: `{"case":"plain404"}`, bizCode: "http.404", bizMsg: "Not Found"},
		{name: "timeout is transient", item: `{"case":"slow"}`, transient: true},
		{name: "429 is transient", item: `{"case":"throttled"}`, transient: true},
		{name: "5xx is transient", item: `{"case":"down"}`, transient: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &HTTPForward{Client: srv.Client(), Spec: spec}
			res, err := f.Handle(context.Background(), Item{RequestID: 7, Index: 3, Attempt: 1, Request: json.RawMessage(tc.item)})
			switch {
			case tc.want != "":
				require.NoError(t, err)
				require.JSONEq(t, tc.want, string(res))
			case tc.bizCode != "":
				be, ok := AsBusiness(err)
				require.True(t, ok, "want business error, got %v", err)
				require.Equal(t, tc.bizCode, be.Code)
				require.Equal(t, tc.bizMsg, be.Msg)
			default:
				require.Error(t, err)
				_, biz := AsBusiness(err)
				require.False(t, biz, "want transient error, got business %v", err)
			}
		})
	}
}

func TestHTTPForwardCustomBusinessStatuses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
	}))
	t.Cleanup(srv.Close)
	f := &HTTPForward{Client: srv.Client(), Spec: catalog.HTTPForward{URL: srv.URL, BusinessStatuses: []int{400}}}
	_, err := f.Handle(context.Background(), Item{Request: json.RawMessage(`{}`)})
	require.Error(t, err)
	_, biz := AsBusiness(err)
	require.False(t, biz, "409 is not in business_statuses, so it must be retried")
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := NewRegistry(nil)
	r.Register("echo", Func(func(_ context.Context, it Item) (json.RawMessage, error) { return it.Request, nil }))
	r.Register("boom", Func(func(context.Context, Item) (json.RawMessage, error) { panic("kaboom") }))
	require.Equal(t, []string{"boom", "echo"}, r.Names())
	require.Panics(t, func() { r.Register("echo", Func(nil)) })

	h, err := r.Resolve(catalog.HandlerSpec{Type: catalog.HandlerBuiltin, Builtin: "echo"})
	require.NoError(t, err)
	res, err := h.Handle(context.Background(), Item{Request: json.RawMessage(`{"a":1}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"a":1}`, string(res))

	h, err = r.Resolve(catalog.HandlerSpec{Type: catalog.HandlerBuiltin, Builtin: "boom"})
	require.NoError(t, err)
	_, err = Safe(h).Handle(context.Background(), Item{})
	require.ErrorContains(t, err, "handler panicked: kaboom")

	for _, spec := range []catalog.HandlerSpec{
		{Type: catalog.HandlerBuiltin, Builtin: "missing"},
		{Type: catalog.HandlerScript, Script: "x"},
		{Type: "lambda"},
		{Type: catalog.HandlerHTTP},
	} {
		_, err := r.Resolve(spec)
		require.Error(t, err, "spec %+v", spec)
	}
	h, err = r.Resolve(catalog.HandlerSpec{Type: catalog.HandlerHTTP, HTTP: &catalog.HTTPForward{URL: "http://127.0.0.1:1/"}})
	require.NoError(t, err)
	require.IsType(t, &HTTPForward{}, h)
}

func TestHTTPForwardHeaderMap(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	f := &HTTPForward{Client: srv.Client(), Spec: catalog.HTTPForward{URL: srv.URL, HeaderMap: map[string]string{
		"X-App": "app_key", "X-Req": "request_id", "X-Tenant": "header.tenant", "X-Sku": "item.sku",
		"X-Qty": "item.qty", "X-Unit": "control.unit", "X-Missing": "item.nope", "X-Null": "item.gone",
	}}}
	_, err := f.Handle(context.Background(), Item{RequestID: 42, AppKey: "app-1", Request: json.RawMessage(`{"sku":"A-1","qty":3,"gone":null}`),
		Header: json.RawMessage(`{"tenant":"t-9"}`), Controls: map[string]string{"unit": "pcs"}})
	require.NoError(t, err)
	h := <-got
	require.Equal(t, "app-1", h.Get("X-App"))
	require.Equal(t, "42", h.Get("X-Req"))
	require.Equal(t, "t-9", h.Get("X-Tenant"))
	require.Equal(t, "A-1", h.Get("X-Sku"))
	require.Equal(t, "3", h.Get("X-Qty"))
	require.Equal(t, "pcs", h.Get("X-Unit"))
	require.Empty(t, h.Values("X-Missing"))
	require.Empty(t, h.Values("X-Null"))
}
