// Package openapi renders the public part of the catalog as an OpenAPI 3.1
// document (served as GET /openapi.json), so integrators can browse the async
// APIs and generate clients without reading the catalog.
package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/asyncgate/asyncgate/catalog"
)

// Info describes the service.
type Info struct {
	Title     string // default "asyncgate"
	Version   string // the service's version; default "0.0.0"
	ServerURL string // public base URL; no servers entry when empty
}

// Paths and names fixed by the gateway.
const (
	tokenPath    = "/kapi/oauth2/getToken"
	defaultGroup = "default"
	tokenTag     = "oauth2"
	jsonMedia    = "application/json"
)

// Document renders the OpenAPI 3.1 document (JSON, deterministic: same input
// → same bytes) for the callable, public definitions: status published or
// maintenance (maintenance → `deprecated: true` and the notice in the
// description); testing and disabled ones are left out. defs are in any
// order; output paths sorted.
func Document(info Info, defs []catalog.Definition) ([]byte, error) {
	var apis []catalog.Definition
	for _, d := range defs {
		// WithDefaults fills in Params in place: work on a copy, as the
		// caller's definitions may be shared (and read concurrently).
		d.Params = slices.Clone(d.Params)
		if d = d.WithDefaults(); d.Status == catalog.StatusPublished || d.Status == catalog.StatusMaintenance {
			apis = append(apis, d)
		}
	}
	sort.Slice(apis, func(i, j int) bool {
		if pi, pj := apis[i].Path(), apis[j].Path(); pi != pj {
			return pi < pj
		}
		return apis[i].Code < apis[j].Code
	})

	b := newBuilder(info)
	byPath := map[string]string{}
	for _, d := range apis {
		p := d.Path()
		if other, dup := byPath[p]; dup {
			return nil, fmt.Errorf("openapi: APIs %s and %s share the path %s", other, d.Code, p)
		}
		byPath[p] = d.Code
		b.addAPI(d)
	}
	for _, name := range slices.Sorted(maps.Keys(b.tags)) {
		b.doc.Tags = append(b.doc.Tags, tag{Name: name})
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // descriptions are markdown: keep <, > and & readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(b.doc); err != nil {
		return nil, fmt.Errorf("openapi: %w", err) // e.g. a default YAML could not turn into JSON
	}
	return buf.Bytes(), nil
}

type builder struct {
	doc  document
	tags map[string]bool
	ops  map[string]bool // operationIds taken
}

func newBuilder(in Info) *builder {
	if in.Title == "" {
		in.Title = "asyncgate"
	}
	if in.Version == "" {
		in.Version = "0.0.0"
	}
	b := &builder{tags: map[string]bool{tokenTag: true}, ops: map[string]bool{}}
	b.doc = document{
		OpenAPI:  "3.1.0",
		Info:     info{Title: in.Title, Version: in.Version, Description: serviceDescription},
		Security: []securityReq{{"access_token": {}}, {"access_token_query": {}}},
		Paths:    map[string]*pathItem{},
		Components: components{
			Schemas:   baseSchemas(),
			Responses: map[string]*response{},
			SecuritySchemes: map[string]*securityScheme{
				"access_token": {Type: "apiKey", In: "header", Name: "access_token",
					Description: "A token from POST " + tokenPath + ". `Authorization: Bearer <token>` is accepted too."},
				"access_token_query": {Type: "apiKey", In: "query", Name: "access_token",
					Description: "The same token as a query parameter."},
			},
		},
	}
	if u := strings.TrimRight(in.ServerURL, "/"); u != "" {
		b.doc.Servers = []server{{URL: u}}
	}
	for _, e := range httpErrors {
		b.doc.Components.Responses[e.name] = &response{Description: e.desc,
			Content: map[string]mediaType{jsonMedia: {Schema: ref("Error")}}}
	}
	b.addToken()
	return b
}

const serviceDescription = `Asynchronous open APIs (Kingdee-style protocol).

1. Get a token: POST ` + tokenPath + `, then send it in the ` + "`access_token`" + ` header.
2. Submit: call the API's URL with its items; the answer is a receipt with an ` + "`openApiReqId`" + `.
3. Poll: GET the same URL with ` + "`queryOpenApiType=checkStatus`" + ` (progress) or ` + "`queryResult`" + ` (per-item results, paged) and the ` + "`openApiReqId`" + `.
4. Cancel: POST the same URL with ` + "`queryOpenApiType=cancel`" + ` and the ` + "`openApiReqId`" + `.

Every answer is the envelope {data, errorCode, message, status} unless the API returns bare data.`

