package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// voucherDef is a batch-save API with entry rows, a default and an enum.
func voucherDef() Definition {
	return Definition{
		Code: "gl.voucher.batchSave", Name: "Save vouchers", AppID: "gl", FormID: "gl_voucher", ServiceName: "batchSave",
		Options: Options{RejectUnknownParams: true},
		Params: []Param{
			{Name: "billno", Type: TypeString, Required: true, MaxLength: 5},
			{Name: "amount", Type: TypeNumber, Required: true},
			{Name: "currency", Type: TypeString, Default: "CNY", Enum: []string{"CNY", "USD"}},
			{Name: "entries", Type: TypeArray},
			{Name: "account", Type: TypeString, Level: 2, Parent: "entries", Required: true},
			{Name: "qty", Type: TypeInteger, Level: 2, Parent: "entries", Default: 1},
		},
		Batch:   Batch{ItemsPath: "data", MaxItems: 3},
		Handler: HandlerSpec{Type: HandlerBuiltin, Builtin: "echo"},
	}.WithDefaults()
}

// typesDef declares one optional parameter of every type.
func typesDef() Definition {
	return Definition{
		Params: []Param{
			{Name: "s", Type: TypeString},
			{Name: "i", Type: TypeInteger, Enum: []string{"1", "2", "12345"}},
			{Name: "big", Type: TypeInteger},
			{Name: "n", Type: TypeNumber},
			{Name: "b", Type: TypeBoolean},
			{Name: "d", Type: TypeDate},
			{Name: "dt", Type: TypeDatetime},
			{Name: "a", Type: TypeArray},
			{Name: "o", Type: TypeObject},
		},
		Batch: Batch{ItemsPath: "data"},
	}.WithDefaults()
}

func fieldErr(t *testing.T, err error) *FieldError {
	t.Helper()
	require.Error(t, err)
	var fe *FieldError
	require.True(t, errors.As(err, &fe), "want *FieldError, got %T: %v", err, err)
	return fe
}

func TestParseBodyValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		def        Definition
		body       string
		wantHeader string
		wantItems  []string
	}{
		{
			name:       "batch with header and defaults appended",
			def:        voucherDef(),
			body:       `{"data":[{"billno":"A1","amount":12.5},{"amount":3,"billno":"A2","currency":"USD"}], "other":"x"}`,
			wantHeader: `{"other":"x"}`,
			wantItems:  []string{`{"billno":"A1","amount":12.5,"currency":"CNY"}`, `{"amount":3,"billno":"A2","currency":"USD"}`},
		},
		{
			name:       "entry rows get their defaults",
			def:        voucherDef(),
			body:       `{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1001"},{"qty":2.0,"account":"1002"}]}]}`,
			wantHeader: `{}`,
			wantItems:  []string{`{"billno":"A1","amount":1,"entries":[{"account":"1001","qty":1},{"qty":2.0,"account":"1002"}],"currency":"CNY"}`},
		},
		{
			name:       "max length counts runes",
			def:        voucherDef(),
			body:       `{"data":[{"billno":"凭证一二三","amount":1}]}`,
			wantHeader: `{}`,
			wantItems:  []string{`{"billno":"凭证一二三","amount":1,"currency":"CNY"}`},
		},
		{
			name:       "unknown fields kept when not rejected",
			def:        func() Definition { d := voucherDef(); d.Options.RejectUnknownParams = false; return d }(),
			body:       `{"data":[{"billno":"A1","amount":1,"foo":{"x":[1,2]},"entries":[{"account":"1","bar":true}]}]}`,
			wantHeader: `{}`,
			wantItems:  []string{`{"billno":"A1","amount":1,"foo":{"x":[1,2]},"entries":[{"account":"1","bar":true,"qty":1}],"currency":"CNY"}`},
		},
		{
			name:       "big numbers keep their digits",
			def:        typesDef(),
			body:       `{"data":[{"n":12345678901234567890,"big":9223372036854775807,"i":1.2345e4}]}`,
			wantHeader: `{}`,
			wantItems:  []string{`{"n":12345678901234567890,"big":9223372036854775807,"i":1.2345e4}`},
		},
		{
			name:       "every type",
			def:        typesDef(),
			body:       `{"data":[{"s":"x","i":2,"big":-9223372036854775808,"n":-1.5e-3,"b":false,"d":"2024-02-29","dt":"2024-10-01 08:00:00","a":[],"o":{}},{"dt":"2024-10-01T08:00:00+08:00","s":null}]}`,
			wantHeader: `{}`,
			wantItems: []string{
				`{"s":"x","i":2,"big":-9223372036854775808,"n":-1.5e-3,"b":false,"d":"2024-02-29","dt":"2024-10-01 08:00:00","a":[],"o":{}}`,
				`{"dt":"2024-10-01T08:00:00+08:00","s":null}`,
			},
		},
		{
			name:       "whole body is the item when items_path is empty",
			def:        func() Definition { d := voucherDef(); d.Batch.ItemsPath = ""; return d }(),
			body:       ` {"billno":"A1","amount":1} `,
			wantHeader: `{}`,
			wantItems:  []string{`{"billno":"A1","amount":1,"currency":"CNY"}`},
		},
		{
			name:       "dotted items path",
			def:        func() Definition { d := voucherDef(); d.Batch.ItemsPath = "payload.rows"; return d }(),
			body:       `{"payload":{"rows":[{"billno":"A1","amount":1}],"batch":7},"k":"v"}`,
			wantHeader: `{"payload":{"batch":7},"k":"v"}`,
			wantItems:  []string{`{"billno":"A1","amount":1,"currency":"CNY"}`},
		},
		{
			name:       "no params: items need only be objects",
			def:        Definition{Batch: Batch{ItemsPath: "data"}, Options: Options{RejectUnknownParams: true}},
			body:       `{"data":[{"anything":[1,"\u0041\n\"<>&"]}]}`,
			wantHeader: `{}`,
			wantItems:  []string{`{"anything":[1,"A\n\"<>&"]}`},
		},
		{
			name:       "max items 0 means the default 40",
			def:        Definition{Batch: Batch{ItemsPath: "data"}},
			body:       `{"data":[` + strings.Repeat(`{},`, 39) + `{}]}`,
			wantHeader: `{}`,
			wantItems:  strings.Split(strings.Repeat(`{} `, 40)[:119], " "),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.def.ParseBody([]byte(tt.body))
			require.NoError(t, err)
			require.Equal(t, tt.wantHeader, string(got.Header))
			items := make([]string, len(got.Items))
			for i, it := range got.Items {
				items[i] = string(it)
				require.True(t, json.Valid(it))
			}
			require.Equal(t, tt.wantItems, items)
		})
	}
}

