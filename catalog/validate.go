package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParsedRequest is a validated call, ready to be stored.
type ParsedRequest struct {
	// Header is the body's top-level fields except the items field, as a
	// compact JSON object ("{}" when none), keys in the order received.
	Header json.RawMessage
	// Items are the items as compact JSON objects: keys in the order received,
	// then the filled-in defaults in declaration order.
	Items []json.RawMessage
}

// FieldError names the offending field of a request (or of a definition).
type FieldError struct {
	Field  string // path like "data[3].entries[0].qty", "data", "" for the whole body
	Reason string // short human text: "is required", "must be a number", …
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// under returns the error with prefix prepended to its field path.
func (e *FieldError) under(prefix string) *FieldError {
	return &FieldError{Field: joinPath(prefix, e.Field), Reason: e.Reason}
}

func joinPath(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "", strings.HasPrefix(field, "["):
		return prefix + field
	default:
		return prefix + "." + field
	}
}

// MaxDepth is the deepest nesting of objects and arrays a request body (or
// any JSON the catalog parses) may have; it bounds the parser's recursion.
const MaxDepth = 32

// ParseBody validates a POST body against the definition and splits it into
// header and items. Every violation is a *FieldError; the first one is
// returned, in a stable order: body shape, items field, then item by item,
// parameters in declaration order, then undeclared fields by name.
func (d Definition) ParseBody(body []byte) (ParsedRequest, error) {
	root, perr := parseJSON(body)
	if perr != nil {
		return ParsedRequest{}, perr.fieldError("body is not a JSON object: ")
	}
	if root.kind != kindObject {
		return ParsedRequest{}, &FieldError{Reason: "body is not a JSON object: it is " + root.kindName()}
	}
	v := newValidator(d, false)

	if d.Batch.ItemsPath == "" {
		// The whole body is the one item.
		if fe := v.object(root, nil, v.top, true); fe != nil {
			return ParsedRequest{}, fe
		}
		return ParsedRequest{Header: json.RawMessage("{}"), Items: []json.RawMessage{root.appendJSON(nil)}}, nil
	}

	arr, fe := detachItems(root, d.Batch.ItemsPath)
	if fe != nil {
		return ParsedRequest{}, fe
	}
	maxItems := d.Batch.MaxItems
	if maxItems <= 0 {
		maxItems = DefaultMaxItems
	}
	switch n := len(arr.arr); {
	case n == 0:
		return ParsedRequest{}, &FieldError{Field: d.Batch.ItemsPath, Reason: "must have at least 1 item"}
	case n > maxItems:
		return ParsedRequest{}, &FieldError{Field: d.Batch.ItemsPath, Reason: fmt.Sprintf("must have at most %d items (got %d)", maxItems, n)}
	}
	base := &pathSeg{key: d.Batch.ItemsPath}
	items := make([]json.RawMessage, len(arr.arr))
	for i, it := range arr.arr {
		p := &pathSeg{parent: base, idx: i, isIdx: true}
		if it.kind != kindObject {
			return ParsedRequest{}, &FieldError{Field: p.String(), Reason: "must be an object"}
		}
		if fe := v.object(it, p, v.top, true); fe != nil {
			return ParsedRequest{}, fe
		}
		items[i] = it.appendJSON(nil)
	}
	return ParsedRequest{Header: root.appendJSON(nil), Items: items}, nil
}

// ParseQuery validates the query parameters of a GET call: together they are
// the one item. Values are coerced to the declared types ("12" is an integer,
// "true" a boolean, array and object parameters are JSON text); an empty value
// of a non-string parameter counts as absent. Undeclared parameters stay
// strings. Keys of the item are sorted (a map has no order), defaults appended.
func (d Definition) ParseQuery(params map[string]string) (ParsedRequest, error) {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	item := &value{kind: kindObject}
	for _, k := range keys {
		item.add(k, &value{kind: kindString, s: params[k]})
	}
	v := newValidator(d, true)
	if fe := v.object(item, nil, v.top, true); fe != nil {
		return ParsedRequest{}, fe
	}
	return ParsedRequest{Header: json.RawMessage("{}"), Items: []json.RawMessage{item.appendJSON(nil)}}, nil
}

// CanonicalJSON re-encodes any JSON value with object keys sorted (byte-wise,
// recursively), no insignificant whitespace, strings re-escaped minimally and
// numbers kept as their literal text, so bodies that differ only in key order
// or spacing compare equal. Duplicate keys are an error.
func CanonicalJSON(raw []byte) ([]byte, error) {
	v, perr := parseJSON(raw)
	if perr != nil {
		return nil, perr.fieldError("invalid JSON: ")
	}
	return v.appendCanonical(nil), nil
}