// httpErrors are the gateway's error answers, as reusable responses.
var httpErrors = []struct{ status, name, desc string }{
	{"400", "BadRequest", "A parameter is missing or invalid; the message names the field."},
	{"401", "Unauthorized", "The access token is missing, invalid or expired."},
	{"403", "Forbidden", "The app is not granted this API."},
	{"404", "NotFound", "No such API (or it is disabled), or no such request for this app and API."},
	{"405", "MethodNotAllowed", "The API is called with the other HTTP method."},
	{"409", "Conflict", "The same call was already accepted within the API's dedup window."},
	{"413", "PayloadTooLarge", "The request body is too large."},
	{"429", "TooManyRequests", "The app exceeded its rate limit."},
	{"500", "InternalError", "An internal error; the message carries a request id."},
}

func errorResponses(statuses ...string) map[string]*response {
	m := map[string]*response{}
	for _, e := range httpErrors {
		if len(statuses) == 0 || slices.Contains(statuses, e.status) {
			m[e.status] = &response{Ref: "#/components/responses/" + e.name}
		}
	}
	return m
}

func (b *builder) opID(want string) string {
	id := want
	for n := 2; b.ops[id]; n++ {
		id = want + "_" + strconv.Itoa(n)
	}
	b.ops[id] = true
	return id
}

func jsonContent(s *schema) map[string]mediaType { return map[string]mediaType{jsonMedia: {Schema: s}} }

// envelope wraps data in the success envelope.
func envelope(data *schema) *schema {
	return &schema{AllOf: []*schema{ref("Envelope"), {Properties: map[string]*schema{
		"data": data, "errorCode": {Const: "0"}, "status": {Const: true}}}}}
}

func (b *builder) addToken() {
	reqSchema := ref("TokenRequest")
	responses := errorResponses("400", "401", "413", "500")
	responses["200"] = &response{Description: "The token.", Content: jsonContent(envelope(ref("TokenData")))}
	b.doc.Paths[tokenPath] = &pathItem{Post: &operation{
		Tags:        []string{tokenTag},
		Summary:     "Get an access token",
		Description: "Exchanges an app's credentials for an access token. They may also come as a form or as query parameters.",
		OperationID: b.opID("getToken"),
		RequestBody: &requestBody{Required: true, Content: map[string]mediaType{
			jsonMedia: {Schema: reqSchema}, "application/x-www-form-urlencoded": {Schema: reqSchema}}},
		Responses: responses,
		Security:  &[]securityReq{},
	}}
}