func TestParseBodyErrors(t *testing.T) {
	t.Parallel()
	lax := voucherDef()
	lax.Options.RejectUnknownParams = false
	tests := []struct {
		name   string
		def    Definition
		body   string
		field  string
		reason string // exact, or a prefix when it ends with "…"
	}{
		{"empty body", voucherDef(), ``, "", "body is not a JSON object: empty input"},
		{"blank body", voucherDef(), " \n ", "", "body is not a JSON object: empty input"},
		{"null", voucherDef(), `null`, "", "body is not a JSON object: it is null"},
		{"array", voucherDef(), `[{"billno":"A1"}]`, "", "body is not a JSON object: it is an array"},
		{"string", voucherDef(), `"x"`, "", "body is not a JSON object: it is a string"},
		{"syntax error", voucherDef(), `{"data": x}`, "", "body is not a JSON object: invalid character 'x'…"},
		{"truncated", voucherDef(), `{"data":[{"billno":"A1"`, "", "body is not a JSON object: unexpected end of input…"},
		{"trailing garbage", voucherDef(), `{"data":[]} x`, "", "body is not a JSON object: unexpected data after the value at offset 12"},
		{"two objects", voucherDef(), `{}{}`, "", "body is not a JSON object: unexpected data after the value at offset 2"},
		{"trailing comma", voucherDef(), `{"data":[1,]}`, "", "body is not a JSON object: invalid character ']'…"},
		{"too deep", voucherDef(), `{"data":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`, "", "body is not a JSON object: nested more than 32 levels deep"},
		{"duplicate key", voucherDef(), `{"data":[{"billno":"A1","amount":1},{"billno":"A","billno":"B"}]}`, "data[1].billno", "appears more than once"},
		{"items missing", voucherDef(), `{"other":1}`, "data", "is required"},
		{"items null", voucherDef(), `{"data":null}`, "data", "is required"},
		{"items not array", voucherDef(), `{"data":{"billno":"A1"}}`, "data", "must be an array"},
		{"no items", voucherDef(), `{"data":[]}`, "data", "must have at least 1 item"},
		{"too many items", voucherDef(), `{"data":[{},{},{},{}]}`, "data", "must have at most 3 items (got 4)"},
		{"item not object", voucherDef(), `{"data":[{"billno":"A1","amount":1},{"billno":"A2","amount":1},7]}`, "data[2]", "must be an object"},
		{"required missing", voucherDef(), `{"data":[{"amount":1}]}`, "data[0].billno", "is required"},
		{"required null", voucherDef(), `{"data":[{"billno":null,"amount":1}]}`, "data[0].billno", "is required"},
		{"wrong type number", voucherDef(), `{"data":[{"billno":"A1","amount":1},{"billno":"A2","amount":"12"}]}`, "data[1].amount", "must be a number"},
		{"wrong type string", voucherDef(), `{"data":[{"billno":5,"amount":1}]}`, "data[0].billno", "must be a string"},
		{"too long", voucherDef(), `{"data":[{"billno":"ABCDEF","amount":1}]}`, "data[0].billno", "must be at most 5 characters (got 6)"},
		{"enum", voucherDef(), `{"data":[{"billno":"A1","amount":1,"currency":"EUR"}]}`, "data[0].currency", `must be one of "CNY", "USD"`},
		{"entries not array", voucherDef(), `{"data":[{"billno":"A1","amount":1,"entries":{}}]}`, "data[0].entries", "must be an array"},
		{"entry row not object", voucherDef(), `{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1"},"x"]}]}`, "data[0].entries[1]", "must be an object"},
		{"entry row required", voucherDef(), `{"data":[{"billno":"A1","amount":1}, {"billno":"A2","amount":1,"entries":[{"account":"1"},{"qty":1}]}]}`, "data[1].entries[1].account", "is required"},
		{"entry row integer fraction", voucherDef(), `{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1","qty":1.5}]}]}`, "data[0].entries[0].qty", "must be an integer"},
		{"entry row integer range", voucherDef(), `{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1","qty":1e30}]}]}`, "data[0].entries[0].qty", "must be an integer that fits in 64 bits"},
		{"entry row huge exponent", voucherDef(), `{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1","qty":1e999999999999999999999}]}]}`, "data[0].entries[0].qty", "must be an integer that fits in 64 bits"},
		{"entry row tiny exponent", voucherDef(), `{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1","qty":5e-999999999999999999999}]}]}`, "data[0].entries[0].qty", "must be an integer"},
		{"unknown field", voucherDef(), `{"data":[{"billno":"A1","amount":1},{"billno":"A2","amount":1,"foo":1}]}`, "data[1].foo", "is not a declared parameter"},
		{"unknown fields sorted", voucherDef(), `{"data":[{"billno":"A1","amount":1,"zeta":1,"alpha":2}]}`, "data[0].alpha", "is not a declared parameter"},
		{"unknown row field", voucherDef(), `{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1","extra":2}]}]}`, "data[0].entries[0].extra", "is not a declared parameter"},
		{"params before unknown fields", voucherDef(), `{"data":[{"foo":1,"amount":"x","billno":"A1"}]}`, "data[0].amount", "must be a number"},
		{"declaration order", voucherDef(), `{"data":[{"amount":"x"}]}`, "data[0].billno", "is required"},
		{"lax still checks types", lax, `{"data":[{"billno":"A1","amount":true,"foo":1}]}`, "data[0].amount", "must be a number"},
		{"whole-body item", func() Definition { d := voucherDef(); d.Batch.ItemsPath = ""; return d }(), `{"billno":"A1"}`, "amount", "is required"},
		{"dotted path missing", func() Definition { d := voucherDef(); d.Batch.ItemsPath = "payload.rows"; return d }(), `{"payload":{}}`, "payload.rows", "is required"},
		{"dotted path not object", func() Definition { d := voucherDef(); d.Batch.ItemsPath = "payload.rows"; return d }(), `{"payload":[]}`, "payload", "must be an object"},
		{"integer enum", typesDef(), `{"data":[{"i":3}]}`, "data[0].i", "must be one of 1, 2, 12345"},
		{"integer too big", typesDef(), `{"data":[{"big":9223372036854775808}]}`, "data[0].big", "must be an integer that fits in 64 bits"},
		{"integer string", typesDef(), `{"data":[{"big":"1"}]}`, "data[0].big", "must be an integer"},
		{"boolean", typesDef(), `{"data":[{"b":"true"}]}`, "data[0].b", "must be a boolean"},
		{"date", typesDef(), `{"data":[{"d":"2023-02-29"}]}`, "data[0].d", "must be a date (yyyy-MM-dd)"},
		{"datetime", typesDef(), `{"data":[{"dt":"2024-10-01"}]}`, "data[0].dt", "must be a datetime (yyyy-MM-dd HH:mm:ss or RFC 3339)"},
		{"array", typesDef(), `{"data":[{"a":{}}]}`, "data[0].a", "must be an array"},
		{"object", typesDef(), `{"data":[{"o":[]}]}`, "data[0].o", "must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.def.ParseBody([]byte(tt.body))
			fe := fieldErr(t, err)
			require.Equal(t, tt.field, fe.Field)
			if prefix, ok := strings.CutSuffix(tt.reason, "…"); ok {
				require.True(t, strings.HasPrefix(fe.Reason, prefix), "reason %q", fe.Reason)
			} else {
				require.Equal(t, tt.reason, fe.Reason)
			}
		})
	}
}

