package catalog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMaskValue(t *testing.T) {
	t.Parallel()
	tests := []struct{ rule, in, want string }{
		{"phone", "13812345678", "138****5678"},
		{"phone", "12345", "1***5"},
		{"id_card", "110101199003071234", "110101********1234"},
		{"bank_card", "6222020012345678", "************5678"},
		{"email", "alice@example.com", "a****@example.com"},
		{"email", "ab@x.cn", "a****@x.cn"},
		{"email", "no-at-sign", "**********"},
		{"name", "张三丰", "张**"},
		{"name", "张三", "张*"},
		{"name", "张", "*"},
		{"keep_first:2", "abcdef", "ab****"},
		{"keep_last:3", "abcdef", "***def"},
		{"keep_last:9", "abc", "**c"},
		{"nonsense", "secret", "******"},
		{"phone", "", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, MaskValue(tt.rule, tt.in), "%s(%q)", tt.rule, tt.in)
	}
}

func TestMaskResult(t *testing.T) {
	t.Parallel()
	d := Definition{
		Options: Options{Masking: true},
		ReturnParams: []ReturnParam{
			{Name: "phone", Mask: "phone"},
			{Name: "trade.buyer.name", Mask: "name"},
			{Name: "cards", Mask: "bank_card"},
			{Name: "mobile", Mask: "phone"},
			{Name: "missing", Mask: "phone"},
			{Name: "id"},
		},
	}
	in := `{"id":7,"phone":"13812345678","trade":{"buyer":{"name":"李四","age":30}},"cards":["6222020012345678",6222020099998888],"mobile":13912345678,"note":"keep"}`
	got := string(d.MaskResult([]byte(in)))
	require.Equal(t, `{"id":7,"phone":"138****5678","trade":{"buyer":{"name":"李*","age":30}},"cards":["************5678","************8888"],"mobile":"139****5678","note":"keep"}`, got)

	d.Options.Masking = false
	require.Equal(t, in, string(d.MaskResult([]byte(in))), "masking off: untouched")
	d.Options.Masking = true
	require.Equal(t, "not json", string(d.MaskResult([]byte("not json"))))
	rows := `[{"phone":"13812345678"},{"phone":"13900000000"}]`
	require.Equal(t, `[{"phone":"138****5678"},{"phone":"139****0000"}]`, string(d.MaskResult([]byte(rows))))
}

func TestBusinessErrorKeepsToDeclaredCodes(t *testing.T) {
	t.Parallel()
	d := Definition{Code: "x", ErrorCodes: []ErrorCode{{Code: "demo.negative_amount", Message: "negative"}}}
	tests := []struct{ code, wantCode, wantMsg string }{
		{"demo.negative_amount", "demo.negative_amount", "m"},
		{"asyncgate.item_timeout", "asyncgate.item_timeout", "m"},
		{"demo.other", UndeclaredErrorCode, "demo.other: m (not an error code API x declares)"},
	}
	for _, tt := range tests {
		code, msg := d.BusinessError(tt.code, "m")
		require.Equal(t, tt.wantCode, code)
		require.Equal(t, tt.wantMsg, msg)
	}
	code, msg := Definition{}.BusinessError("any.code", "m")
	require.Equal(t, "any.code", code, "no declared codes: anything goes")
	require.Equal(t, "m", msg)
}