// addAPI documents one API: submit, poll and cancel on its one URL.
func (b *builder) addAPI(d catalog.Definition) {
	group := d.Group
	if group == "" {
		group = defaultGroup
	}
	b.tags[group] = true
	maintenance := d.Status == catalog.StatusMaintenance
	op := func(id, summary string, parts ...string) *operation {
		var desc []string
		if maintenance {
			desc = append(desc, "**Deprecated:** API `"+d.Code+"` is under maintenance and will be retired; "+
				"calls still work and are answered with a `Deprecation` header.")
		}
		desc = append(desc, d.Description)
		desc = append(desc, parts...)
		return &operation{Tags: []string{group}, Summary: summary, Description: joinParas(desc...),
			OperationID: b.opID(id), Responses: errorResponses(), Deprecated: maintenance}
	}
	withCodes := func(o *operation) *operation {
		if len(d.ErrorCodes) > 0 {
			o.Description = joinParas(o.Description, errorTable(d.ErrorCodes))
			o.ErrorCodes = d.ErrorCodes
		}
		return o
	}
	headers := func(submit bool) map[string]*header {
		h := map[string]*header{}
		if submit {
			h["Location"] = &header{Description: "After a submit: the checkStatus URL of the new request.",
				Schema: &schema{Type: "string"}}
		}
		if maintenance {
			h["Deprecation"] = &header{Description: "The API is under maintenance.", Schema: &schema{Type: "string", Const: "true"}}
			h["Warning"] = &header{Description: "The maintenance notice.", Schema: &schema{Type: "string"}}
		}
		return h
	}

	result := ref("ResultData")
	if len(d.ReturnParams) > 0 {
		s := b.doc.Components.Schemas
		s[d.Code+".Result"] = resultSchema(d)
		s[d.Code+".ResultData"] = &schema{AllOf: []*schema{ref("ResultData"), {Properties: map[string]*schema{
			"items": {Type: "array", Items: &schema{AllOf: []*schema{ref("ResultItem"), {Properties: map[string]*schema{
				"result": ref(d.Code + ".Result")}}}}}}}}}
		result = ref(d.Code + ".ResultData")
	}

	item := &pathItem{}
	if d.Method == "GET" {
		get := withCodes(op(d.Code, d.Name,
			"**Submit** with the parameters in the query string (array and object values as JSON text); "+
				"the answer is a receipt with the `openApiReqId`.",
			"**Poll** with `queryOpenApiType=checkStatus` (progress) or `queryResult` (per-item results, paged) "+
				"and the `openApiReqId`; the parameters are then not needed."))
		get.Parameters = dedupParams(append(append(b.queryParams(d), headerParams(d, false)...),
			queryTypeParam(false, "checkStatus", "queryResult"), reqIDParam(false), pageNoParam, pageSizeParam))
		// anyOf, not oneOf: a receipt and the queryResult of a request not yet
		// started are the same object, {openApiReqId, status: "new"}.
		get.Responses["200"] = answer(d, "A receipt (submit), StatusData (checkStatus) or ResultData (queryResult).",
			headers(true), false, ref("Receipt"), ref("StatusData"), result)
		cancel := op(d.Code+"_cancel", d.Name+": cancel", cancelText)
		cancel.Parameters = []*parameter{queryTypeParam(true, "cancel"), reqIDParam(true)}
		cancel.Responses["200"] = answer(d, "The request's StatusData after the cancel.", headers(false), true, ref("StatusData"))
		item.Get, item.Post = get, cancel
	} else {
		body := ref(d.Code + ".Item")
		b.doc.Components.Schemas[d.Code+".Item"] = itemSchema(d)
		what := "the body is one item"
		if d.Batch.ItemsPath != "" {
			b.doc.Components.Schemas[d.Code+".Request"] = bodySchema(d, body)
			body = ref(d.Code + ".Request")
			what = fmt.Sprintf("the body holds 1 to %d items in `%s`", d.Batch.MaxItems, d.Batch.ItemsPath)
		}
		post := withCodes(op(d.Code, d.Name,
			"**Submit**: "+what+"; the answer is a receipt with the `openApiReqId`.",
			"**Cancel**: with `queryOpenApiType=cancel` and the `openApiReqId` the request is canceled instead; "+
				"the body and headers are then ignored and the answer is its StatusData."))
		post.Parameters = append(headerParams(d, true), queryTypeParam(false, "cancel"), reqIDParam(false))
		post.RequestBody = &requestBody{Required: true, Content: jsonContent(body)}
		post.Responses["200"] = answer(d, "A receipt (submit) or StatusData (cancel).", headers(true), true,
			ref("Receipt"), ref("StatusData"))
		get := withCodes(op(d.Code+"_query", d.Name+": status or result",
			"**Poll** with `queryOpenApiType=checkStatus` (progress) or `queryResult` (per-item results, paged)."))
		get.Parameters = []*parameter{queryTypeParam(true, "checkStatus", "queryResult"), reqIDParam(true), pageNoParam, pageSizeParam}
		get.Responses["200"] = answer(d, "StatusData (checkStatus) or ResultData (queryResult).", headers(false), true,
			ref("StatusData"), result)
		item.Get, item.Post = get, post
	}
	b.doc.Paths[d.Path()] = item
}

const cancelText = "**Cancel** the request named by `openApiReqId`: one not started yet is canceled at once; " +
	"a running one finishes its in-flight items and cancels the rest."

