package openapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/demo"
)

// Paths of the fixtures.
const (
	orderPath  = "/kapi/v2/sales/order/batchSave"
	stockPath  = "/kapi/v2/acme/inv/stock/query"
	legacyPath = "/kapi/v2/sales/legacy/sync"
	nestedPath = "/kapi/v2/sales/nested/save"
)

// fixtures covers every shape the generator tells apart: a POST batch with
// all parameter types, level-2 rows, headers, masked results and business
// errors; a GET API under an isv segment; a maintenance one-item API
// returning bare data; a dotted items path; and two hidden statuses.
func fixtures() []catalog.Definition {
	defs := []catalog.Definition{
		{
			Code: "order_save", Name: "Save orders", Method: "POST", AppID: "sales", FormID: "order", ServiceName: "batchSave",
			Group: "sales", Status: catalog.StatusPublished, Description: "Saves orders <fast> & safely.",
			RequestHeaders: []catalog.Header{
				{Name: "X-Tenant", Required: true, Description: "Tenant id"},
				{Name: "X-Trace", Value: "on"},
			},
			Params: []catalog.Param{
				{Name: "billno", Type: catalog.TypeString, Required: true, MaxLength: 32, Description: "Order number"},
				{Name: "amount", Type: catalog.TypeNumber, Required: true, Example: 12.5},
				{Name: "currency", Type: catalog.TypeString, Default: "CNY", Enum: []string{"CNY", "USD"}},
				{Name: "channel", Type: catalog.TypeInteger, Enum: []string{"1", "2"}},
				{Name: "urgent", Type: catalog.TypeBoolean, Default: false},
				{Name: "biz_date", Type: catalog.TypeDate},
				{Name: "created", Type: catalog.TypeDatetime},
				{Name: "extra", Type: catalog.TypeObject},
				{Name: "entries", Type: catalog.TypeArray, Description: "Order lines"},
				{Name: "sku", Type: catalog.TypeString, Level: 2, Parent: "entries", Required: true, MaxLength: 16},
				{Name: "qty", Type: catalog.TypeInteger, Level: 2, Parent: "entries", Default: 1},
			},
			ReturnParams: []catalog.ReturnParam{
				{Name: "trade.tid", Type: catalog.TypeInteger}, // before its parent on purpose
				{Name: "id", Type: catalog.TypeString, Description: "Saved id"},
				{Name: "buyer_phone", Type: catalog.TypeString, Mask: "phone"},
				{Name: "trade", Type: catalog.TypeObject},
			},
			ErrorCodes: []catalog.ErrorCode{{Code: "order.bad", Message: "bad | order", Description: "line1\nline2"}},
			Options:    catalog.Options{Masking: true, RejectUnknownParams: true},
			Batch:      catalog.Batch{ItemsPath: "data", MaxItems: 20},
		},
		{
			Code: "stock_get", Name: "Stock", Method: "get", ISV: "acme", AppID: "inv", FormID: "stock", ServiceName: "query",
			Status:         catalog.StatusPublished,
			RequestHeaders: []catalog.Header{{Name: "X-Tenant", Required: true}},
			Params: []catalog.Param{
				{Name: "sku", Type: catalog.TypeString, Required: true, MaxLength: 16},
				{Name: "warehouse", Type: catalog.TypeInteger, Default: 1},
				{Name: "lines", Type: catalog.TypeArray},
				{Name: "no", Type: catalog.TypeString, Level: 2, Parent: "lines", Required: true},
				{Name: "pageSize", Type: catalog.TypeInteger, Description: "declared: wins over the control parameter"},
			},
			ReturnParams: []catalog.ReturnParam{{Name: "qty", Type: catalog.TypeInteger}},
			Options:      catalog.Options{ReturnDataOnly: true},
		},
		{
			Code: "legacy_sync", Name: "Legacy sync", AppID: "sales", FormID: "legacy", ServiceName: "sync",
			Status: catalog.StatusMaintenance, Options: catalog.Options{ReturnDataOnly: true},
			Params: []catalog.Param{{Name: "id", Type: catalog.TypeString, Required: true}},
		},
		{
			Code: "nested_save", Name: "Nested", AppID: "sales", FormID: "nested", ServiceName: "save",
			Batch: catalog.Batch{ItemsPath: "payload.rows"}, // status and max items left to defaults
		},
		{Code: "beta_api", Name: "Beta", AppID: "sales", FormID: "beta", ServiceName: "save", Status: catalog.StatusTesting},
		{Code: "gone_api", Name: "Gone", AppID: "sales", FormID: "gone", ServiceName: "save", Status: catalog.StatusDisabled},
	}
	return defs
}

