package catalog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExampleRequestPassesItsOwnValidation(t *testing.T) {
	t.Parallel()
	defs := map[string]Definition{"voucher": voucherDef(), "types": typesDef(), "delivery": deliveryDef()}
	whole := voucherDef()
	whole.Batch.ItemsPath = ""
	defs["whole body"] = whole
	for name, d := range defs {
		ex := d.ExampleRequest()
		_, err := d.ParseBody(ex)
		require.NoError(t, err, "%s: %s", name, ex)
	}
	require.JSONEq(t, `{"data":[
		{"billno":"billn","amount":10.5,"currency":"CNY","entries":[{"account":"account-1","qty":1}]},
		{"billno":"billn","amount":20.5,"currency":"CNY","entries":[{"account":"account-2","qty":1}]}]}`,
		string(voucherDef().ExampleRequest()), "max_length cuts, defaults used, rows nested, items differ")
}

func TestExampleResultFromReturnParams(t *testing.T) {
	t.Parallel()
	d := Definition{Options: Options{Masking: true}, ReturnParams: []ReturnParam{
		{Name: "id", Type: TypeString, Example: "ORD-1"},
		{Name: "trade.tid", Type: TypeInteger},
		{Name: "trade.phone", Type: TypeString, Example: "13812345678", Mask: "phone"},
	}}
	require.JSONEq(t, `{"id":"ORD-1","trade":{"tid":1,"phone":"138****5678"}}`, string(d.ExampleResult()))
	require.Nil(t, Definition{}.ExampleResult())
}
