package catalog

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

var (
	codeRe      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	segmentRe   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	topMethodRe = regexp.MustCompile(`^[a-z][a-z0-9]*(\.[a-z0-9]+)+$`)
)

// Limits on definition settings, generous but finite.
const (
	maxMaxItems     = 100000
	maxConcurrency  = 1000
	maxMaxAttempts  = 100
	maxItemTimeout  = 24 * time.Hour
	maxDedupWindow  = 24 * time.Hour
	maxBackoffCoeff = 1000
)

// implicitHeaders are always accepted and must not be declared again.
var implicitHeaders = map[string]bool{"access_token": true, "content_type": true, "content-type": true}

// Validate checks a definition for the admin API and file import. It accepts
// a definition before or after WithDefaults (empty settings mean "default")
// and returns a *FieldError naming the field, e.g. "params[2].type".
func (d Definition) Validate() error {
	if fe := d.validate(); fe != nil {
		return fe
	}
	return nil
}

func (d Definition) validate() *FieldError {
	fe := func(field, format string, args ...any) *FieldError {
		return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case d.Code == "":
		return fe("code", "is required")
	case !codeRe.MatchString(d.Code):
		return fe("code", "must start with a letter and hold at most 64 letters, digits, '_', '.' or '-'")
	case strings.TrimSpace(d.Name) == "":
		return fe("name", "is required")
	}
	if m := strings.ToUpper(d.Method); m != "" && m != "GET" && m != "POST" {
		return fe("method", "must be GET or POST")
	}
	for _, s := range []struct{ field, val string }{{"app_id", d.AppID}, {"form_id", d.FormID}, {"service_name", d.ServiceName}} {
		if s.val == "" {
			return fe(s.field, "is required")
		}
		if !segmentRe.MatchString(s.val) {
			return fe(s.field, "must hold only letters, digits, '_', '.' or '-' (it is a URL segment)")
		}
	}
	if d.ISV != "" && !segmentRe.MatchString(d.ISV) {
		return fe("isv", "must hold only letters, digits, '_', '.' or '-' (it is a URL segment)")
	}
	switch d.Status {
	case "", StatusTesting, StatusPublished, StatusMaintenance, StatusDisabled:
	default:
		return fe("status", "must be one of testing, published, maintenance, disabled")
	}
	if d.TopMethod != "" && !topMethodRe.MatchString(d.TopMethod) {
		return fe("top_method", "must be a dotted lower-case TOP method name like taobao.topats.trades.fullinfo.get")
	}
	if e := d.validateTopLists(); e != nil {
		return e
	}
	if w := d.Options.DedupWindow.D(); w > maxDedupWindow {
		return fe("options.dedup_window", "must be at most 24h")
	}
	if e := d.validateWebService(); e != nil {
		return e
	}
	if e := d.validateHeaders(); e != nil {
		return e
	}
	if e := d.validateParams(); e != nil {
		return e
	}
	for i, c := range d.ParamControls {
		if strings.TrimSpace(c.Key) == "" {
			return fe(fmt.Sprintf("param_controls[%d].key", i), "is required")
		}
	}
	for i, r := range d.ReturnParams {
		at := fmt.Sprintf("return_params[%d]", i)
		if r.Name == "" {
			return fe(at+".name", "is required")
		}
		if e := checkParamType(r.Type, at+".type"); e != nil {
			return e
		}
		if r.Mask != "" && !validMask(r.Mask) {
			return fe(at+".mask", "unknown mask %q (use phone, id_card, bank_card, email, name, keep_first:N or keep_last:N)", r.Mask)
		}
	}
	seenCodes := map[string]int{}
	for i, c := range d.ErrorCodes {
		at := fmt.Sprintf("error_codes[%d].code", i)
		if strings.TrimSpace(c.Code) == "" {
			return fe(at, "is required")
		}
		if j, dup := seenCodes[c.Code]; dup {
			return fe(at, "duplicate of error_codes[%d]", j)
		}
		seenCodes[c.Code] = i
	}
	if e := d.Batch.validate(); e != nil {
		return e
	}
	return d.Handler.validate()
}