func TestParseBodyDoesNotMutateDefinition(t *testing.T) {
	t.Parallel()
	d := voucherDef()
	for range 2 {
		got, err := d.ParseBody([]byte(`{"data":[{"billno":"A1","amount":1},{"billno":"A2","amount":2}]}`))
		require.NoError(t, err)
		require.Equal(t, `{"billno":"A2","amount":2,"currency":"CNY"}`, string(got.Items[1]))
	}
	require.Equal(t, "CNY", d.Params[2].Default)
}

func TestParseQuery(t *testing.T) {
	t.Parallel()
	def := Definition{
		Method: "GET",
		Params: []Param{
			{Name: "tid", Type: TypeInteger, Required: true},
			{Name: "price", Type: TypeNumber},
			{Name: "paid", Type: TypeBoolean},
			{Name: "day", Type: TypeDate},
			{Name: "tags", Type: TypeArray},
			{Name: "fields", Type: TypeString, Default: "tid,status"},
			{Name: "note", Type: TypeString},
		},
	}.WithDefaults()
	strict := def
	strict.Options.RejectUnknownParams = true

	valid := []struct {
		name   string
		def    Definition
		params map[string]string
		want   string
	}{
		{"coerced", def, map[string]string{"tid": "12", "price": "9.50", "paid": "true", "day": "2024-01-31", "tags": `["a",1]`}, `{"day":"2024-01-31","paid":true,"price":9.50,"tags":["a",1],"tid":12,"fields":"tid,status"}`},
		{"empty typed value is absent", def, map[string]string{"tid": "-7", "price": "", "note": ""}, `{"note":"","tid":-7,"fields":"tid,status"}`},
		{"unknown kept as string", def, map[string]string{"tid": "1", "x": "2"}, `{"tid":1,"x":"2","fields":"tid,status"}`},
		{"boolean spellings", def, map[string]string{"tid": "1", "paid": "0"}, `{"paid":false,"tid":1,"fields":"tid,status"}`},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.def.ParseQuery(tt.params)
			require.NoError(t, err)
			require.Equal(t, `{}`, string(got.Header))
			require.Len(t, got.Items, 1)
			require.Equal(t, tt.want, string(got.Items[0]))
		})
	}

	invalid := []struct {
		name          string
		def           Definition
		params        map[string]string
		field, reason string
	}{
		{"missing", def, map[string]string{}, "tid", "is required"},
		{"empty required", def, map[string]string{"tid": ""}, "tid", "is required"},
		{"not integer", def, map[string]string{"tid": "1.5"}, "tid", "must be an integer"},
		{"integer range", def, map[string]string{"tid": "99999999999999999999"}, "tid", "must be an integer that fits in 64 bits"},
		{"not number", def, map[string]string{"tid": "1", "price": "1,5"}, "price", "must be a number"},
		{"not boolean", def, map[string]string{"tid": "1", "paid": "yes"}, "paid", "must be a boolean"},
		{"not date", def, map[string]string{"tid": "1", "day": "31.01.2024"}, "day", "must be a date (yyyy-MM-dd)"},
		{"array not JSON", def, map[string]string{"tid": "1", "tags": "a,b"}, "tags", "must be an array (as JSON text)"},
		{"array wrong JSON", def, map[string]string{"tid": "1", "tags": `{"a":1}`}, "tags", "must be an array"},
		{"unknown rejected", strict, map[string]string{"tid": "1", "x": "2"}, "x", "is not a declared parameter"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.def.ParseQuery(tt.params)
			fe := fieldErr(t, err)
			require.Equal(t, tt.field, fe.Field)
			require.Equal(t, tt.reason, fe.Reason)
		})
	}
}

