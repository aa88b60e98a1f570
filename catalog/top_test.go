package catalog

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// deliveryDef is taobao.topats.delivery.send: three parallel lists.
func deliveryDef() Definition {
	return Definition{
		Code: "demo_delivery_send", Name: "Send", AppID: "demo", FormID: "demo_delivery", ServiceName: "send",
		TopMethod: "taobao.topats.delivery.send",
		TopLists:  []TopList{{Param: "tids", Field: "tid"}, {Param: "company_codes", Field: "company_code"}, {Param: "out_sids", Field: "out_sid"}},
		Params: []Param{
			{Name: "tid", Type: TypeInteger, Required: true},
			{Name: "company_code", Type: TypeString, Required: true, MaxLength: 8},
			{Name: "out_sid", Type: TypeString, Required: true},
			{Name: "memo", Type: TypeString},
		},
		Batch:   Batch{ItemsPath: "data", MaxItems: 3},
		Handler: HandlerSpec{Type: HandlerBuiltin, Builtin: "echo"},
	}.WithDefaults()
}

func TestParseTopSplitsParallelLists(t *testing.T) {
	t.Parallel()
	pr, err := deliveryDef().ParseTop(map[string]string{
		"tids": "11, 12,13", "company_codes": "SF,YTO,ZTO", "out_sids": "a1,b2,c3", "memo": "x",
	})
	require.NoError(t, err)
	require.Len(t, pr.Items, 3)
	want := []string{
		`{"company_code":"SF","memo":"x","out_sid":"a1","tid":11}`,
		`{"company_code":"YTO","memo":"x","out_sid":"b2","tid":12}`,
		`{"company_code":"ZTO","memo":"x","out_sid":"c3","tid":13}`,
	}
	for i, it := range pr.Items {
		require.JSONEq(t, want[i], string(it))
		require.True(t, json.Valid(it))
	}
	require.JSONEq(t, `{"memo":"x"}`, string(pr.Header))
}

func TestParseTopWithoutListsIsOneItem(t *testing.T) {
	t.Parallel()
	d := deliveryDef()
	d.TopLists = nil
	pr, err := d.ParseTop(map[string]string{"tid": "5", "company_code": "SF", "out_sid": "z"})
	require.NoError(t, err)
	require.Len(t, pr.Items, 1)
	require.JSONEq(t, `{"company_code":"SF","out_sid":"z","tid":5}`, string(pr.Items[0]))
}

func TestParseTopErrorsNameTheParameter(t *testing.T) {
	t.Parallel()
	ok := map[string]string{"tids": "1,2", "company_codes": "SF,SF", "out_sids": "a,b"}
	tests := []struct {
		name    string
		change  func(p map[string]string)
		field   string
		missing bool
		reason  string
	}{
		{"missing list", func(p map[string]string) { delete(p, "tids") }, "tids", true, "is required"},
		{"blank list", func(p map[string]string) { p["tids"] = " " }, "tids", true, "is required"},
		{"empty value", func(p map[string]string) { p["tids"] = "1,,2" }, "tids[1]", false, "is empty"},
		{"too many", func(p map[string]string) {
			p["tids"], p["company_codes"], p["out_sids"] = "1,2,3,4", "a,b,c,d", "a,b,c,d"
		}, "tids", false, "at most 3 values (got 4)"},
		{"unequal lists", func(p map[string]string) { p["out_sids"] = "a" }, "out_sids", false, "as many values as tids (2, got 1)"},
		{"non-numeric", func(p map[string]string) { p["tids"] = "1,abc" }, "tids[1]", false, "integer"},
		{"too long", func(p map[string]string) { p["company_codes"] = "SF,ABCDEFGHIJ" }, "company_codes[1]", false, "at most 8"},
		{"field sent directly", func(p map[string]string) { p["tid"] = "9" }, "tid", false, "is set from tids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := map[string]string{}
			for k, v := range ok {
				p[k] = v
			}
			tt.change(p)
			_, err := deliveryDef().ParseTop(p)
			fe := fieldErr(t, err)
			require.Equal(t, tt.field, fe.Field)
			require.Equal(t, tt.missing, fe.Missing())
			require.True(t, strings.Contains(fe.Reason, tt.reason), "reason %q", fe.Reason)
		})
	}
}

func TestValidateTopLists(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(d *Definition)
		field  string
	}{
		{"no method", func(d *Definition) { d.TopMethod = "" }, "top_lists"},
		{"no param", func(d *Definition) { d.TopLists[1].Param = "" }, "top_lists[1].param"},
		{"undeclared field", func(d *Definition) { d.TopLists[0].Field = "nope" }, "top_lists[0].field"},
		{"duplicate param", func(d *Definition) { d.TopLists[2].Param = "tids" }, "top_lists[2].param"},
		{"duplicate field", func(d *Definition) { d.TopLists[2].Field = "tid" }, "top_lists[2].field"},
		{"param clashes", func(d *Definition) { d.TopLists[0].Param = "memo" }, "top_lists[0].param"},
	}
	require.NoError(t, deliveryDef().Validate())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := deliveryDef()
			d.TopLists = append([]TopList(nil), d.TopLists...)
			tt.change(&d)
			fe := fieldErr(t, d.Validate())
			require.Equal(t, tt.field, fe.Field, fe.Error())
		})
	}
}
