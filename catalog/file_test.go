package catalog

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// validDef is a definition every Validate case starts from.
func validDef() Definition {
	return Definition{
		Code: "gl.voucher.batchSave", Name: "Save vouchers", Method: "POST", ISV: "kingdee",
		AppID: "gl", FormID: "gl_voucher", ServiceName: "batchSave", Status: StatusPublished,
		TopMethod:      "taobao.topats.voucher.save",
		WebService:     &WebService{Namespace: "http://example.com/gl", InputParam: "in", OutputParam: "out", WSDLMethod: "batchSave"},
		RequestHeaders: []Header{{Name: "X-Tenant", Required: true}},
		Params: []Param{
			{Name: "billno", Type: TypeString, Required: true, MaxLength: 40, Enum: []string{"A", "B"}, Default: "A"},
			{Name: "qty", Type: TypeInteger, Enum: []string{"1", "2"}, Default: 2},
			{Name: "entries", Type: TypeArray},
			{Name: "account", Type: TypeString, Level: 2, Parent: "entries"},
			{Name: "billno", Type: TypeString, Level: 2, Parent: "entries"}, // same name, other level: fine
		},
		ReturnParams: []ReturnParam{{Name: "phone", Type: TypeString, Mask: "phone"}, {Name: "acct", Type: TypeString, Mask: "keep_last:4"}},
		ErrorCodes:   []ErrorCode{{Code: "GL001", Message: "closed"}},
		Batch:        Batch{ItemsPath: "data", MaxItems: 100, Retry: RetryPolicy{MaxAttempts: 3, BackoffCoefficient: 1.5}},
		Handler:      HandlerSpec{Type: HandlerHTTP, HTTP: &HTTPForward{URL: "https://erp.example.com/v", Method: "put", BusinessStatuses: []int{400, 422}}},
	}
}

func TestDefinitionValidateValid(t *testing.T) {
	t.Parallel()
	require.NoError(t, validDef().Validate())
	require.NoError(t, validDef().WithDefaults().Validate())
	minimal := Definition{Code: "x", Name: "X", AppID: "a", FormID: "f", ServiceName: "s", Handler: HandlerSpec{Type: HandlerScript, Script: "return item"}}
	require.NoError(t, minimal.Validate())
	require.NoError(t, minimal.WithDefaults().Validate())
}

func TestDefinitionValidateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(d *Definition)
		field  string
		reason string // substring
	}{
		{"code empty", func(d *Definition) { d.Code = "" }, "code", "is required"},
		{"code digit first", func(d *Definition) { d.Code = "1abc" }, "code", "must start with a letter"},
		{"code too long", func(d *Definition) { d.Code = "a" + strings.Repeat("b", 64) }, "code", "at most 64"},
		{"code slash", func(d *Definition) { d.Code = "a/b" }, "code", "must start"},
		{"name", func(d *Definition) { d.Name = " " }, "name", "is required"},
		{"method", func(d *Definition) { d.Method = "PUT" }, "method", "must be GET or POST"},
		{"app_id empty", func(d *Definition) { d.AppID = "" }, "app_id", "is required"},
		{"form_id segment", func(d *Definition) { d.FormID = "a/b" }, "form_id", "URL segment"},
		{"service_name segment", func(d *Definition) { d.ServiceName = "batch save" }, "service_name", "URL segment"},
		{"isv segment", func(d *Definition) { d.ISV = "k?d" }, "isv", "URL segment"},
		{"status", func(d *Definition) { d.Status = "live" }, "status", "must be one of"},
		{"top method", func(d *Definition) { d.TopMethod = "Taobao.trades" }, "top_method", "TOP method"},
		{"top method one segment", func(d *Definition) { d.TopMethod = "taobao" }, "top_method", "TOP method"},
		{"dedup window", func(d *Definition) { d.Options.DedupWindow = Duration(25 * time.Hour) }, "options.dedup_window", "at most 24h"},
		{"webservice namespace", func(d *Definition) { d.WebService.Namespace = "" }, "webservice.namespace", "is required"},
		{"webservice ncname", func(d *Definition) { d.WebService.InputParam = "1in" }, "webservice.input_param", "XML name"},
		{"webservice colon", func(d *Definition) { d.WebService.WSDLMethod = "ns:save" }, "webservice.wsdl_method", "XML name"},
		{"webservice empty output", func(d *Definition) { d.WebService.OutputParam = "" }, "webservice.output_param", "is required"},
		{"header empty", func(d *Definition) { d.RequestHeaders = append(d.RequestHeaders, Header{}) }, "request_headers[1].name", "is required"},
		{"header implicit", func(d *Definition) { d.RequestHeaders = append(d.RequestHeaders, Header{Name: "Access_Token"}) }, "request_headers[1].name", "implicit"},
		{"header content-type", func(d *Definition) { d.RequestHeaders = append(d.RequestHeaders, Header{Name: "Content-Type"}) }, "request_headers[1].name", "implicit"},
		{"header duplicate", func(d *Definition) { d.RequestHeaders = append(d.RequestHeaders, Header{Name: "x-tenant"}) }, "request_headers[1].name", "duplicate of request_headers[0]"},
		{"header token", func(d *Definition) { d.RequestHeaders[0].Name = "X Tenant" }, "request_headers[0].name", "HTTP header name"},
		{"param name", func(d *Definition) { d.Params[1].Name = "" }, "params[1].name", "is required"},
		{"param type unknown", func(d *Definition) { d.Params[2].Type = "strng" }, "params[2].type", `unknown type "strng"`},
		{"param type empty", func(d *Definition) { d.Params[2].Type = "" }, "params[2].type", "is required"},
		{"param duplicate", func(d *Definition) { d.Params = append(d.Params, Param{Name: "qty", Type: TypeNumber, Level: 1}) }, "params[5].name", "duplicate of params[1]"},
		{"param duplicate row", func(d *Definition) {
			d.Params = append(d.Params, Param{Name: "account", Type: TypeString, Level: 2, Parent: "entries"})
		}, "params[5].name", "duplicate of params[3]"},
		{"param level", func(d *Definition) { d.Params[0].Level = 3 }, "params[0].level", "must be 1 or 2"},
		{"level-1 with parent", func(d *Definition) { d.Params[0].Parent = "entries" }, "params[0].parent", "must be empty"},
		{"level-2 without parent", func(d *Definition) { d.Params[3].Parent = "" }, "params[3].parent", "is required"},
		{"level-2 parent unknown", func(d *Definition) { d.Params[3].Parent = "rows" }, "params[3].parent", "level-1 parameter of type array"},
		{"level-2 parent not array", func(d *Definition) { d.Params[3].Parent = "qty" }, "params[3].parent", "level-1 parameter of type array"},
		{"max length", func(d *Definition) { d.Params[0].MaxLength = -1 }, "params[0].max_length", "must not be negative"},
		{"enum on boolean", func(d *Definition) { d.Params[2].Enum = []string{"x"} }, "params[2].enum", "only allowed for string and integer"},
		{"enum integer", func(d *Definition) { d.Params[1].Enum = []string{"1", "two"} }, "params[1].enum[1]", "must be an integer"},
		{"default type", func(d *Definition) { d.Params[1].Default = "2" }, "params[1].default", "must be an integer"},
		{"default fraction", func(d *Definition) { d.Params[1].Default = 1.5 }, "params[1].default", "must be an integer"},
		{"default enum", func(d *Definition) { d.Params[0].Default = "C" }, "params[0].default", "must be one of"},
		{"default array", func(d *Definition) { d.Params[2].Default = map[string]any{"a": 1} }, "params[2].default", "must be an array"},
		{"default not JSON", func(d *Definition) { d.Params[2].Default = math.NaN() }, "params[2].default", "cannot be encoded as JSON"},
		{"param control key", func(d *Definition) { d.ParamControls = []ParamControl{{Value: "x"}} }, "param_controls[0].key", "is required"},
		{"return type", func(d *Definition) { d.ReturnParams[1].Type = "text" }, "return_params[1].type", "unknown type"},
		{"return name", func(d *Definition) { d.ReturnParams[0].Name = "" }, "return_params[0].name", "is required"},
		{"mask unknown", func(d *Definition) { d.ReturnParams[0].Mask = "secret" }, "return_params[0].mask", "unknown mask"},
		{"mask keep zero", func(d *Definition) { d.ReturnParams[1].Mask = "keep_last:0" }, "return_params[1].mask", "unknown mask"},
		{"mask keep text", func(d *Definition) { d.ReturnParams[1].Mask = "keep_first:x" }, "return_params[1].mask", "unknown mask"},
		{"error code empty", func(d *Definition) { d.ErrorCodes = append(d.ErrorCodes, ErrorCode{}) }, "error_codes[1].code", "is required"},
		{"error code duplicate", func(d *Definition) { d.ErrorCodes = append(d.ErrorCodes, ErrorCode{Code: "GL001"}) }, "error_codes[1].code", "duplicate of error_codes[0]"},
		{"max items", func(d *Definition) { d.Batch.MaxItems = 100001 }, "batch.max_items", "between 0 and 100000"},
		{"max items negative", func(d *Definition) { d.Batch.MaxItems = -1 }, "batch.max_items", "between 0 and 100000"},
		{"concurrency", func(d *Definition) { d.Batch.Concurrency = 1001 }, "batch.concurrency", "between 0 and 1000"},
		{"item timeout", func(d *Definition) { d.Batch.ItemTimeout = Duration(25 * time.Hour) }, "batch.item_timeout", "at most 24h"},
		{"max attempts", func(d *Definition) { d.Batch.Retry.MaxAttempts = 101 }, "batch.retry.max_attempts", "between 0 and 100"},
		{"backoff", func(d *Definition) { d.Batch.Retry.BackoffCoefficient = 0.5 }, "batch.retry.backoff_coefficient", "must be 0"},
		{"backoff NaN", func(d *Definition) { d.Batch.Retry.BackoffCoefficient = math.NaN() }, "batch.retry.backoff_coefficient", "must be 0"},
		{"max interval below initial", func(d *Definition) { d.Batch.Retry.InitialInterval = Duration(time.Minute) }, "batch.retry.max_interval", "initial_interval"},
		{"handler type empty", func(d *Definition) { d.Handler = HandlerSpec{} }, "handler.type", "is required"},
		{"handler type unknown", func(d *Definition) { d.Handler.Type = "lambda" }, "handler.type", `unknown handler type "lambda"`},
		{"builtin name", func(d *Definition) { d.Handler = HandlerSpec{Type: HandlerBuiltin} }, "handler.builtin", "is required"},
		{"script text", func(d *Definition) { d.Handler = HandlerSpec{Type: HandlerScript, Script: " "} }, "handler.script", "is required"},
		{"http missing", func(d *Definition) { d.Handler.HTTP = nil }, "handler.http", "is required"},
		{"http url relative", func(d *Definition) { d.Handler.HTTP.URL = "/v1/x" }, "handler.http.url", "absolute http or https"},
		{"http url scheme", func(d *Definition) { d.Handler.HTTP.URL = "ftp://x/y" }, "handler.http.url", "absolute http or https"},
		{"http method", func(d *Definition) { d.Handler.HTTP.Method = "TRACE" }, "handler.http.method", "must be GET, POST"},
		{"http business status", func(d *Definition) { d.Handler.HTTP.BusinessStatuses = []int{400, 302} }, "handler.http.business_statuses[1]", "between 400 and 599"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := validDef()
			// Deep-copy what the mutations touch through pointers.
			ws, h := *d.WebService, *d.Handler.HTTP
			d.WebService, d.Handler.HTTP = &ws, &h
			tt.mutate(&d)
			fe := fieldErr(t, d.Validate())
			require.Equal(t, tt.field, fe.Field, fe.Error())
			require.Contains(t, fe.Reason, tt.reason)
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	f, err := LoadFile(filepath.Join("testdata", "catalog.yaml"))
	require.NoError(t, err)
	require.Len(t, f.Apps, 1)
	require.Equal(t, "demo-app", f.Apps[0].AppKey)
	require.Equal(t, NotifyTOP, f.Apps[0].NotifyFormat)
	require.True(t, f.Apps[0].Granted("anything"))
	require.Len(t, f.APIs, 2)

	save := f.APIs[0]
	require.Equal(t, "POST", save.Method) // WithDefaults upper-cased it
	require.Equal(t, "/kapi/v2/kingdee/gl/gl_voucher/batchSave", save.Path())
	require.Equal(t, 20*time.Second, save.Batch.ItemTimeout.D())
	require.Equal(t, time.Minute, save.Batch.Retry.MaxInterval.D())
	require.Equal(t, DefaultDedupWindow, save.Options.DedupWindow.D())
	require.Equal(t, DefaultHTTPTimeout/2, save.Handler.HTTP.Timeout.D())
	require.Equal(t, 2, save.Params[4].Level)
	require.Equal(t, "account", save.Params[4].Property)

	// The loaded definition drives the request validator.
	got, err := save.ParseBody([]byte(`{"data":[{"billno":"A1","amount":1,"entries":[{"account":"1001"}]}]}`))
	require.NoError(t, err)
	require.Equal(t, `{"billno":"A1","amount":1,"entries":[{"account":"1001","qty":1}],"currency":"CNY"}`, string(got.Items[0]))

	get := f.APIs[1]
	require.Equal(t, "/kapi/v2/trade/trade_info/fullinfo", get.Path())
	q, err := get.ParseQuery(map[string]string{"tid": "42"})
	require.NoError(t, err)
	require.Equal(t, `{"tid":42,"fields":"tid,status"}`, string(q.Items[0]))

	j, err := LoadFile(filepath.Join("testdata", "catalog.json"))
	require.NoError(t, err)
	require.Equal(t, 15*time.Second, j.APIs[0].Batch.ItemTimeout.D())
	require.NoError(t, j.APIs[0].Validate())
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	_, err := LoadFile(filepath.Join("testdata", "bad_type.yaml"))
	require.EqualError(t, err, `apis[1].params[0].type: unknown type "strng"`)

	_, err = LoadFile(filepath.Join("testdata", "bad_unknown_key.yaml"))
	require.EqualError(t, err, `apis[0].params[0].requird: is not a known field`)

	_, err = LoadFile(filepath.Join("testdata", "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)

	_, err = LoadFile("catalog.toml")
	require.ErrorContains(t, err, "unsupported file extension")
}

func TestParseFileErrors(t *testing.T) {
	t.Parallel()
	const api = `{code: a.one, name: One, app_id: app, form_id: form, service_name: one, handler: {type: builtin, builtin: echo}}`
	const api2 = `{code: a.two, name: Two, app_id: app, form_id: form, service_name: two, handler: {type: builtin, builtin: echo}}`
	const app = `{app_key: k1, secret: "12345678"}`
	tests := []struct {
		name, format, data, want string
	}{
		{"empty", "yaml", ``, "the file is empty"},
		{"not a mapping", "yaml", `- 1`, "the document must be an object with apps and apis"},
		{"yaml syntax", "yaml", "apis: [", "invalid YAML: …"},
		{"unknown top key", "yaml", "apis: []\nextra: 1", "extra: is not a known field"},
		{"unknown nested key", "yaml", "apis:\n- " + api + "\n- {code: x, batch: {max_item: 3}}", "apis[1].batch.max_item: is not a known field"},
		{"wrong scalar type", "yaml", "apis:\n- {code: x, batch: {max_items: many}}", "apis[0].batch.max_items: must be an integer"},
		{"wrong duration", "yaml", "apis:\n- {code: x, batch: {item_timeout: soon}}", `apis[0].batch.item_timeout: invalid duration "soon"`},
		{"list expected", "yaml", "apis:\n- {code: x, params: {name: a}}", "apis[0].params: must be a list"},
		{"invalid definition", "yaml", "apis:\n- " + api + "\n- {code: a.two, name: Two, app_id: app, form_id: form, service_name: two, handler: {type: http}}", "apis[1].handler.http: is required for an http handler"},
		{"duplicate code", "yaml", "apis:\n- " + api + "\n- " + api2 + "\n- " + strings.Replace(api2, "service_name: two", "service_name: three", 1), "apis[2].code: duplicate of apis[1]"},
		{"duplicate path", "yaml", "apis:\n- " + api + "\n- " + strings.Replace(api, "code: a.one", "code: a.other", 1), "apis[1]: path /kapi/v2/app/form/one is also used by apis[0]"},
		{"duplicate top method", "yaml", "apis:\n- " + strings.Replace(api, "name: One", "name: One, top_method: taobao.x.get", 1) + "\n- " + strings.Replace(api2, "name: Two", "name: Two, top_method: taobao.x.get", 1), "apis[1].top_method: duplicate of apis[0]"},
		{"duplicate app key", "yaml", "apps:\n- " + app + "\n- " + app, "apps[1].app_key: duplicate of apps[0]"},
		{"app key", "yaml", "apps:\n- {app_key: 'a b', secret: 12345678}", "apps[0].app_key: must be 1 to 64 letters, digits, '_', '.' or '-'"},
		{"app secret short", "yaml", "apps:\n- {app_key: k, secret: short}", "apps[0].secret: must be at least 8 characters"},
		{"app notify format", "yaml", "apps:\n- {app_key: k, secret: 12345678, notify_format: xml}", "apps[0].notify_format: must be top or webhook"},
		{"app notify url", "yaml", "apps:\n- {app_key: k, secret: 12345678, notify_url: 'isv.example.com/cb'}", "apps[0].notify_url: must be an absolute http or https URL"},
		{"two documents", "yaml", "apis: []\n---\napis: []", "invalid YAML: the file must hold exactly one document"},
		{"json unknown key", "json", `{"apis":[{"code":"x","bogus":1}]}`, "apis[0].bogus: is not a known field"},
		{"json case-sensitive keys", "json", `{"APIS":[]}`, "APIS: is not a known field"},
		{"json duplicate key", "json", `{"apps":[{"app_key":"a","app_key":"b"}]}`, "apps[0].app_key: appears more than once"},
		{"json wrong type", "json", `{"apis":[{"code":"x","params":[{"name":"a","required":"yes"}]}]}`, "apis[0].params[0].required: must be a boolean"},
		{"json syntax", "json", `{"apis":[}`, "invalid JSON: invalid character '}'…"},
		{"json not object", "json", `[]`, "the document must be an object with apps and apis"},
		{"format", "toml", ``, `unsupported catalog file format "toml" (use yaml or json)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseFile([]byte(tt.data), tt.format)
			require.Error(t, err)
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok {
				require.True(t, strings.HasPrefix(err.Error(), prefix), err.Error())
			} else {
				require.EqualError(t, err, tt.want)
			}
		})
	}
}

func TestParseFileYAMLMergeKeys(t *testing.T) {
	t.Parallel()
	data := `
base: &base
apis:
  - &one {code: a.one, name: One, app_id: app, form_id: form, service_name: one, handler: {type: builtin, builtin: echo}}
  - <<: *one
    code: a.two
    service_name: two
`
	_, err := ParseFile([]byte(data), "yaml")
	require.EqualError(t, err, "base: is not a known field")

	f, err := ParseFile([]byte(strings.Replace(data, "base: &base\n", "", 1)), "yaml")
	require.NoError(t, err)
	require.Equal(t, "/kapi/v2/app/form/two", f.APIs[1].Path())
}