func TestFieldErrorMessage(t *testing.T) {
	t.Parallel()
	require.Equal(t, "data[3].amount: must be a number", (&FieldError{Field: "data[3].amount", Reason: "must be a number"}).Error())
	require.Equal(t, "body is not a JSON object: empty input", (&FieldError{Reason: "body is not a JSON object: empty input"}).Error())
}

func TestCanonicalJSON(t *testing.T) {
	t.Parallel()
	a, err := CanonicalJSON([]byte(`{"b":1,"a":{"d":[1,{"z":1,"y":2}],"c":"x"},"n":12345678901234567890}`))
	require.NoError(t, err)
	b, err := CanonicalJSON([]byte("{ \"n\" : 12345678901234567890,\n \"a\": {\"c\":\"\\u0078\", \"d\":[1, {\"y\":2,\"z\":1}]}, \"b\":1 }"))
	require.NoError(t, err)
	require.Equal(t, `{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1,"n":12345678901234567890}`, string(a))
	require.Equal(t, string(a), string(b))

	// Literal numbers are kept: 1.0 and 1 are different bodies.
	c, err := CanonicalJSON([]byte(`{"x":1.0}`))
	require.NoError(t, err)
	require.Equal(t, `{"x":1.0}`, string(c))
	// Array order matters.
	d, err := CanonicalJSON([]byte(`[2,1]`))
	require.NoError(t, err)
	require.Equal(t, `[2,1]`, string(d))

	for _, bad := range []string{``, `{`, `{"a":1,"a":2}`, `{} {}`, `[` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 41)} {
		_, err := CanonicalJSON([]byte(bad))
		fieldErr(t, err)
	}
}