func (d Definition) validateWebService() *FieldError {
	ws := d.WebService
	if ws == nil {
		return nil
	}
	if strings.TrimSpace(ws.Namespace) == "" {
		return &FieldError{Field: "webservice.namespace", Reason: "is required"}
	}
	if strings.ContainsAny(ws.Namespace, " \t\r\n\"<>") {
		return &FieldError{Field: "webservice.namespace", Reason: "must be a URI (no spaces, quotes or angle brackets)"}
	}
	for _, n := range []struct{ field, val string }{
		{"webservice.input_param", ws.InputParam},
		{"webservice.output_param", ws.OutputParam},
		{"webservice.wsdl_method", ws.WSDLMethod},
	} {
		if n.val == "" {
			return &FieldError{Field: n.field, Reason: "is required"}
		}
		if !isNCName(n.val) {
			return &FieldError{Field: n.field, Reason: "must be an XML name (a letter or '_', then letters, digits, '.', '-' or '_')"}
		}
	}
	return nil
}

func (d Definition) validateHeaders() *FieldError {
	seen := map[string]int{}
	for i, h := range d.RequestHeaders {
		at := fmt.Sprintf("request_headers[%d].name", i)
		lower := strings.ToLower(h.Name)
		switch {
		case h.Name == "":
			return &FieldError{Field: at, Reason: "is required"}
		case !isHeaderToken(h.Name):
			return &FieldError{Field: at, Reason: "must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"}
		case implicitHeaders[lower]:
			return &FieldError{Field: at, Reason: fmt.Sprintf("%q is implicit and must not be declared", h.Name)}
		}
		if j, dup := seen[lower]; dup {
			return &FieldError{Field: at, Reason: fmt.Sprintf("duplicate of request_headers[%d]", j)}
		}
		seen[lower] = i
	}
	return nil
}

func (d Definition) validateParams() *FieldError {
	type slot struct {
		level  int
		parent string
		name   string
	}
	seen := map[slot]int{}
	level1 := map[string]ParamType{}
	for _, p := range d.Params {
		if p.Level <= 1 && p.Parent == "" {
			if _, ok := level1[p.Name]; !ok {
				level1[p.Name] = p.Type
			}
		}
	}
	for i := range d.Params {
		p := d.Params[i]
		at := fmt.Sprintf("params[%d]", i)
		level := p.Level
		if level == 0 {
			level = 1
		}
		if p.Name == "" {
			return &FieldError{Field: at + ".name", Reason: "is required"}
		}
		if e := checkParamType(p.Type, at+".type"); e != nil {
			return e
		}
		switch level {
		case 1:
			if p.Parent != "" {
				return &FieldError{Field: at + ".parent", Reason: "must be empty for a level-1 parameter"}
			}
		case 2:
			if p.Parent == "" {
				return &FieldError{Field: at + ".parent", Reason: "is required for a level-2 parameter"}
			}
			if t, ok := level1[p.Parent]; !ok || t != TypeArray {
				return &FieldError{Field: at + ".parent", Reason: fmt.Sprintf("must name a level-1 parameter of type array (%q is not one)", p.Parent)}
			}
		default:
			return &FieldError{Field: at + ".level", Reason: "must be 1 or 2"}
		}
		k := slot{level, p.Parent, p.Name}
		if j, dup := seen[k]; dup {
			return &FieldError{Field: at + ".name", Reason: fmt.Sprintf("duplicate of params[%d]", j)}
		}
		seen[k] = i
		if p.MaxLength < 0 {
			return &FieldError{Field: at + ".max_length", Reason: "must not be negative"}
		}
		if len(p.Enum) > 0 {
			switch p.Type {
			case TypeString:
			case TypeInteger:
				for j, e := range p.Enum {
					if _, err := strconv.ParseInt(strings.TrimSpace(e), 10, 64); err != nil {
						return &FieldError{Field: fmt.Sprintf("%s.enum[%d]", at, j), Reason: "must be an integer"}
					}
				}
			default:
				return &FieldError{Field: at + ".enum", Reason: "is only allowed for string and integer parameters"}
			}
		}
		if p.Default != nil {
			dv, err := encodeDefault(p.Default)
			if err != nil {
				return &FieldError{Field: at + ".default", Reason: "cannot be encoded as JSON"}
			}
			if dv.kind != kindNull {
				if reason := checkValue(&p, dv); reason != "" {
					return &FieldError{Field: at + ".default", Reason: reason}
				}
			}
		}
	}
	return nil
}