// render generates the document of defs and decodes it for inspection.
func render(t *testing.T, defs []catalog.Definition) map[string]any {
	t.Helper()
	b, err := Document(Info{Title: "Test", Version: "1.2.3", ServerURL: "http://gw.example/"}, defs)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

// get walks decoded JSON by object keys and array indexes.
func get(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, k := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			v, ok = c[k]
			require.Truef(t, ok, "no %q at %v", k, path[:i])
		case []any:
			n, err := strconv.Atoi(k)
			require.NoErrorf(t, err, "array at %v", path[:i])
			require.Lessf(t, n, len(c), "index %d at %v", n, path[:i])
			v = c[n]
		default:
			t.Fatalf("%v is a %T, not a container", path[:i], v)
		}
	}
	return v
}

// param finds an operation's parameter by location and name.
func param(t *testing.T, op any, in, name string) map[string]any {
	t.Helper()
	for _, p := range get(t, op, "parameters").([]any) {
		if m := p.(map[string]any); m["in"] == in && m["name"] == name {
			return m
		}
	}
	t.Fatalf("no %s parameter %q", in, name)
	return nil
}

func TestDocumentListsOnlyPublicAPIs(t *testing.T) {
	t.Parallel()
	doc := render(t, fixtures())
	paths := get(t, doc, "paths").(map[string]any)
	tests := []struct {
		path       string
		present    bool
		deprecated bool
	}{
		{orderPath, true, false},
		{stockPath, true, false},
		{legacyPath, true, true},
		{nestedPath, true, false},
		{tokenPath, true, false},
		{"/kapi/v2/sales/beta/save", false, false},
		{"/kapi/v2/sales/gone/save", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			item, ok := paths[tc.path]
			require.Equal(t, tc.present, ok)
			if !ok {
				return
			}
			for method, op := range item.(map[string]any) {
				dep, _ := op.(map[string]any)["deprecated"].(bool)
				require.Equal(t, tc.deprecated, dep, method)
				if tc.deprecated {
					require.Contains(t, get(t, op, "description"), "under maintenance", method)
				}
			}
		})
	}
	require.Len(t, paths, 5)
}

