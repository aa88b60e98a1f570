package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/asyncgate/asyncgate/handler"
)

// tradeFields are the fields taobao.topats.trades.fullinfo.get can return
// in the demo, derived from the tid so results are stable across retries.
var tradeFields = []string{"tid", "status", "seller_nick", "buyer_nick", "payment", "created"}

// TradeFullinfo answers one tid of taobao.topats.trades.fullinfo.get with
// the requested fields. A tid ending in 404 does not exist (business error
// isv.trade-not-exist).
func TradeFullinfo(_ context.Context, it handler.Item) (json.RawMessage, error) {
	var in struct {
		Tid    int64  `json:"tid"`
		Fields string `json:"fields"`
	}
	if err := json.Unmarshal(it.Request, &in); err != nil {
		return nil, handler.Business("isv.invalid-parameter", "subtask is not a JSON object")
	}
	if missingTrade(in.Tid) {
		return nil, handler.Business("isv.trade-not-exist", fmt.Sprintf("trade %d does not exist", in.Tid))
	}
	all := map[string]any{
		"tid": in.Tid, "status": "WAIT_SELLER_SEND_GOODS", "seller_nick": "demo_seller",
		"buyer_nick": "buyer_" + strconv.FormatInt(in.Tid%1000, 10),
		"payment":    fmt.Sprintf("%d.%02d", in.Tid%1000, in.Tid%100), "created": "2026-11-11 00:00:00",
	}
	trade := map[string]any{}
	for _, f := range strings.Split(in.Fields, ",") {
		if v, ok := all[strings.TrimSpace(f)]; ok {
			trade[strings.TrimSpace(f)] = v
		}
	}
	if len(trade) == 0 {
		return nil, handler.Business("isv.invalid-parameter:fields",
			"fields names none of "+strings.Join(tradeFields, ", "))
	}
	return json.Marshal(map[string]any{"trade": trade})
}

// logisticsCompanies are the company codes taobao.topats.delivery.send knows.
var logisticsCompanies = map[string]bool{"SF": true, "YTO": true, "ZTO": true, "STO": true, "YUNDA": true, "EMS": true}

// DeliverySend "ships" one trade of taobao.topats.delivery.send. Unknown
// company codes and tids ending in 404 are business errors.
func DeliverySend(_ context.Context, it handler.Item) (json.RawMessage, error) {
	var in struct {
		Tid         int64  `json:"tid"`
		CompanyCode string `json:"company_code"`
		OutSid      string `json:"out_sid"`
	}
	if err := json.Unmarshal(it.Request, &in); err != nil {
		return nil, handler.Business("isv.invalid-parameter", "subtask is not a JSON object")
	}
	if missingTrade(in.Tid) {
		return nil, handler.Business("isv.trade-not-exist", fmt.Sprintf("trade %d does not exist", in.Tid))
	}
	if !logisticsCompanies[strings.ToUpper(in.CompanyCode)] {
		return nil, handler.Business("isv.logistics-company-not-exist",
			fmt.Sprintf("logistics company %q does not exist", in.CompanyCode))
	}
	return json.Marshal(map[string]any{"shipping": map[string]any{
		"is_success": true, "tid": in.Tid, "company_code": strings.ToUpper(in.CompanyCode), "out_sid": in.OutSid,
	}})
}

func missingTrade(tid int64) bool { return tid%1000 == 404 }
