// Package catalog holds API definitions: the model of one async API (every
// field of the Kingdee definition page), its validation, and the request
// validator that turns a raw call into items.
package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is an API's lifecycle status (Kingdee 使用状态).
type Status string

const (
	StatusTesting     Status = "testing"     // 内测: only tester apps may call
	StatusPublished   Status = "published"   // 发布
	StatusMaintenance Status = "maintenance" // 维护: works, deprecated
	StatusDisabled    Status = "disabled"    // 禁用
)

// ParamType is the declared type of a request or return parameter.
type ParamType string

const (
	TypeString   ParamType = "string"
	TypeInteger  ParamType = "integer"
	TypeNumber   ParamType = "number"
	TypeBoolean  ParamType = "boolean"
	TypeDate     ParamType = "date"     // yyyy-MM-dd
	TypeDatetime ParamType = "datetime" // yyyy-MM-dd HH:mm:ss or RFC 3339
	TypeArray    ParamType = "array"
	TypeObject   ParamType = "object"
)

// HandlerType says how one item is processed.
type HandlerType string

const (
	HandlerBuiltin HandlerType = "builtin" // a Go function registered in the worker
	HandlerHTTP    HandlerType = "http"    // forward to a synchronous HTTP API
	HandlerScript  HandlerType = "script"  // a small sandboxed script
)

// Definition is one async API of the catalog.
type Definition struct {
	Code        string `json:"code" yaml:"code"`
	Name        string `json:"name" yaml:"name"`
	Method      string `json:"method" yaml:"method"` // GET or POST
	ISV         string `json:"isv,omitempty" yaml:"isv,omitempty"`
	AppID       string `json:"app_id" yaml:"app_id"`             // 所属应用
	FormID      string `json:"form_id" yaml:"form_id"`           // 业务对象
	ServiceName string `json:"service_name" yaml:"service_name"` // e.g. batchSave
	Group       string `json:"group,omitempty" yaml:"group,omitempty"`
	Operation   string `json:"operation,omitempty" yaml:"operation,omitempty"` // query, save, …
	Status      Status `json:"status" yaml:"status"`
	MinVersion  string `json:"min_version,omitempty" yaml:"min_version,omitempty"` // informational
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// TopMethod is the optional TOP/ATS method name aliasing this definition,
	// e.g. taobao.topats.trades.fullinfo.get.
	TopMethod string `json:"top_method,omitempty" yaml:"top_method,omitempty"`
	// TopLists split a TOP call into items: each is a comma-separated list
	// parameter (tids=1,2,3) whose i-th value becomes field Field of item i.
	// Several lists are parallel and must have equal length. Without lists a
	// TOP call is one item.
	TopLists []TopList `json:"top_lists,omitempty" yaml:"top_lists,omitempty"`

	Options        Options        `json:"options" yaml:"options"`
	WebService     *WebService    `json:"webservice,omitempty" yaml:"webservice,omitempty"`
	RequestHeaders []Header       `json:"request_headers,omitempty" yaml:"request_headers,omitempty"`
	Params         []Param        `json:"params,omitempty" yaml:"params,omitempty"`
	ParamControls  []ParamControl `json:"param_controls,omitempty" yaml:"param_controls,omitempty"`
	ReturnParams   []ReturnParam  `json:"return_params,omitempty" yaml:"return_params,omitempty"`
	ErrorCodes     []ErrorCode    `json:"error_codes,omitempty" yaml:"error_codes,omitempty"`
	Batch          Batch          `json:"batch" yaml:"batch"`
	Handler        HandlerSpec    `json:"handler" yaml:"handler"`
}

// TopList maps a TOP list parameter onto an item field.
type TopList struct {
	Param string `json:"param" yaml:"param"` // e.g. tids
	Field string `json:"field" yaml:"field"` // e.g. tid, a declared level-1 parameter
}

// Options are the definition's switches (配置项).
type Options struct {
	ThirdPartyAuthOnly bool     `json:"third_party_auth_only" yaml:"third_party_auth_only"`
	ReturnDataOnly     bool     `json:"return_data_only" yaml:"return_data_only"`
	Masking            bool     `json:"masking" yaml:"masking"`
	DedupEnabled       bool     `json:"dedup_enabled" yaml:"dedup_enabled"`
	DedupWindow        Duration `json:"dedup_window,omitempty" yaml:"dedup_window,omitempty"` // default 30s
	// RejectUnknownParams refuses body fields the definition does not declare;
	// when false they are passed to the handler untouched.
	RejectUnknownParams bool `json:"reject_unknown_params" yaml:"reject_unknown_params"`
}

