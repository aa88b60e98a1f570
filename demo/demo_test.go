package demo

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/handler"
)

func TestCatalogIsValid(t *testing.T) {
	t.Parallel()
	f, err := Catalog("http://127.0.0.1:9999/")
	require.NoError(t, err)
	require.Len(t, f.Apps, 2)
	require.Equal(t, "demo-app", f.Apps[0].AppKey)
	require.True(t, f.Apps[0].Granted("demo_order_batchSave"))
	topApp := f.Apps[1]
	require.Equal(t, "demo-top-app", topApp.AppKey)
	require.Equal(t, catalog.NotifyTOP, topApp.NotifyFormat)
	require.Equal(t, "http://127.0.0.1:9999/demo/notify/top", topApp.NotifyURL)
	require.True(t, topApp.Granted("demo_delivery_send"))
	require.False(t, topApp.Granted("demo_order_batchSave"))

	reg := handler.NewRegistry(nil)
	RegisterHandlers(reg)
	byCode := map[string]catalog.Definition{}
	for _, d := range f.APIs {
		byCode[d.Code] = d
		_, err := reg.Resolve(d.Handler)
		require.NoError(t, err, "api %s has a handler this worker can run", d.Code)
	}
	order := byCode["demo_order_batchSave"]
	require.Equal(t, "/kapi/v2/demo/demo_order/batchSave", order.WithDefaults().Path())
	require.Equal(t, "http://127.0.0.1:9999/demo/sync/inventory/reserve", byCode["demo_inventory_batchReserve"].Handler.HTTP.URL)
	for _, code := range []string{"demo_noop_batch", "demo_sleep_batch"} {
		require.Contains(t, byCode, code)
	}

	// The TOP methods split their lists into subtasks.
	trades := byCode["demo_trades_fullinfo_get"].WithDefaults()
	require.Equal(t, "taobao.topats.trades.fullinfo.get", trades.TopMethod)
	p, err := trades.ParseTop(map[string]string{"tids": "1,2,3", "fields": "tid,status"})
	require.NoError(t, err)
	require.Len(t, p.Items, 3)
	_, err = trades.ParseTop(map[string]string{"tids": strings.Repeat("1,", 40) + "1", "fields": "tid"})
	require.ErrorContains(t, err, "at most 40")
	delivery := byCode["demo_delivery_send"].WithDefaults()
	_, err = delivery.ParseTop(map[string]string{"tids": "1,2", "company_codes": "SF", "out_sids": "a,b"})
	require.ErrorContains(t, err, "company_codes")

	// The order API refuses what the issue says it must.
	_, err = order.WithDefaults().ParseBody([]byte(`{"data":[{"billno":"A","amount":"1"}]}`))
	require.ErrorContains(t, err, "data[0].amount")
	p, err = order.WithDefaults().ParseBody([]byte(`{"data":[{"billno":"A","amount":1}]}`))
	require.NoError(t, err)
	require.Len(t, p.Items, 1)
}

func TestSaveOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, req, want, subCode string
	}{
		{"positive", `{"billno":"SO-1","amount":12.5}`, `{"id":"ORD-42-3","billno":"SO-1"}`, ""},
		{"zero", `{"billno":"SO-2","amount":0}`, `{"id":"ORD-42-3","billno":"SO-2"}`, ""},
		{"negative", `{"billno":"SO-3","amount":-1}`, "", "demo.negative_amount"},
		{"not an object", `[1]`, "", "demo.bad_order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := SaveOrder(context.Background(), handler.Item{RequestID: 42, Index: 3, Request: json.RawMessage(tc.req)})
			if tc.subCode != "" {
				be, ok := handler.AsBusiness(err)
				require.True(t, ok, "%v", err)
				require.Equal(t, tc.subCode, be.Code)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(res))
		})
	}
}

func TestSleepHonoursCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Sleep(ctx, handler.Item{Request: json.RawMessage(`{"sleep_ms":60000}`)})
	require.ErrorIs(t, err, context.Canceled)
	_, err = Sleep(ctx, handler.Item{Request: json.RawMessage(`{"sleep_ms":-1}`)})
	_, biz := handler.AsBusiness(err)
	require.True(t, biz)
}

func TestSyncAPI(t *testing.T) {
	t.Parallel()
	app := fiber.New()
	MountSyncAPI(app)
	tests := []struct {
		name, body, attempt string
		status              int
		want                string
	}{
		{"reserved", `{"sku":"A-1","qty":5}`, "1", 200, `{"reservation_id":"R-A-1-5","sku":"A-1","qty":5}`},
		{"flaky first attempt", `{"sku":"FLAKY-2","qty":1}`, "1", 503, `{"error":"inventory service warming up"}`},
		{"flaky second attempt", `{"sku":"FLAKY-2","qty":1}`, "2", 200, `{"reservation_id":"R-FLAKY-2-1","sku":"FLAKY-2","qty":1}`},
		{"insufficient stock", `{"sku":"B","qty":1001}`, "1", 409, `{"sub_code":"demo.insufficient_stock","sub_msg":"only 1000 in stock for B"}`},
		{"bad body", `{"qty":1}`, "1", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/demo/sync/inventory/reserve", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Asyncgate-Attempt", tc.attempt)
			resp, err := app.Test(req, -1)
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode)
			b, _ := io.ReadAll(resp.Body)
			if tc.want != "" {
				require.JSONEq(t, tc.want, string(b))
			}
		})
	}
}

func TestTopHandlers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		h       func(context.Context, handler.Item) (json.RawMessage, error)
		req     string
		want    string
		subCode string
	}{
		{"trade fields", TradeFullinfo, `{"tid":123456,"fields":"tid,seller_nick"}`,
			`{"trade":{"tid":123456,"seller_nick":"demo_seller"}}`, ""},
		{"trade unknown fields ignored", TradeFullinfo, `{"tid":7,"fields":"status, nope"}`,
			`{"trade":{"status":"WAIT_SELLER_SEND_GOODS"}}`, ""},
		{"trade no known field", TradeFullinfo, `{"tid":7,"fields":"nope"}`, "", "isv.invalid-parameter:fields"},
		{"trade missing", TradeFullinfo, `{"tid":1404,"fields":"tid"}`, "", "isv.trade-not-exist"},
		{"ship", DeliverySend, `{"tid":5,"company_code":"sf","out_sid":"W1"}`,
			`{"shipping":{"is_success":true,"tid":5,"company_code":"SF","out_sid":"W1"}}`, ""},
		{"ship unknown company", DeliverySend, `{"tid":5,"company_code":"XX","out_sid":"W1"}`, "", "isv.logistics-company-not-exist"},
		{"ship missing trade", DeliverySend, `{"tid":99404,"company_code":"SF","out_sid":"W1"}`, "", "isv.trade-not-exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.h(context.Background(), handler.Item{Request: json.RawMessage(tc.req)})
			if tc.subCode != "" {
				be, ok := handler.AsBusiness(err)
				require.True(t, ok, "business error, got %v", err)
				require.Equal(t, tc.subCode, be.Code)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
		})
	}
}
