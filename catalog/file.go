package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var appKeyRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// minSecretLen is the shortest app secret accepted.
const minSecretLen = 8

// LoadFile reads a catalog file; the extension (.yaml, .yml or .json) picks
// the format. See ParseFile.
func LoadFile(path string) (File, error) {
	var format string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		format = "yaml"
	case ".json":
		format = "json"
	default:
		return File{}, fmt.Errorf("%s: unsupported file extension (use .yaml, .yml or .json)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	return ParseFile(data, format)
}

// ParseFile decodes a catalog file strictly and checks it whole: unknown keys,
// wrong types, invalid definitions or apps, and duplicate codes, app keys,
// request paths or TOP methods are errors. Errors are *FieldError whose field
// names the position, e.g. `apis[2].params[0].type: unknown type "strng"`.
// The returned definitions have WithDefaults applied.
func ParseFile(data []byte, format string) (File, error) {
	var (
		f  File
		fe *FieldError
	)
	switch strings.ToLower(format) {
	case "yaml", "yml":
		f, fe = decodeYAMLFile(data)
	case "json":
		f, fe = decodeJSONFile(data)
	default:
		return File{}, fmt.Errorf("unsupported catalog file format %q (use yaml or json)", format)
	}
	if fe != nil {
		return File{}, fe
	}
	if fe := f.check(); fe != nil {
		return File{}, fe
	}
	return f, nil
}

// check validates every app and definition and looks for collisions.
func (f *File) check() *FieldError {
	keys := map[string]int{}
	for i, a := range f.Apps {
		at := fmt.Sprintf("apps[%d]", i)
		if fe := a.validate(); fe != nil {
			return fe.under(at)
		}
		if j, dup := keys[a.AppKey]; dup {
			return &FieldError{Field: at + ".app_key", Reason: fmt.Sprintf("duplicate of apps[%d]", j)}
		}
		keys[a.AppKey] = i
	}
	codes, paths, tops := map[string]int{}, map[string]int{}, map[string]int{}
	for i := range f.APIs {
		at := fmt.Sprintf("apis[%d]", i)
		d := f.APIs[i].WithDefaults()
		f.APIs[i] = d
		if fe := d.validate(); fe != nil {
			return fe.under(at)
		}
		if j, dup := codes[d.Code]; dup {
			return &FieldError{Field: at + ".code", Reason: fmt.Sprintf("duplicate of apis[%d]", j)}
		}
		codes[d.Code] = i
		if j, dup := paths[d.Path()]; dup {
			return &FieldError{Field: at, Reason: fmt.Sprintf("path %s is also used by apis[%d]", d.Path(), j)}
		}
		paths[d.Path()] = i
		if d.TopMethod != "" {
			if j, dup := tops[d.TopMethod]; dup {
				return &FieldError{Field: at + ".top_method", Reason: fmt.Sprintf("duplicate of apis[%d]", j)}
			}
			tops[d.TopMethod] = i
		}
	}
	return nil
}

func (a App) validate() *FieldError {
	switch {
	case !appKeyRe.MatchString(a.AppKey):
		return &FieldError{Field: "app_key", Reason: "must be 1 to 64 letters, digits, '_', '.' or '-'"}
	case a.Secret != "" && len(a.Secret) < minSecretLen: // empty keeps an existing app's secret
		return &FieldError{Field: "secret", Reason: fmt.Sprintf("must be at least %d characters", minSecretLen)}
	}
	switch a.NotifyFormat {
	case "", NotifyTOP, NotifyWebhook:
	default:
		return &FieldError{Field: "notify_format", Reason: "must be top or webhook"}
	}
	if a.NotifyURL != "" && !isAbsoluteHTTPURL(a.NotifyURL) {
		return &FieldError{Field: "notify_url", Reason: "must be an absolute http or https URL"}
	}
	for i, g := range a.Grants {
		if strings.TrimSpace(g) == "" {
			return &FieldError{Field: fmt.Sprintf("grants[%d]", i), Reason: "must not be empty"}
		}
	}
	if a.RateLimit < 0 {
		return &FieldError{Field: "rate_limit", Reason: "must not be negative"}
	}
	return nil
}

// ---- Strict decoding ----
//
// The standard decoders' strict modes report an unknown key or a wrong type
// without saying where ("field foo not found in type catalog.Param"). So the
// document is first walked against the File type, which names the position;
// the strict decode that follows is the backstop.

func decodeYAMLFile(data []byte) (File, *FieldError) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return File{}, &FieldError{Reason: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 {
		return File{}, &FieldError{Reason: "the file is empty"}
	}
	w := &walker{budget: walkBudget}
	if fe := w.walk(yamlNode{doc.Content[0]}, reflect.TypeFor[File](), ""); fe != nil {
		return File{}, documentError(fe)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return File{}, &FieldError{Reason: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return File{}, &FieldError{Reason: "invalid YAML: the file must hold exactly one document"}
	}
	return f, nil
}

func decodeJSONFile(data []byte) (File, *FieldError) {
	root, perr := parseJSON(data)
	if perr != nil {
		return File{}, perr.fieldError("invalid JSON: ")
	}
	w := &walker{budget: walkBudget}
	if fe := w.walk(jsonNode{root}, reflect.TypeFor[File](), ""); fe != nil {
		return File{}, documentError(fe)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return File{}, &FieldError{Reason: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	return f, nil
}

// documentError words an error about the document itself.
func documentError(fe *FieldError) *FieldError {
	if fe.Field == "" {
		return &FieldError{Reason: "the document " + fe.Reason + " with apps and apis"}
	}
	return fe
}

// walkBudget bounds the nodes visited, so YAML alias bombs cannot make the
// walk explode; past it the strict decoder alone judges the document.
const walkBudget = 1 << 20

type nodeShape int

const (
	shapeNull nodeShape = iota
	shapeScalar
	shapeList
	shapeMap
)

// docNode is a YAML or JSON document node, seen the same way by the walker.
type docNode interface {
	shape() nodeShape
	entries() []docEntry // for shapeMap
	elems() []docNode    // for shapeList
	decode(ptr any) error
}

type docEntry struct {
	key string
	val docNode
}

type yamlNode struct{ n *yaml.Node }

func (y yamlNode) resolved() *yaml.Node {
	n := y.n
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func (y yamlNode) shape() nodeShape {
	n := y.resolved()
	switch n.Kind {
	case yaml.MappingNode:
		return shapeMap
	case yaml.SequenceNode:
		return shapeList
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return shapeNull
		}
		return shapeScalar
	}
	return shapeNull
}

func (y yamlNode) entries() []docEntry {
	n := y.resolved()
	var out []docEntry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			// A merge key: the merged mappings' entries count as this one's.
			mv := yamlNode{v}
			switch mv.shape() {
			case shapeMap:
				out = append(out, mv.entries()...)
			case shapeList:
				for _, e := range mv.elems() {
					out = append(out, e.entries()...)
				}
			}
			continue
		}
		out = append(out, docEntry{key: k.Value, val: yamlNode{v}})
	}
	return out
}

func (y yamlNode) elems() []docNode {
	n := y.resolved()
	out := make([]docNode, len(n.Content))
	for i, c := range n.Content {
		out[i] = yamlNode{c}
	}
	return out
}

func (y yamlNode) decode(ptr any) error { return y.resolved().Decode(ptr) }

type jsonNode struct{ v *value }

func (j jsonNode) shape() nodeShape {
	switch j.v.kind {
	case kindNull:
		return shapeNull
	case kindArray:
		return shapeList
	case kindObject:
		return shapeMap
	}
	return shapeScalar
}

func (j jsonNode) entries() []docEntry {
	out := make([]docEntry, len(j.v.keys))
	for i, k := range j.v.keys {
		out[i] = docEntry{key: k, val: jsonNode{j.v.vals[i]}}
	}
	return out
}

func (j jsonNode) elems() []docNode {
	out := make([]docNode, len(j.v.arr))
	for i, e := range j.v.arr {
		out[i] = jsonNode{e}
	}
	return out
}

func (j jsonNode) decode(ptr any) error { return json.Unmarshal(j.v.appendJSON(nil), ptr) }

type walker struct{ budget int }

var durationType = reflect.TypeFor[Duration]()

// walk checks node against type t: known keys only (matched exactly, by the
// yaml/json tag name, which this package keeps identical) and scalars that
// decode into their field's type.
func (w *walker) walk(n docNode, t reflect.Type, at string) *FieldError {
	if w.budget--; w.budget < 0 {
		return nil
	}
	if n.shape() == shapeNull {
		return nil // null leaves the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		var d Duration
		if err := n.decode(&d); err != nil {
			return &FieldError{Field: at, Reason: durationReason(err)}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil // free-form (default, example)
	case reflect.Struct:
		if n.shape() != shapeMap {
			return &FieldError{Field: at, Reason: "must be an object"}
		}
		fields := fieldTypes(t)
		for _, e := range n.entries() {
			ft, ok := fields[e.key]
			if !ok {
				return &FieldError{Field: joinPath(at, e.key), Reason: "is not a known field"}
			}
			if fe := w.walk(e.val, ft, joinPath(at, e.key)); fe != nil {
				return fe
			}
		}
		return nil
	case reflect.Map:
		if n.shape() != shapeMap {
			return &FieldError{Field: at, Reason: "must be an object"}
		}
		for _, e := range n.entries() {
			if fe := w.walk(e.val, t.Elem(), joinPath(at, e.key)); fe != nil {
				return fe
			}
		}
		return nil
	case reflect.Slice:
		if n.shape() != shapeList {
			return &FieldError{Field: at, Reason: "must be a list"}
		}
		for i, e := range n.elems() {
			if fe := w.walk(e, t.Elem(), at+"["+strconv.Itoa(i)+"]"); fe != nil {
				return fe
			}
		}
		return nil
	}
	if n.shape() != shapeScalar || n.decode(reflect.New(t).Interface()) != nil {
		return &FieldError{Field: at, Reason: scalarReason(t.Kind())}
	}
	return nil
}

func durationReason(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "duration") && !strings.Contains(msg, "\n") {
		return strings.TrimPrefix(msg, "yaml: ")
	}
	return `must be a duration like "30s"`
}

func scalarReason(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be an integer"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	}
	return "has the wrong type"
}

// fieldTypes maps a struct's tag names to field types.
func fieldTypes(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
