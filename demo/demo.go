// Package demo is the demo catalog of `asyncgate dev`: an app, a few APIs,
// the built-in handlers they use and a synchronous HTTP endpoint for the
// HTTP-forward API to call.
package demo

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/handler"
)

//go:embed catalog.yaml
var catalogYAML string

// Catalog returns the demo apps and APIs; HTTP forwards point at baseURL,
// where the dev process serves MountSyncAPI.
func Catalog(baseURL string) (catalog.File, error) {
	text := strings.ReplaceAll(catalogYAML, "{{BASE_URL}}", strings.TrimRight(baseURL, "/"))
	return catalog.ParseFile([]byte(text), "yaml")
}

// RegisterHandlers adds the demo built-ins to a worker's registry.
func RegisterHandlers(r *handler.Registry) {
	r.Register("demo.order.save", handler.Func(SaveOrder))
	r.Register("demo.noop", handler.Func(func(context.Context, handler.Item) (json.RawMessage, error) {
		return json.RawMessage(`{}`), nil
	}))
	r.Register("demo.sleep", handler.Func(Sleep))
	r.Register("demo.trade.fullinfo", handler.Func(TradeFullinfo))
	r.Register("demo.customer.save", handler.Func(SaveCustomer))
	r.Register("demo.stock.query", handler.Func(QueryStock))
	r.Register("demo.delivery.send", handler.Func(DeliverySend))
}

// SaveOrder "saves" an order: it succeeds with an id derived from the
// request and item (stable across retries) unless the amount is negative.
func SaveOrder(_ context.Context, it handler.Item) (json.RawMessage, error) {
	var o struct {
		Billno string  `json:"billno"`
		Amount float64 `json:"amount"`
	}
	if err := json.Unmarshal(it.Request, &o); err != nil {
		return nil, handler.Business("demo.bad_order", "order is not a JSON object")
	}
	if o.Amount < 0 {
		return nil, handler.Business("demo.negative_amount", fmt.Sprintf("amount %v of %s is negative", o.Amount, o.Billno))
	}
	return json.Marshal(map[string]string{"id": fmt.Sprintf("ORD-%d-%d", it.RequestID, it.Index), "billno": o.Billno})
}

// SaveCustomer "saves" a customer and answers it with its personal data,
// which the demo API's masking rules hide in every answer.
func SaveCustomer(_ context.Context, it handler.Item) (json.RawMessage, error) {
	var c struct {
		Name   string `json:"name"`
		Phone  string `json:"phone"`
		IDCard string `json:"id_card"`
		Email  string `json:"email"`
	}
	if err := json.Unmarshal(it.Request, &c); err != nil {
		return nil, handler.Business("demo.bad_customer", "customer is not a JSON object")
	}
	return json.Marshal(map[string]string{"id": fmt.Sprintf("CUS-%d-%d", it.RequestID, it.Index),
		"name": c.Name, "phone": c.Phone, "id_card": c.IDCard, "email": c.Email})
}

// QueryStock answers a stock level derived from the sku, with the
// definition's parameter controls echoed: they reach handlers with each item.
func QueryStock(_ context.Context, it handler.Item) (json.RawMessage, error) {
	var q struct {
		SKU       string `json:"sku"`
		Warehouse string `json:"warehouse"`
	}
	if err := json.Unmarshal(it.Request, &q); err != nil {
		return nil, handler.Business("demo.bad_query", "query is not a JSON object")
	}
	return json.Marshal(map[string]any{"sku": q.SKU, "warehouse": q.Warehouse, "available": 10 * len(q.SKU),
		"unit": it.Controls["unit"]})
}

// Sleep waits sleep_ms (capped at 60 s) or until the activity is canceled.
func Sleep(ctx context.Context, it handler.Item) (json.RawMessage, error) {
	var in struct {
		SleepMS int64 `json:"sleep_ms"`
	}
	if err := json.Unmarshal(it.Request, &in); err != nil || in.SleepMS < 0 || in.SleepMS > 60000 {
		return nil, handler.Business("demo.bad_sleep", "sleep_ms must be between 0 and 60000")
	}
	t := time.NewTimer(time.Duration(in.SleepMS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return json.Marshal(map[string]int64{"slept_ms": in.SleepMS})
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