func TestDocumentSchemas(t *testing.T) {
	t.Parallel()
	doc := render(t, fixtures())
	schemas := get(t, doc, "components", "schemas")
	item := get(t, schemas, "order_save.Item")
	orderPost := get(t, doc, "paths", orderPath, "post")
	tests := []struct {
		name string
		at   any
		path []string
		want any
	}{
		{"openapi version", doc, []string{"openapi"}, "3.1.0"},
		{"server", doc, []string{"servers", "0", "url"}, "http://gw.example"},
		{"item required", item, []string{"required"}, []any{"billno", "amount"}},
		{"item closed", item, []string{"additionalProperties"}, false},
		{"maxLength", item, []string{"properties", "billno", "maxLength"}, 32.0},
		{"description", item, []string{"properties", "billno", "description"}, "Order number"},
		{"string enum", item, []string{"properties", "currency", "enum"}, []any{"CNY", "USD"}},
		{"string default", item, []string{"properties", "currency", "default"}, "CNY"},
		{"integer enum", item, []string{"properties", "channel", "enum"}, []any{1.0, 2.0}},
		{"false default", item, []string{"properties", "urgent", "default"}, false},
		{"example", item, []string{"properties", "amount", "examples"}, []any{12.5}},
		{"date", item, []string{"properties", "biz_date", "format"}, "date"},
		{"datetime", item, []string{"properties", "created", "pattern"}, datetimePattern},
		{"object", item, []string{"properties", "extra", "type"}, "object"},
		{"rows nested", item, []string{"properties", "entries", "items", "required"}, []any{"sku"}},
		{"row maxLength", item, []string{"properties", "entries", "items", "properties", "sku", "maxLength"}, 16.0},
		{"row default", item, []string{"properties", "entries", "items", "properties", "qty", "default"}, 1.0},
		{"rows not level 1", item, []string{"properties", "sku"}, nil},
		{"maxItems", schemas, []string{"order_save.Request", "properties", "data", "maxItems"}, 20.0},
		{"minItems", schemas, []string{"order_save.Request", "properties", "data", "minItems"}, 1.0},
		{"items path required", schemas, []string{"order_save.Request", "required"}, []any{"data"}},
		{"dotted items path", schemas, []string{"nested_save.Request", "properties", "payload", "properties", "rows", "maxItems"}, 40.0},
		{"one-item body", doc, []string{"paths", legacyPath, "post", "requestBody", "content", jsonMedia, "schema", "$ref"}, "#/components/schemas/legacy_sync.Item"},
		{"body", orderPost, []string{"requestBody", "content", jsonMedia, "schema", "$ref"}, "#/components/schemas/order_save.Request"},
		{"required header", param(t, orderPost, "header", "X-Tenant"), []string{"required"}, true},
		{"header value", param(t, orderPost, "header", "X-Trace"), []string{"schema", "const"}, "on"},
		{"cancel on post", param(t, orderPost, "query", "queryOpenApiType"), []string{"schema", "enum"}, []any{"cancel"}},
		{"tag", orderPost, []string{"tags"}, []any{"sales"}},
		{"default tag", doc, []string{"paths", nestedPath, "post", "tags"}, []any{"default"}},
		{"error codes", orderPost, []string{"x-error-codes", "0", "code"}, "order.bad"},
		{"masked result", schemas, []string{"order_save.Result", "properties", "buyer_phone", "description"}, "Masked (phone)."},
		{"dotted result", schemas, []string{"order_save.Result", "properties", "trade", "properties", "tid", "type"}, "integer"},
		{"result in items", schemas, []string{"order_save.ResultData", "allOf", "1", "properties", "items", "items", "allOf", "1", "properties", "result", "$ref"}, "#/components/schemas/order_save.Result"},
		{"query result", doc, []string{"paths", orderPath, "get", "responses", "200", "content", jsonMedia, "schema", "allOf", "1", "properties", "data", "oneOf", "1", "$ref"}, "#/components/schemas/order_save.ResultData"},
		{"error response", doc, []string{"paths", orderPath, "get", "responses", "429", "$ref"}, "#/components/responses/TooManyRequests"},
		{"error envelope", doc, []string{"components", "responses", "BadRequest", "content", jsonMedia, "schema", "$ref"}, "#/components/schemas/Error"},
		{"error status", schemas, []string{"Error", "allOf", "1", "properties", "status", "const"}, false},
		{"security scheme", doc, []string{"components", "securitySchemes", "access_token", "in"}, "header"},
		{"security applied", doc, []string{"security", "0", "access_token"}, []any{}},
		{"token is public", doc, []string{"paths", tokenPath, "post", "security"}, []any{}},
		{"token request", doc, []string{"paths", tokenPath, "post", "requestBody", "content", jsonMedia, "schema", "$ref"}, "#/components/schemas/TokenRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.want == nil { // must be absent
				parent := get(t, tc.at, tc.path[:len(tc.path)-1]...).(map[string]any)
				require.NotContains(t, parent, tc.path[len(tc.path)-1])
				return
			}
			require.Equal(t, tc.want, get(t, tc.at, tc.path...))
		})
	}
	t.Run("error table", func(t *testing.T) {
		t.Parallel()
		desc := get(t, orderPost, "description").(string)
		require.Contains(t, desc, "| `order.bad` | bad \\| order | line1 line2 |")
		require.Contains(t, desc, "Saves orders <fast> & safely.")
	})
}