// detachItems finds the items array at a (possibly dotted) path and removes it
// from its parent object, so what remains of root is the header.
func detachItems(root *value, itemsPath string) (*value, *FieldError) {
	parts := strings.Split(itemsPath, ".")
	obj := root
	for i, part := range parts[:len(parts)-1] {
		j := obj.index(part)
		if j < 0 || obj.vals[j].kind == kindNull {
			return nil, &FieldError{Field: itemsPath, Reason: "is required"}
		}
		if obj.vals[j].kind != kindObject {
			return nil, &FieldError{Field: strings.Join(parts[:i+1], "."), Reason: "must be an object"}
		}
		obj = obj.vals[j]
	}
	last := parts[len(parts)-1]
	j := obj.index(last)
	if j < 0 || obj.vals[j].kind == kindNull {
		return nil, &FieldError{Field: itemsPath, Reason: "is required"}
	}
	arr := obj.vals[j]
	if arr.kind != kindArray {
		return nil, &FieldError{Field: itemsPath, Reason: "must be an array"}
	}
	obj.remove(j)
	return arr, nil
}

// pathSeg is a field path built only when an error needs it.
type pathSeg struct {
	parent *pathSeg
	key    string
	idx    int
	isIdx  bool
}

func (p *pathSeg) String() string {
	if p == nil {
		return ""
	}
	if p.isIdx {
		return p.parent.String() + "[" + strconv.Itoa(p.idx) + "]"
	}
	return joinPath(p.parent.String(), p.key)
}

// validator checks items against one definition's parameters.
type validator struct {
	reject bool
	query  bool // values are query strings to coerce
	top    []*Param
	rows   map[string][]*Param // level-1 array param name → its level-2 params
	// defaults caches each param's default encoded once as a JSON tree.
	defaults map[*Param]*value
}

func newValidator(d Definition, query bool) *validator {
	v := &validator{reject: d.Options.RejectUnknownParams, query: query, rows: map[string][]*Param{}}
	for i := range d.Params {
		p := &d.Params[i]
		if p.Level >= 2 && p.Parent != "" {
			v.rows[p.Parent] = append(v.rows[p.Parent], p)
		} else {
			v.top = append(v.top, p)
		}
	}
	return v
}

// object validates one item (topLevel) or entry row against params, fills in
// defaults and, in reject mode, refuses undeclared fields.
func (v *validator) object(obj *value, at *pathSeg, params []*Param, topLevel bool) *FieldError {
	for _, p := range params {
		field := func() string { return joinPath(at.String(), p.Name) }
		i := obj.index(p.Name)
		if i >= 0 && v.query && topLevel && obj.vals[i].kind == kindString && obj.vals[i].s == "" && !isTextType(p.Type) {
			obj.remove(i) // an empty query value of a typed parameter means "not given"
			i = -1
		}
		if i < 0 || obj.vals[i].kind == kindNull {
			if p.Required {
				return &FieldError{Field: field(), Reason: "is required"}
			}
			if i < 0 && p.Default != nil {
				dv, err := v.defaultValue(p)
				if err != nil {
					return &FieldError{Field: field(), Reason: "has an invalid default in the API definition"}
				}
				obj.add(p.Name, dv)
			}
			continue
		}
		val := obj.vals[i]
		if v.query && topLevel && val.kind == kindString {
			c, reason := coerce(p.Type, val.s)
			if reason != "" {
				return &FieldError{Field: field(), Reason: reason}
			}
			obj.vals[i], val = c, c
		}
		if reason := checkValue(p, val); reason != "" {
			return &FieldError{Field: field(), Reason: reason}
		}
		if children := v.rows[p.Name]; len(children) > 0 && topLevel && val.kind == kindArray {
			for j, row := range val.arr {
				rp := &pathSeg{parent: &pathSeg{parent: at, key: p.Name}, idx: j, isIdx: true}
				if row.kind != kindObject {
					return &FieldError{Field: rp.String(), Reason: "must be an object"}
				}
				if fe := v.object(row, rp, children, false); fe != nil {
					return fe
				}
			}
		}
	}
	if v.reject && len(params) > 0 {
		declared := make(map[string]bool, len(params))
		for _, p := range params {
			declared[p.Name] = true
		}
		var unknown []string
		for _, k := range obj.keys {
			if !declared[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return &FieldError{Field: joinPath(at.String(), unknown[0]), Reason: "is not a declared parameter"}
		}
	}
	return nil
}

func (v *validator) defaultValue(p *Param) (*value, error) {
	if dv, ok := v.defaults[p]; ok {
		return dv, nil
	}
	dv, err := encodeDefault(p.Default)
	if err != nil {
		return nil, err
	}
	if v.defaults == nil {
		v.defaults = map[*Param]*value{}
	}
	v.defaults[p] = dv // shared between items: trees are only read after this point
	return dv, nil
}

// encodeDefault turns a default from YAML/JSON (string, int, float64, bool,
// json.Number, slices, maps) into a JSON tree.
func encodeDefault(def any) (*value, error) {
	b, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	dv, perr := parseJSON(b)
	if perr != nil {
		return nil, perr.fieldError("")
	}
	return dv, nil
}

func isTextType(t ParamType) bool { return t == TypeString }

// coerce converts a query-string value to the declared type.
func coerce(t ParamType, s string) (*value, string) {
	switch t {
	case TypeInteger:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, reasonIntRange
			}
			return nil, "must be an integer"
		}
		return &value{kind: kindNumber, s: strconv.FormatInt(n, 10)}, ""
	case TypeNumber:
		if !isJSONNumber(s) {
			return nil, "must be a number"
		}
		return &value{kind: kindNumber, s: s}, ""
	case TypeBoolean:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, "must be a boolean"
		}
		return &value{kind: kindBool, b: b}, ""
	case TypeArray, TypeObject:
		v, perr := parseJSON([]byte(s))
		if perr != nil {
			return nil, "must be " + typeNoun(t) + " (as JSON text)"
		}
		return v, ""
	}
	return &value{kind: kindString, s: s}, ""
}