func checkParamType(t ParamType, field string) *FieldError {
	switch t {
	case "":
		return &FieldError{Field: field, Reason: "is required"}
	case TypeString, TypeInteger, TypeNumber, TypeBoolean, TypeDate, TypeDatetime, TypeArray, TypeObject:
		return nil
	}
	return &FieldError{Field: field, Reason: fmt.Sprintf("unknown type %q", string(t))}
}

// validMask accepts the masking rules of return parameters.
func validMask(m string) bool {
	switch m {
	case "phone", "id_card", "bank_card", "email", "name":
		return true
	}
	for _, prefix := range []string{"keep_first:", "keep_last:"} {
		if n, ok := strings.CutPrefix(m, prefix); ok {
			v, err := strconv.Atoi(n)
			return err == nil && v > 0 && strconv.Itoa(v) == n
		}
	}
	return false
}

func (b Batch) validate() *FieldError {
	switch {
	case b.MaxItems < 0 || b.MaxItems > maxMaxItems:
		return &FieldError{Field: "batch.max_items", Reason: fmt.Sprintf("must be between 0 and %d", maxMaxItems)}
	case b.Concurrency < 0 || b.Concurrency > maxConcurrency:
		return &FieldError{Field: "batch.concurrency", Reason: fmt.Sprintf("must be between 0 and %d", maxConcurrency)}
	case b.ItemTimeout.D() > maxItemTimeout:
		return &FieldError{Field: "batch.item_timeout", Reason: "must be at most 24h"}
	}
	r := b.Retry
	switch c := r.BackoffCoefficient; {
	case r.MaxAttempts < 0 || r.MaxAttempts > maxMaxAttempts:
		return &FieldError{Field: "batch.retry.max_attempts", Reason: fmt.Sprintf("must be between 0 and %d", maxMaxAttempts)}
	case math.IsNaN(c) || (c != 0 && (c < 1 || c > maxBackoffCoeff)):
		return &FieldError{Field: "batch.retry.backoff_coefficient", Reason: fmt.Sprintf("must be 0 (default) or between 1 and %d", maxBackoffCoeff)}
	}
	// Temporal refuses a maximum interval below the initial one; compare the
	// values WithDefaults would give so the check holds before and after it.
	initial, maximum := r.InitialInterval.D(), r.MaxInterval.D()
	if initial == 0 {
		initial = time.Second
	}
	if maximum == 0 {
		maximum = 30 * time.Second
	}
	if maximum < initial {
		return &FieldError{Field: "batch.retry.max_interval", Reason: fmt.Sprintf("must not be less than initial_interval (%s)", initial)}
	}
	return nil
}