func TestIntFromLiteral(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lit  string
		want int64
		res  intResult
	}{
		{"0", 0, intOK}, {"-0", 0, intOK}, {"0.000e5", 0, intOK}, {"12", 12, intOK}, {"12.0", 12, intOK},
		{"1.2e1", 12, intOK}, {"1200e-2", 12, intOK}, {"-9223372036854775808", -1 << 63, intOK},
		{"9223372036854775807", 1<<63 - 1, intOK}, {"9223372036854775808", 0, intOutOfRange},
		{"-9223372036854775809", 0, intOutOfRange}, {"1.5", 0, intNotIntegral}, {"1e-1", 0, intNotIntegral},
		{"1e19", 0, intOutOfRange}, {"100000000000000000000e-2", 1000000000000000000, intOK},
	}
	for _, tt := range tests {
		n, res := intFromLiteral(tt.lit)
		require.Equal(t, tt.res, res, tt.lit)
		require.Equal(t, tt.want, n, tt.lit)
	}
}

func TestIsJSONNumber(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0", "-0", "1", "-12.50", "1e5", "1E+5", "0.5e-3"} {
		require.True(t, isJSONNumber(s), s)
		require.True(t, json.Valid([]byte(s)), s)
	}
	for _, s := range []string{"", "-", "01", "+1", ".5", "1.", "1e", "1e+", "0x1", "NaN", "1 ", "١"} {
		require.False(t, isJSONNumber(s), s)
	}
}

// requireObject asserts raw is one JSON object (numbers of any size allowed).
func requireObject(t *testing.T, raw []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "%s", raw)
	require.NotNil(t, m, "%s", raw)
	require.False(t, dec.More(), "%s", raw)
}

func FuzzParseBody(f *testing.F) {
	for _, s := range []string{
		`{"data":[{"billno":"A1","amount":12.5}],"other":"x"}`,
		`{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1001","qty":2}]}]}`,
		`{"data":[{"billno":"A1","amount":1,"foo":1}]}`,
		`{"data":[{},{},{},{}]}`,
		`{"data":[{"billno":"ABCDEF","amount":1e400}]}`,
		`{"data":[{"billno":"A","billno":"B"}]}`,
		`{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1","qty":1e99999999999999999999}]}]}`,
		`{"data":[1,]}`,
		`[]`, `null`, ``, `{} x`, "{\"data\":[{\"billno\":\"\xff\",\"amount\":-0.0}]}",
	} {
		f.Add([]byte(s))
	}
	def := voucherDef()
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := def.ParseBody(body)
		if err != nil {
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%T", err)
		} else {
			require.GreaterOrEqual(t, len(got.Items), 1)
			require.LessOrEqual(t, len(got.Items), def.Batch.MaxItems)
			requireObject(t, got.Header)
			for _, it := range got.Items {
				requireObject(t, it)
			}
			// Validated items validate again, unchanged.
			parts := make([]string, len(got.Items))
			for i, it := range got.Items {
				parts[i] = string(it)
			}
			again, err := def.ParseBody([]byte(`{"data":[` + strings.Join(parts, ",") + `]}`))
			require.NoError(t, err)
			require.Equal(t, got.Items, again.Items)
		}

		// The tree parser agrees with encoding/json on what is JSON, and
		// canonical encoding is stable.
		c, cerr := CanonicalJSON(body)
		if cerr == nil {
			require.True(t, json.Valid(body))
			require.True(t, json.Valid(c), "%s", c)
			c2, err := CanonicalJSON(c)
			require.NoError(t, err)
			require.Equal(t, c, c2)
		} else if json.Valid(body) {
			require.True(t, strings.Contains(cerr.Error(), "appears more than once") || strings.Contains(cerr.Error(), "levels deep"), cerr.Error())
		}
	})
}