// answer is the 200 response carrying one of datas, in the envelope unless
// the API returns bare data. oneOf needs disjoint schemas; anyOf does not.
func answer(d catalog.Definition, desc string, headers map[string]*header, oneOf bool, datas ...*schema) *response {
	data := datas[0]
	if len(datas) > 1 {
		if oneOf {
			data = &schema{OneOf: datas}
		} else {
			data = &schema{AnyOf: datas}
		}
	}
	if !d.Options.ReturnDataOnly {
		data = envelope(data)
	}
	if len(headers) == 0 {
		headers = nil
	}
	return &response{Description: desc, Headers: headers, Content: jsonContent(data)}
}

// queryParams are a GET API's parameters. Required ones are required only to
// submit (polling needs none), so the spec marks them optional and says so.
func (b *builder) queryParams(d catalog.Definition) []*parameter {
	top, rows := splitParams(d.Params)
	var out []*parameter
	for _, p := range top {
		s := paramSchema(p, rows[p.Name], d.Options.RejectUnknownParams)
		prm := &parameter{Name: p.Name, In: "query", Description: s.Description}
		s.Description = ""
		if p.Required {
			prm.Description = joinText(prm.Description, "**Required** to submit.")
		}
		if p.Type == catalog.TypeArray || p.Type == catalog.TypeObject {
			prm.Content = jsonContent(s) // sent as JSON text
		} else {
			prm.Schema = s
		}
		out = append(out, prm)
	}
	return out
}

// headerParams are the declared request headers; the gateway checks them on
// submit only, so for GET APIs (where polling shares the operation) they are
// marked optional.
func headerParams(d catalog.Definition, strict bool) []*parameter {
	var out []*parameter
	for _, h := range d.RequestHeaders {
		s := &schema{Type: "string"}
		if h.Value != "" {
			s.Const = h.Value
		}
		prm := &parameter{Name: h.Name, In: "header", Description: h.Description, Schema: s, Required: h.Required && strict}
		if h.Required && !strict {
			prm.Description = joinText(prm.Description, "**Required** to submit.")
		}
		out = append(out, prm)
	}
	return out
}

// dedupParams keeps the first parameter of each name and location: a
// declared parameter wins over a control parameter of the same name.
func dedupParams(ps []*parameter) []*parameter {
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		k := p.In + "\x00" + strings.ToLower(p.Name)
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

func queryTypeParam(required bool, kinds ...string) *parameter {
	enum := make([]any, len(kinds))
	for i, k := range kinds {
		enum[i] = k
	}
	desc := "What to do with the request named by `openApiReqId`."
	if !required {
		desc = "Absent to submit; " + strings.Join(kinds, " or ") + " for the request named by `openApiReqId`."
	}
	return &parameter{Name: "queryOpenApiType", In: "query", Required: required, Description: desc,
		Schema: &schema{Type: "string", Enum: enum}}
}

func reqIDParam(required bool) *parameter {
	desc := "The id of the receipt."
	if !required {
		desc += " Required with `queryOpenApiType`."
	}
	return &parameter{Name: "openApiReqId", In: "query", Required: required, Description: desc,
		Schema: &schema{Type: "string", Pattern: reqIDPattern, Examples: []any{"1893456789012345678"}}}
}

var (
	pageNoParam = &parameter{Name: "pageNo", In: "query", Description: "queryResult: the page of items, from 1.",
		Schema: &schema{Type: "integer", Minimum: int64p(1), Maximum: int64p(2147483647), Default: 1}}
	pageSizeParam = &parameter{Name: "pageSize", In: "query", Description: "queryResult: items per page.",
		Schema: &schema{Type: "integer", Minimum: int64p(1), Maximum: int64p(1000), Default: 100}}
)

// errorTable lists business errors as markdown for the description.
func errorTable(codes []catalog.ErrorCode) string {
	cell := strings.NewReplacer("|", `\|`, "\r", " ", "\n", " ")
	var sb strings.Builder
	sb.WriteString("Business errors (an item's `sub_code` in queryResult):\n\n| Code | Message | Description |\n| --- | --- | --- |\n")
	for _, c := range codes {
		fmt.Fprintf(&sb, "| `%s` | %s | %s |\n", cell.Replace(c.Code), cell.Replace(c.Message), cell.Replace(c.Description))
	}
	return strings.TrimSuffix(sb.String(), "\n")
}

func joinParas(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n\n")
}