// WebService is the SOAP exposure of a definition.
type WebService struct {
	Namespace   string `json:"namespace" yaml:"namespace"`
	InputParam  string `json:"input_param" yaml:"input_param"`
	OutputParam string `json:"output_param" yaml:"output_param"`
	WSDLMethod  string `json:"wsdl_method" yaml:"wsdl_method"`
}

// Header is a declared request header (access_token and content_type are implicit).
type Header struct {
	Name        string `json:"name" yaml:"name"`
	Value       string `json:"value,omitempty" yaml:"value,omitempty"` // expected value; empty means any
	Required    bool   `json:"required" yaml:"required"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// Param is one request body parameter. Level 1 parameters are fields of each
// item; level 2 parameters are fields of the entry rows of the level-1 array
// parameter named by Parent.
type Param struct {
	Name        string    `json:"name" yaml:"name"`
	Property    string    `json:"property,omitempty" yaml:"property,omitempty"` // entity property; equals Name when added by hand
	Type        ParamType `json:"type" yaml:"type"`
	Required    bool      `json:"required" yaml:"required"`
	Default     any       `json:"default,omitempty" yaml:"default,omitempty"`
	Description string    `json:"description,omitempty" yaml:"description,omitempty"`
	Level       int       `json:"level,omitempty" yaml:"level,omitempty"` // 1 (default) or 2
	Parent      string    `json:"parent,omitempty" yaml:"parent,omitempty"`
	Example     any       `json:"example,omitempty" yaml:"example,omitempty"`
	MaxLength   int       `json:"max_length,omitempty" yaml:"max_length,omitempty"`
	Enum        []string  `json:"enum,omitempty" yaml:"enum,omitempty"`
}

// ParamControl is a key/value option handed to the handler with each item (参数控制).
type ParamControl struct {
	Key         string `json:"key" yaml:"key"`
	Value       string `json:"value" yaml:"value"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// ReturnParam describes one field of an item's result.
type ReturnParam struct {
	Name        string    `json:"name" yaml:"name"`
	Type        ParamType `json:"type" yaml:"type"`
	Description string    `json:"description,omitempty" yaml:"description,omitempty"`
	Example     any       `json:"example,omitempty" yaml:"example,omitempty"`
	Mask        string    `json:"mask,omitempty" yaml:"mask,omitempty"` // phone, id_card, bank_card, email, name, keep_first:N, keep_last:N
}

// ErrorCode is a business error the API may return per item.
type ErrorCode struct {
	Code        string `json:"code" yaml:"code"`
	Message     string `json:"message" yaml:"message"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// Batch says where the items are and how they are processed.
type Batch struct {
	// ItemsPath is the body field holding the item array ("data"). Empty means
	// the whole body is one item.
	ItemsPath   string      `json:"items_path" yaml:"items_path"`
	MaxItems    int         `json:"max_items,omitempty" yaml:"max_items,omitempty"`     // default 40
	Concurrency int         `json:"concurrency,omitempty" yaml:"concurrency,omitempty"` // default 8
	ItemTimeout Duration    `json:"item_timeout,omitempty" yaml:"item_timeout,omitempty"`
	Retry       RetryPolicy `json:"retry" yaml:"retry"`
}

// RetryPolicy is the Temporal retry policy of an item's activity.
type RetryPolicy struct {
	MaxAttempts        int      `json:"max_attempts,omitempty" yaml:"max_attempts,omitempty"` // default 5; 1 = no retry
	InitialInterval    Duration `json:"initial_interval,omitempty" yaml:"initial_interval,omitempty"`
	BackoffCoefficient float64  `json:"backoff_coefficient,omitempty" yaml:"backoff_coefficient,omitempty"`
	MaxInterval        Duration `json:"max_interval,omitempty" yaml:"max_interval,omitempty"`
}

// HandlerSpec names the code that processes one item.
type HandlerSpec struct {
	Type    HandlerType  `json:"type" yaml:"type"`
	Builtin string       `json:"builtin,omitempty" yaml:"builtin,omitempty"`
	HTTP    *HTTPForward `json:"http,omitempty" yaml:"http,omitempty"`
	Script  string       `json:"script,omitempty" yaml:"script,omitempty"`
}

// HTTPForward forwards items to a synchronous HTTP API.
type HTTPForward struct {
	URL     string            `json:"url" yaml:"url"`
	Method  string            `json:"method,omitempty" yaml:"method,omitempty"` // default POST
	Headers map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`
	// HeaderMap sets forwarded headers from the call: header name → source,
	// one of "app_key", "request_id", "item.<field>", "header.<field>" (a
	// top-level field of the body besides the items) or "control.<key>".
	// A source that is absent leaves the header out.
	HeaderMap map[string]string `json:"header_map,omitempty" yaml:"header_map,omitempty"`
	Timeout   Duration          `json:"timeout,omitempty" yaml:"timeout,omitempty"` // default 10s
	// BatchSize > 1 forwards up to that many items in one call:
	// {"items":[…]} answered by {"results":[…]} (or a bare array) in the
	// same order, an element with "sub_code" being that item's business
	// error. 0 or 1: one call per item.
	BatchSize int `json:"batch_size,omitempty" yaml:"batch_size,omitempty"`
	// BusinessStatuses are the HTTP statuses that mean a business error
	// (no retry). Default: every 4xx except 408 and 429.
	BusinessStatuses []int `json:"business_statuses,omitempty" yaml:"business_statuses,omitempty"`
}

// Defaults applied when a definition leaves a field empty.
const (
	DefaultMaxItems    = 40
	DefaultConcurrency = 8
	DefaultItemTimeout = 30 * time.Second
	DefaultMaxAttempts = 5
	DefaultDedupWindow = 30 * time.Second
	DefaultHTTPTimeout = 10 * time.Second
)

// WithDefaults returns d with every empty setting filled in.
func (d Definition) WithDefaults() Definition {
	if d.Method == "" {
		d.Method = "POST"
	}
	d.Method = strings.ToUpper(d.Method)
	if d.Status == "" {
		d.Status = StatusPublished
	}
	if d.Batch.MaxItems == 0 {
		d.Batch.MaxItems = DefaultMaxItems
	}
	if d.Batch.Concurrency == 0 {
		d.Batch.Concurrency = DefaultConcurrency
	}
	if d.Batch.ItemTimeout == 0 {
		d.Batch.ItemTimeout = Duration(DefaultItemTimeout)
	}
	r := &d.Batch.Retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.InitialInterval == 0 {
		r.InitialInterval = Duration(time.Second)
	}
	if r.BackoffCoefficient == 0 {
		r.BackoffCoefficient = 2
	}
	if r.MaxInterval == 0 {
		r.MaxInterval = Duration(30 * time.Second)
	}
	if d.Options.DedupEnabled && d.Options.DedupWindow == 0 {
		d.Options.DedupWindow = Duration(DefaultDedupWindow)
	}
	if h := d.Handler.HTTP; h != nil {
		hc := *h
		if hc.Method == "" {
			hc.Method = "POST"
		}
		if hc.Timeout == 0 {
			hc.Timeout = Duration(DefaultHTTPTimeout)
		}
		d.Handler.HTTP = &hc
	}
	d.Params = slices.Clone(d.Params) // d shares its slices with the caller's copy
	for i := range d.Params {
		if d.Params[i].Level == 0 {
			d.Params[i].Level = 1
		}
		if d.Params[i].Property == "" {
			d.Params[i].Property = d.Params[i].Name
		}
	}
	return d
}

// Path is the generated request URL: /kapi/v2/{isv}/{appId}/{formId}/{serviceName},
// without the isv segment when ISV is empty (standard APIs).
func (d Definition) Path() string {
	parts := []string{"/kapi/v2"}
	if d.ISV != "" {
		parts = append(parts, d.ISV)
	}
	parts = append(parts, d.AppID, d.FormID, d.ServiceName)
	return strings.Join(parts, "/")
}

// Callable reports whether the API accepts calls at all.
func (d Definition) Callable() bool { return d.Status != StatusDisabled }

// Duration is a time.Duration written as "30s" in YAML and JSON.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration must be a string like \"30s\"")
		}
		*d = Duration(time.Duration(n) * time.Millisecond)
		return nil
	}
	return d.parse(s)
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\"")
	}
	return d.parse(s)
}

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// DedupKey identifies "the same call" for duplicate-request prevention:
// the app, the API and the call's canonical form (CanonicalJSON of the
// body, or sorted parameters), hashed so the table keeps no payload.
func (d Definition) DedupKey(appKey string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(appKey))
	h.Write([]byte{0})
	h.Write([]byte(d.Code))
	h.Write([]byte{0})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// UndeclaredErrorCode replaces a handler's business error code that the
// definition does not declare: clients may rely on the documented list.
const UndeclaredErrorCode = "asyncgate.undeclared_error"

// BusinessError returns the sub_code/sub_msg an item failure is recorded
// with: as given when the definition declares no error codes or declares
// this one, else UndeclaredErrorCode with the original kept in the message.
func (d Definition) BusinessError(code, msg string) (string, string) {
	if len(d.ErrorCodes) == 0 || strings.HasPrefix(code, "asyncgate.") {
		return code, msg
	}
	for _, e := range d.ErrorCodes {
		if e.Code == code {
			return code, msg
		}
	}
	return UndeclaredErrorCode, fmt.Sprintf("%s: %s (not an error code API %s declares)", code, msg, d.Code)
}
