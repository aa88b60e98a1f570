package catalog

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuickCreateInfersADefinition(t *testing.T) {
	t.Parallel()
	var q QuickCreate
	require.NoError(t, json.Unmarshal([]byte(`{"url":"https://erp.example.com/api/v1/order/save","method":"post",
		"sample_request":{"billno":"SO-1","amount":12.5,"qty":3,"paid":false,"lines":[{"sku":"A","n":1}]},
		"sample_response":{"id":"ORD-1","ok":true}}`), &q))
	d, err := q.Definition()
	require.NoError(t, err)
	require.Equal(t, "quick_order_save", d.Code)
	require.Equal(t, "/kapi/v2/quick/order/save", d.Path())
	require.Equal(t, HandlerHTTP, d.Handler.Type)
	require.Equal(t, "https://erp.example.com/api/v1/order/save", d.Handler.HTTP.URL)
	require.Equal(t, "POST", d.Handler.HTTP.Method)
	types := map[string]ParamType{}
	for _, p := range d.Params {
		types[p.Name] = p.Type
	}
	require.Equal(t, map[string]ParamType{"billno": TypeString, "amount": TypeNumber, "qty": TypeInteger,
		"paid": TypeBoolean, "lines": TypeArray, "sku": TypeString, "n": TypeInteger}, types)
	require.Len(t, d.ReturnParams, 2)

	// The generated API accepts its own example and a call shaped like the sample.
	_, err = d.ParseBody(d.ExampleRequest())
	require.NoError(t, err)
	_, err = d.ParseBody([]byte(`{"data":[{"billno":"SO-2","amount":1,"qty":1,"paid":true,"lines":[{"sku":"B","n":2}]}]}`))
	require.NoError(t, err)
	_, err = d.ParseBody([]byte(`{"data":[{"amount":"x"}]}`))
	require.ErrorContains(t, err, "data[0].amount")
}

func TestQuickCreateErrorsNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, field string }{
		{`{"url":"ftp://x/y"}`, "url"},
		{`{"url":"http://x/y","sample_request":[1]}`, "sample_request"},
		{`{"url":"http://x/y","sample_request":"text"}`, "sample_request"},
		{`{"url":"http://x/y","code":"9bad"}`, "code"},
	}
	for _, tt := range tests {
		var q QuickCreate
		require.NoError(t, json.Unmarshal([]byte(tt.in), &q), tt.in)
		_, err := q.Definition()
		fe := fieldErr(t, err)
		require.Contains(t, fe.Error(), tt.field, tt.in)
	}
}

func TestHeaderMapSourcesAreValidated(t *testing.T) {
	t.Parallel()
	d := voucherDef()
	d.Handler = HandlerSpec{Type: HandlerHTTP, HTTP: &HTTPForward{URL: "http://x/y", HeaderMap: map[string]string{"X-A": "item.billno"}}}
	require.NoError(t, d.Validate())
	d.Handler.HTTP.HeaderMap = map[string]string{"X-A": "body.billno"}
	fe := fieldErr(t, d.Validate())
	require.Equal(t, "handler.http.header_map.X-A", fe.Field)
	d.Handler.HTTP.HeaderMap = map[string]string{"bad header": "app_key"}
	require.Equal(t, "handler.http.header_map", fieldErr(t, d.Validate()).Field)
}