func TestDocumentGETAPI(t *testing.T) {
	t.Parallel()
	doc := render(t, fixtures())
	get0 := get(t, doc, "paths", stockPath, "get")
	post := get(t, doc, "paths", stockPath, "post")
	tests := []struct {
		name string
		at   any
		path []string
		want any
	}{
		{"submit operation", get0, []string{"operationId"}, "stock_get"},
		{"param schema", param(t, get0, "query", "sku"), []string{"schema", "maxLength"}, 16.0},
		{"param default", param(t, get0, "query", "warehouse"), []string{"schema", "default"}, 1.0},
		{"array as JSON", param(t, get0, "query", "lines"), []string{"content", jsonMedia, "schema", "items", "required"}, []any{"no"}},
		{"declared wins", param(t, get0, "query", "pageSize"), []string{"description"}, "declared: wins over the control parameter"},
		{"query type optional", param(t, get0, "query", "queryOpenApiType"), []string{"schema", "enum"}, []any{"checkStatus", "queryResult"}},
		{"request id", param(t, get0, "query", "openApiReqId"), []string{"schema", "pattern"}, reqIDPattern},
		{"page", param(t, get0, "query", "pageNo"), []string{"schema", "minimum"}, 1.0},
		{"header", param(t, get0, "header", "X-Tenant"), []string{"in"}, "header"},
		{"bare answers", get0, []string{"responses", "200", "content", jsonMedia, "schema", "anyOf", "0", "$ref"}, "#/components/schemas/Receipt"},
		{"result answer", get0, []string{"responses", "200", "content", jsonMedia, "schema", "anyOf", "2", "$ref"}, "#/components/schemas/stock_get.ResultData"},
		{"cancel operation", post, []string{"operationId"}, "stock_get_cancel"},
		{"cancel required", param(t, post, "query", "queryOpenApiType"), []string{"required"}, true},
		{"cancel answer", post, []string{"responses", "200", "content", jsonMedia, "schema", "$ref"}, "#/components/schemas/StatusData"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, get(t, tc.at, tc.path...))
		})
	}
	t.Run("submit-only requirements", func(t *testing.T) {
		t.Parallel()
		for _, p := range []map[string]any{param(t, get0, "query", "sku"), param(t, get0, "header", "X-Tenant"),
			param(t, get0, "query", "queryOpenApiType"), param(t, get0, "query", "openApiReqId")} {
			require.NotContains(t, p, "required", p["name"]) // polling needs none of them
		}
		require.Contains(t, param(t, get0, "query", "sku")["description"], "Required** to submit")
		require.NotContains(t, post, "requestBody")
		n := 0
		for _, p := range get(t, get0, "parameters").([]any) {
			if p.(map[string]any)["name"] == "pageSize" {
				n++
			}
		}
		require.Equal(t, 1, n, "pageSize once")
	})
}

func TestDocumentReturnDataOnly(t *testing.T) {
	t.Parallel()
	doc := render(t, fixtures())
	tests := []struct {
		name      string
		path      string
		method    string
		enveloped bool
	}{
		{"envelope", orderPath, "post", true},
		{"envelope query", orderPath, "get", true},
		{"bare submit", legacyPath, "post", false},
		{"bare query", legacyPath, "get", false},
		{"bare GET API", stockPath, "get", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := get(t, doc, "paths", tc.path, tc.method, "responses", "200", "content", jsonMedia, "schema").(map[string]any)
			if tc.enveloped {
				require.Equal(t, "#/components/schemas/Envelope", get(t, s, "allOf", "0", "$ref"))
				require.Contains(t, get(t, s, "allOf", "1", "properties", "data"), "oneOf")
				return
			}
			require.NotContains(t, s, "allOf")
			require.True(t, s["oneOf"] != nil || s["anyOf"] != nil, "a union of bare data: %v", s)
			// Errors keep the envelope whatever the option.
			require.Equal(t, "#/components/responses/BadRequest", get(t, doc, "paths", tc.path, tc.method, "responses", "400", "$ref"))
		})
	}
}

func TestDocumentIsDeterministic(t *testing.T) {
	t.Parallel()
	info := Info{Title: "T", Version: "1"}
	want, err := Document(info, fixtures())
	require.NoError(t, err)
	shuffle := func(d []catalog.Definition) []catalog.Definition {
		rand.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
		return d
	}
	tests := []struct {
		name string
		defs []catalog.Definition
	}{
		{"same input", fixtures()},
		{"reversed", func() []catalog.Definition { d := fixtures(); slices.Reverse(d); return d }()},
		{"shuffled", shuffle(fixtures())},
		{"defaults applied", func() []catalog.Definition {
			d := fixtures()
			for i := range d {
				d[i] = d[i].WithDefaults()
			}
			return d
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Document(info, tc.defs)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
		})
	}
	t.Run("paths sorted", func(t *testing.T) {
		t.Parallel()
		var top map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(want, &top))
		dec := json.NewDecoder(bytes.NewReader(top["paths"]))
		var keys []string
		_, err := dec.Token() // {
		require.NoError(t, err)
		for dec.More() {
			k, err := dec.Token()
			require.NoError(t, err)
			keys = append(keys, k.(string))
			var skip json.RawMessage
			require.NoError(t, dec.Decode(&skip))
		}
		require.True(t, slices.IsSorted(keys), "%v", keys)
		require.Len(t, keys, 5)
	})
}

