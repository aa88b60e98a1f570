package catalog

import (
	"cmp"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
)

// QuickCreate is the input of "quick create": a synchronous HTTP API to
// wrap as an async one. Only URL is required.
type QuickCreate struct {
	URL    string            `json:"url"`
	Method string            `json:"method,omitempty"` // of the sync API; default POST
	Code   string            `json:"code,omitempty"`   // default from the URL path
	Name   string            `json:"name,omitempty"`
	Group  string            `json:"group,omitempty"`
	Header map[string]string `json:"headers,omitempty"`
	// Timeout per forwarded item, e.g. "10s".
	Timeout Duration `json:"timeout,omitempty"`
	// Params, when given, are the item's parameters; otherwise they are
	// inferred from SampleRequest (one item's JSON object).
	Params         []Param       `json:"params,omitempty"`
	SampleRequest  jsonText      `json:"sample_request,omitempty"`
	SampleResponse jsonText      `json:"sample_response,omitempty"`
	ErrorCodes     []ErrorCode   `json:"error_codes,omitempty"`
	ReturnParams   []ReturnParam `json:"return_params,omitempty"`
}

// jsonText keeps a raw JSON value as received.
type jsonText []byte

func (j *jsonText) UnmarshalJSON(b []byte) error { *j = append((*j)[:0], b...); return nil }

var nonWord = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// Definition turns the input into a complete async API: items in "data"
// (1–40), each forwarded to the sync API with retries; 4xx answers are
// business errors. Field errors name the input's fields.
func (q QuickCreate) Definition() (Definition, error) {
	if !isAbsoluteHTTPURL(q.URL) {
		return Definition{}, &FieldError{Field: "url", Reason: "must be an absolute http or https URL"}
	}
	u, _ := url.Parse(q.URL)
	var segs []string
	for _, s := range strings.Split(u.Path, "/") {
		if s = strings.Trim(nonWord.ReplaceAllString(s, "_"), "_"); s != "" {
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		segs = []string{strings.ReplaceAll(u.Hostname(), ".", "_")}
	}
	form := segs[max(0, len(segs)-2)]
	service := segs[len(segs)-1]
	if len(segs) == 1 {
		service = "call"
	}
	code := q.Code
	if code == "" {
		code = "quick_" + strings.Join(segs[max(0, len(segs)-2):], "_")
	}
	name := q.Name
	if name == "" {
		name = "Async " + strings.ToUpper(cmp.Or(q.Method, "POST")) + " " + u.Path
	}
	d := Definition{
		Code: code, Name: name, Method: "POST", AppID: "quick", FormID: form, ServiceName: service, Group: q.Group,
		Status: StatusPublished, Operation: "save",
		Description: "Created by quick create from " + strings.ToUpper(cmp.Or(q.Method, "POST")) + " " + u.Redacted() + ".",
		Params:      q.Params, ReturnParams: q.ReturnParams, ErrorCodes: q.ErrorCodes,
		Batch:   Batch{ItemsPath: "data"},
		Handler: HandlerSpec{Type: HandlerHTTP, HTTP: &HTTPForward{URL: q.URL, Method: strings.ToUpper(q.Method), Headers: q.Header, Timeout: q.Timeout}},
	}
	if len(d.Params) == 0 && len(q.SampleRequest) > 0 {
		ps, fe := inferParams(q.SampleRequest, "sample_request")
		if fe != nil {
			return Definition{}, fe
		}
		d.Params = ps
	}
	if len(d.ReturnParams) == 0 && len(q.SampleResponse) > 0 {
		ps, fe := inferParams(q.SampleResponse, "sample_response")
		if fe != nil {
			return Definition{}, fe
		}
		for _, p := range ps {
			if p.Level <= 1 {
				d.ReturnParams = append(d.ReturnParams, ReturnParam{Name: p.Name, Type: p.Type, Example: p.Example})
			}
		}
	}
	d = d.WithDefaults()
	if err := d.Validate(); err != nil {
		return Definition{}, err
	}
	return d, nil
}

// inferParams reads a sample object: each field becomes a parameter of the
// type its value has, with the value as example; an array of objects gets
// level-2 parameters from its first row. Fields are optional: a sample
// shows what may be sent, not what must.
func inferParams(sample []byte, field string) ([]Param, *FieldError) {
	root, perr := parseJSON(sample)
	if perr != nil {
		return nil, perr.fieldError(field + " is not JSON: ")
	}
	if root.kind != kindObject {
		return nil, &FieldError{Field: field, Reason: "must be a JSON object (one item)"}
	}
	var out []Param
	for i, k := range root.keys {
		v := root.vals[i]
		p := Param{Name: k, Type: sampleType(v)}
		if ex := sampleExample(v); ex != nil {
			p.Example = ex
		}
		out = append(out, p)
		if v.kind == kindArray && len(v.arr) > 0 && v.arr[0].kind == kindObject {
			row := v.arr[0]
			for j, rk := range row.keys {
				out = append(out, Param{Name: rk, Type: sampleType(row.vals[j]), Level: 2, Parent: k, Example: sampleExample(row.vals[j])})
			}
		}
	}
	return out, nil
}

func sampleType(v *value) ParamType {
	switch v.kind {
	case kindBool:
		return TypeBoolean
	case kindNumber:
		if !strings.ContainsAny(v.s, ".eE") {
			return TypeInteger
		}
		return TypeNumber
	case kindArray:
		return TypeArray
	case kindObject:
		return TypeObject
	}
	return TypeString
}

// sampleExample keeps scalar sample values as examples.
func sampleExample(v *value) any {
	switch v.kind {
	case kindString:
		return v.s
	case kindBool:
		return v.b
	case kindNumber:
		return json.Number(v.s)
	}
	return nil
}