const reasonIntRange = "must be an integer that fits in 64 bits"

const (
	dateLayout     = "2006-01-02"
	datetimeLayout = "2006-01-02 15:04:05"
)

func typeNoun(t ParamType) string {
	switch t {
	case TypeString:
		return "a string"
	case TypeInteger:
		return "an integer"
	case TypeNumber:
		return "a number"
	case TypeBoolean:
		return "a boolean"
	case TypeDate:
		return "a date (yyyy-MM-dd)"
	case TypeDatetime:
		return "a datetime (yyyy-MM-dd HH:mm:ss or RFC 3339)"
	case TypeArray:
		return "an array"
	case TypeObject:
		return "an object"
	}
	return "a " + string(t)
}

// checkValue checks a present, non-null value against the parameter's type,
// max length and enum; it returns the reason, or "" when the value fits.
// Unknown types accept anything: Validate is where they are refused.
func checkValue(p *Param, v *value) string {
	wrong := "must be " + typeNoun(p.Type)
	switch p.Type {
	case TypeString:
		if v.kind != kindString {
			return wrong
		}
		if p.MaxLength > 0 {
			if n := utf8.RuneCountInString(v.s); n > p.MaxLength {
				return fmt.Sprintf("must be at most %d characters (got %d)", p.MaxLength, n)
			}
		}
		if len(p.Enum) > 0 && !containsString(p.Enum, v.s) {
			return "must be one of " + quoteList(p.Enum)
		}
	case TypeInteger:
		if v.kind != kindNumber {
			return wrong
		}
		n, res := intFromLiteral(v.s)
		switch res {
		case intNotIntegral:
			return wrong
		case intOutOfRange:
			return reasonIntRange
		}
		if len(p.Enum) > 0 && !containsInt(p.Enum, n) {
			return "must be one of " + strings.Join(p.Enum, ", ")
		}
	case TypeNumber:
		if v.kind != kindNumber {
			return wrong
		}
	case TypeBoolean:
		if v.kind != kindBool {
			return wrong
		}
	case TypeDate:
		if v.kind != kindString {
			return wrong
		}
		if _, err := time.Parse(dateLayout, v.s); err != nil {
			return wrong
		}
	case TypeDatetime:
		if v.kind != kindString {
			return wrong
		}
		if _, err := time.Parse(datetimeLayout, v.s); err != nil {
			if _, err := time.Parse(time.RFC3339, v.s); err != nil {
				return wrong
			}
		}
	case TypeArray:
		if v.kind != kindArray {
			return wrong
		}
	case TypeObject:
		if v.kind != kindObject {
			return wrong
		}
	}
	return ""
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// containsInt compares integers by value, so enum "7" matches 7 and 7.0.
func containsInt(list []string, n int64) bool {
	for _, e := range list {
		if m, err := strconv.ParseInt(strings.TrimSpace(e), 10, 64); err == nil && m == n {
			return true
		}
	}
	return false
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

type intResult int

const (
	intOK intResult = iota
	intNotIntegral
	intOutOfRange
)

// intFromLiteral reads a JSON number literal as an int64 when its value is
// integral ("12", "12.0", "1.2e1"), without floating point so no digit is
// lost and without big-number arithmetic a huge exponent could abuse.
func intFromLiteral(lit string) (int64, intResult) {
	s, neg := lit, false
	if strings.HasPrefix(s, "-") {
		s, neg = s[1:], true
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i+1:]
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	sig := strings.TrimRight(digits, "0")
	if sig == "" {
		return 0, intOK
	}
	for _, c := range []byte(sig) {
		if c < '0' || c > '9' {
			return 0, intNotIntegral
		}
	}
	e := int64(0)
	if exp != "" {
		var err error
		if e, err = strconv.ParseInt(exp, 10, 64); err != nil {
			if strings.HasPrefix(exp, "-") {
				return 0, intNotIntegral
			}
			return 0, intOutOfRange
		}
	}
	// The value is sig × 10^shift.
	const limit = 1 << 40 // far beyond any int64, far from overflowing shift
	switch {
	case e > limit:
		return 0, intOutOfRange
	case e < -limit:
		return 0, intNotIntegral
	}
	shift := e - int64(len(frac)) + int64(len(digits)-len(sig))
	if shift < 0 {
		return 0, intNotIntegral
	}
	if int64(len(sig))+shift > 19 {
		return 0, intOutOfRange
	}
	u, err := strconv.ParseUint(sig+strings.Repeat("0", int(shift)), 10, 64)
	if err != nil {
		return 0, intOutOfRange
	}
	switch {
	case neg && u <= 1<<63:
		return int64(-u), intOK // -(1<<63) wraps to MinInt64 as wanted
	case !neg && u <= 1<<63-1:
		return int64(u), intOK
	}
	return 0, intOutOfRange
}

// isJSONNumber reports whether s is exactly a JSON number literal.
func isJSONNumber(s string) bool {
	i, n := 0, len(s)
	digits := func() int {
		start := i
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < n && s[i] == '-' {
		i++
	}
	switch {
	case i < n && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < n && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == n
}

// ---- A small ordered JSON tree ----
//
// encoding/json's maps lose key order and its float64 loses digits; requests
// are stored as received, so the validator works on this tree instead.

type valueKind uint8

const (
	kindNull valueKind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

type value struct {
	kind valueKind
	b    bool
	s    string // string value, or number literal
	arr  []*value
	keys []string // object keys in order …
	vals []*value // … and their values
	idx  map[string]int
}

// indexThreshold is the object size above which lookups use a map.
const indexThreshold = 8

func (v *value) kindName() string {
	switch v.kind {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindArray:
		return "an array"
	}
	return "an object"
}

func (v *value) index(key string) int {
	if v.idx != nil {
		if i, ok := v.idx[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range v.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// add appends a key; the caller ensures it is not present yet.
func (v *value) add(key string, val *value) {
	v.keys = append(v.keys, key)
	v.vals = append(v.vals, val)
	if v.idx != nil {
		v.idx[key] = len(v.keys) - 1
	} else if len(v.keys) > indexThreshold {
		v.idx = make(map[string]int, len(v.keys)*2)
		for i, k := range v.keys {
			v.idx[k] = i
		}
	}
}

func (v *value) remove(i int) {
	v.keys = append(v.keys[:i:i], v.keys[i+1:]...)
	v.vals = append(v.vals[:i:i], v.vals[i+1:]...)
	if v.idx != nil {
		v.idx = make(map[string]int, len(v.keys))
		for j, k := range v.keys {
			v.idx[k] = j
		}
	}
}

// appendJSON appends the compact encoding, keys in their order.
func (v *value) appendJSON(b []byte) []byte { return v.appendTo(b, false) }

// appendCanonical appends the compact encoding with keys sorted.
func (v *value) appendCanonical(b []byte) []byte { return v.appendTo(b, true) }

func (v *value) appendTo(b []byte, sorted bool) []byte {
	switch v.kind {
	case kindNull:
		return append(b, "null"...)
	case kindBool:
		return strconv.AppendBool(b, v.b)
	case kindNumber:
		return append(b, v.s...)
	case kindString:
		return appendString(b, v.s)
	case kindArray:
		b = append(b, '[')
		for i, e := range v.arr {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendTo(b, sorted)
		}
		return append(b, ']')
	}
	order := make([]int, len(v.keys))
	for i := range order {
		order[i] = i
	}
	if sorted {
		sort.Slice(order, func(i, j int) bool { return v.keys[order[i]] < v.keys[order[j]] })
	}
	b = append(b, '{')
	for n, i := range order {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v.keys[i])
		b = append(b, ':')
		b = v.vals[i].appendTo(b, sorted)
	}
	return append(b, '}')
}

// appendString writes s as a JSON string, escaping only what JSON requires
// (the decoder already replaced invalid UTF-8 with U+FFFD).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// parseError is a parse failure; a duplicate key carries its path, built
// innermost-first as the recursion unwinds.
type parseError struct {
	segs   []string // reversed: innermost segment first
	reason string
	syntax bool
}

func (e *parseError) fieldError(syntaxPrefix string) *FieldError {
	if e.syntax {
		return &FieldError{Reason: syntaxPrefix + e.reason}
	}
	var sb strings.Builder
	for i := len(e.segs) - 1; i >= 0; i-- {
		sb.WriteString(e.segs[i])
	}
	return &FieldError{Field: strings.TrimPrefix(sb.String(), "."), Reason: e.reason}
}

// parseJSON reads exactly one JSON value (numbers as literals, depth at most
// MaxDepth, no duplicate keys) and nothing after it but whitespace.
func parseJSON(data []byte) (*value, *parseError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, &parseError{syntax: true, reason: "empty input"}
		}
		return nil, syntaxError(err, dec)
	}
	v, perr := parseValue(dec, tok, 1)
	if perr != nil {
		return nil, perr
	}
	off := dec.InputOffset()
	for ; off < int64(len(data)); off++ {
		switch data[off] {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return nil, &parseError{syntax: true, reason: fmt.Sprintf("unexpected data after the value at offset %d", off)}
	}
	return v, nil
}

func syntaxError(err error, dec *json.Decoder) *parseError {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		msg := strings.TrimPrefix(se.Error(), "json: ")
		if !strings.Contains(msg, "offset") {
			msg = fmt.Sprintf("%s at offset %d", msg, se.Offset)
		}
		return &parseError{syntax: true, reason: msg}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &parseError{syntax: true, reason: fmt.Sprintf("unexpected end of input at offset %d", dec.InputOffset())}
	}
	return &parseError{syntax: true, reason: strings.TrimPrefix(err.Error(), "json: ")}
}

func parseValue(dec *json.Decoder, tok json.Token, depth int) (*value, *parseError) {
	switch t := tok.(type) {
	case nil:
		return &value{kind: kindNull}, nil
	case bool:
		return &value{kind: kindBool, b: t}, nil
	case json.Number:
		return &value{kind: kindNumber, s: string(t)}, nil
	case string:
		return &value{kind: kindString, s: t}, nil
	case json.Delim:
		if depth > MaxDepth {
			return nil, &parseError{syntax: true, reason: fmt.Sprintf("nested more than %d levels deep", MaxDepth)}
		}
		if t == '[' {
			return parseArray(dec, depth)
		}
		if t == '{' {
			return parseObject(dec, depth)
		}
	}
	return nil, &parseError{syntax: true, reason: fmt.Sprintf("unexpected token %v at offset %d", tok, dec.InputOffset())}
}

func parseArray(dec *json.Decoder, depth int) (*value, *parseError) {
	v := &value{kind: kindArray}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err, dec)
		}
		e, perr := parseValue(dec, tok, depth+1)
		if perr != nil {
			if !perr.syntax {
				perr.segs = append(perr.segs, "["+strconv.Itoa(len(v.arr))+"]")
			}
			return nil, perr
		}
		v.arr = append(v.arr, e)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, syntaxError(err, dec)
	}
	return v, nil
}

func parseObject(dec *json.Decoder, depth int) (*value, *parseError) {
	v := &value{kind: kindObject}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err, dec)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &parseError{syntax: true, reason: fmt.Sprintf("object key expected at offset %d", dec.InputOffset())}
		}
		if tok, err = dec.Token(); err != nil {
			return nil, syntaxError(err, dec)
		}
		e, perr := parseValue(dec, tok, depth+1)
		if perr != nil {
			if !perr.syntax {
				perr.segs = append(perr.segs, "."+key)
			}
			return nil, perr
		}
		if v.index(key) >= 0 {
			// Two values for one field: the validator and the handler could
			// disagree about which one counts, so refuse.
			return nil, &parseError{segs: []string{"." + key}, reason: "appears more than once"}
		}
		v.add(key, e)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, syntaxError(err, dec)
	}
	return v, nil
}