// TestRefsResolve walks every $ref and resolves it as a JSON pointer into
// the document itself.
func TestRefsResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		defs func(t *testing.T) []catalog.Definition
	}{
		{"fixtures", func(*testing.T) []catalog.Definition { return fixtures() }},
		{"demo catalog", demoDefs},
		{"no APIs", func(*testing.T) []catalog.Definition { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := render(t, tc.defs(t))
			n := 0
			var walk func(v any)
			walk = func(v any) {
				switch c := v.(type) {
				case map[string]any:
					if r, ok := c["$ref"].(string); ok {
						n++
						require.True(t, strings.HasPrefix(r, "#/components/"), r)
						var path []string
						for _, seg := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
							path = append(path, strings.NewReplacer("~1", "/", "~0", "~").Replace(seg))
						}
						get(t, doc, path...)
					}
					for _, e := range c {
						walk(e)
					}
				case []any:
					for _, e := range c {
						walk(e)
					}
				}
			}
			walk(doc)
			require.Greater(t, n, 10)
		})
	}
}

func TestDocumentOperationIDsUnique(t *testing.T) {
	t.Parallel()
	defs := append(fixtures(), catalog.Definition{Code: "order_save_query", Name: "Clash", AppID: "x", FormID: "y", ServiceName: "z"},
		catalog.Definition{Code: "getToken", Name: "Clash", AppID: "x", FormID: "y", ServiceName: "t"})
	doc := render(t, defs)
	seen := map[string]string{}
	for path, item := range get(t, doc, "paths").(map[string]any) {
		for method, op := range item.(map[string]any) {
			id := get(t, op, "operationId").(string)
			require.NotContains(t, seen, id, "%s %s", method, path)
			seen[id] = method + " " + path
		}
	}
	require.Equal(t, "post "+tokenPath, seen["getToken"])
	require.Contains(t, seen, "getToken_2")
	require.Contains(t, seen, "order_save_query_2")
}

func TestDocumentInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		info           Info
		title, version string
		servers        bool
	}{
		{"defaults", Info{}, "asyncgate", "0.0.0", false},
		{"given", Info{Title: "GW", Version: "2.0", ServerURL: "https://gw.example/base/"}, "GW", "2.0", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := Document(tc.info, nil)
			require.NoError(t, err)
			var doc map[string]any
			require.NoError(t, json.Unmarshal(b, &doc))
			require.Equal(t, tc.title, get(t, doc, "info", "title"))
			require.Equal(t, tc.version, get(t, doc, "info", "version"))
			_, ok := doc["servers"]
			require.Equal(t, tc.servers, ok)
			if ok {
				require.Equal(t, "https://gw.example/base", get(t, doc, "servers", "0", "url"))
			}
		})
	}
}

func TestDocumentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		defs []catalog.Definition
		want string
	}{
		{"shared path", []catalog.Definition{
			{Code: "a", AppID: "x", FormID: "y", ServiceName: "z"},
			{Code: "b", AppID: "x", FormID: "y", ServiceName: "z"},
		}, "APIs a and b share the path /kapi/v2/x/y/z"},
		{"default not JSON", []catalog.Definition{
			{Code: "a", AppID: "x", FormID: "y", ServiceName: "z", Batch: catalog.Batch{ItemsPath: "data"},
				Params: []catalog.Param{{Name: "p", Type: catalog.TypeObject, Default: map[any]any{1: 2}}}},
		}, "openapi: json: unsupported type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Document(Info{}, tc.defs)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// demoDefs is the demo catalog as the gateway serves it.
func demoDefs(t *testing.T) []catalog.Definition {
	t.Helper()
	f, err := demo.Catalog("http://127.0.0.1:8080")
	require.NoError(t, err)
	require.NotEmpty(t, f.APIs)
	defs := make([]catalog.Definition, len(f.APIs))
	for i, d := range f.APIs {
		defs[i] = d.WithDefaults()
	}
	return defs
}