func (h HandlerSpec) validate() *FieldError {
	switch h.Type {
	case "":
		return &FieldError{Field: "handler.type", Reason: "is required (builtin, http or script)"}
	case HandlerBuiltin:
		if strings.TrimSpace(h.Builtin) == "" {
			return &FieldError{Field: "handler.builtin", Reason: "is required for a builtin handler"}
		}
	case HandlerHTTP:
		f := h.HTTP
		if f == nil {
			return &FieldError{Field: "handler.http", Reason: "is required for an http handler"}
		}
		if !isAbsoluteHTTPURL(f.URL) {
			return &FieldError{Field: "handler.http.url", Reason: "must be an absolute http or https URL"}
		}
		switch strings.ToUpper(f.Method) {
		case "", "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			return &FieldError{Field: "handler.http.method", Reason: "must be GET, POST, PUT, PATCH or DELETE"}
		}
		if f.Timeout.D() > maxItemTimeout {
			return &FieldError{Field: "handler.http.timeout", Reason: "must be at most 24h"}
		}
		for name := range f.Headers {
			if !isHeaderToken(name) {
				return &FieldError{Field: "handler.http.headers", Reason: fmt.Sprintf("%q is not an HTTP header name", name)}
			}
		}
		if f.BatchSize < 0 || f.BatchSize > maxMaxItems {
			return &FieldError{Field: "handler.http.batch_size", Reason: fmt.Sprintf("must be between 0 and %d", maxMaxItems)}
		}
		for name, src := range f.HeaderMap {
			if !isHeaderToken(name) {
				return &FieldError{Field: "handler.http.header_map", Reason: fmt.Sprintf("%q is not an HTTP header name", name)}
			}
			if !validHeaderSource(src) {
				return &FieldError{Field: "handler.http.header_map." + name,
					Reason: fmt.Sprintf("unknown source %q (use app_key, request_id, item.<field>, header.<field> or control.<key>)", src)}
			}
		}
		for i, s := range f.BusinessStatuses {
			if s < 400 || s > 599 {
				return &FieldError{Field: fmt.Sprintf("handler.http.business_statuses[%d]", i), Reason: "must be between 400 and 599"}
			}
		}
	case HandlerScript:
		if strings.TrimSpace(h.Script) == "" {
			return &FieldError{Field: "handler.script", Reason: "is required for a script handler"}
		}
	default:
		return &FieldError{Field: "handler.type", Reason: fmt.Sprintf("unknown handler type %q (use builtin, http or script)", string(h.Type))}
	}
	return nil
}

// validHeaderSource accepts the sources of HTTPForward.HeaderMap.
func validHeaderSource(src string) bool {
	switch src {
	case "app_key", "request_id":
		return true
	}
	for _, prefix := range []string{"item.", "header.", "control."} {
		if rest, ok := strings.CutPrefix(src, prefix); ok {
			return rest != ""
		}
	}
	return false
}

// isAbsoluteHTTPURL accepts http(s)://host[...] and nothing else.
func isAbsoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return false
	}
	return u.Scheme == "http" || u.Scheme == "https"
}

// isHeaderToken reports whether s is an RFC 9110 token.
func isHeaderToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isNCName reports whether s is an XML non-colonized name (close enough:
// Unicode letters and digits stand in for the XML name character classes).
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || r == '\u00B7' || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc)):
		default:
			return false
		}
	}
	return true
}

func (d Definition) validateTopLists() *FieldError {
	if len(d.TopLists) > 0 && d.TopMethod == "" {
		return &FieldError{Field: "top_lists", Reason: "needs a top_method"}
	}
	seen := map[string]bool{}
	for i, l := range d.TopLists {
		at := fmt.Sprintf("top_lists[%d]", i)
		switch {
		case l.Param == "":
			return &FieldError{Field: at + ".param", Reason: "is required"}
		case l.Field == "":
			return &FieldError{Field: at + ".field", Reason: "is required"}
		case seen["p:"+l.Param]:
			return &FieldError{Field: at + ".param", Reason: "duplicates list " + strconv.Quote(l.Param)}
		case seen["f:"+l.Field]:
			return &FieldError{Field: at + ".field", Reason: "duplicates field " + strconv.Quote(l.Field)}
		case !d.hasTopLevelParam(l.Field):
			return &FieldError{Field: at + ".field", Reason: "must be a declared level-1 parameter"}
		case d.hasTopLevelParam(l.Param):
			return &FieldError{Field: at + ".param", Reason: "clashes with the declared parameter of that name"}
		}
		seen["p:"+l.Param], seen["f:"+l.Field] = true, true
	}
	return nil
}

func (d Definition) hasTopLevelParam(name string) bool {
	for _, p := range d.Params {
		if p.Name == name && p.Level <= 1 && p.Parent == "" {
			return true
		}
	}
	return false
}
