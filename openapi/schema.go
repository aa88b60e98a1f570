package openapi

import (
	"sort"
	"strconv"
	"strings"

	"github.com/asyncgate/asyncgate/catalog"
)

// Patterns of the text forms the gateway accepts (catalog.ParseBody).
const (
	// datetimePattern allows both forms of a datetime parameter:
	// "yyyy-MM-dd HH:mm:ss" and RFC 3339 (Go also accepts fractional seconds).
	datetimePattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2}|T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))$`
	reqIDPattern    = `^[0-9]{19}$`
)

func ref(name string) *schema { return &schema{Ref: "#/components/schemas/" + name} }

func int64p(n int64) *int64 { return &n }

func boolp(b bool) *bool { return &b }

// typeSchema maps a catalog type onto JSON Schema; note is what the reader
// must know beyond the type (the accepted text forms).
func typeSchema(t catalog.ParamType) (s *schema, note string) {
	switch t {
	case catalog.TypeString, catalog.TypeInteger, catalog.TypeNumber, catalog.TypeBoolean,
		catalog.TypeArray, catalog.TypeObject:
		return &schema{Type: string(t)}, ""
	case catalog.TypeDate:
		return &schema{Type: "string", Format: "date"}, "Date: yyyy-MM-dd."
	case catalog.TypeDatetime:
		return &schema{Type: "string", Pattern: datetimePattern},
			"Datetime: yyyy-MM-dd HH:mm:ss or RFC 3339 (2006-01-02T15:04:05+08:00)."
	}
	return &schema{}, "Type " + string(t) + "."
}

func joinText(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// splitParams separates item fields from entry-row fields the way the
// request validator does: level 2 with a parent describes that parent's rows.
func splitParams(params []catalog.Param) (top []catalog.Param, rows map[string][]catalog.Param) {
	rows = map[string][]catalog.Param{}
	for _, p := range params {
		if p.Level >= 2 && p.Parent != "" {
			rows[p.Parent] = append(rows[p.Parent], p)
		} else {
			top = append(top, p)
		}
	}
	return top, rows
}

// paramSchema describes one parameter; children are its entry-row fields.
// closed mirrors RejectUnknownParams: undeclared fields are refused.
func paramSchema(p catalog.Param, children []catalog.Param, closed bool) *schema {
	s, note := typeSchema(p.Type)
	s.Description = joinText(p.Description, note)
	if p.Type == catalog.TypeString && p.MaxLength > 0 {
		s.MaxLength = p.MaxLength
	}
	// The validator checks enums of strings and integers only.
	for _, e := range p.Enum {
		switch p.Type {
		case catalog.TypeString:
			s.Enum = append(s.Enum, e)
		case catalog.TypeInteger:
			if n, err := strconv.ParseInt(strings.TrimSpace(e), 10, 64); err == nil {
				s.Enum = append(s.Enum, n)
			}
		}
	}
	s.Default = p.Default
	if p.Example != nil {
		s.Examples = []any{p.Example}
	}
	if p.Type == catalog.TypeArray && len(children) > 0 {
		s.Items = objectSchema(children, nil, closed)
	}
	return s
}

// objectSchema is an item (or entry row) with the given fields.
func objectSchema(params []catalog.Param, rows map[string][]catalog.Param, closed bool) *schema {
	s := &schema{Type: "object", Properties: map[string]*schema{}}
	for _, p := range params {
		s.Properties[p.Name] = paramSchema(p, rows[p.Name], closed)
		if p.Required {
			s.Required = append(s.Required, p.Name)
		}
	}
	if closed && len(params) > 0 {
		s.AdditionalProperties = boolp(false)
	}
	return s
}

// itemSchema is one item of the API: its level-1 fields, rows nested.
func itemSchema(d catalog.Definition) *schema {
	top, rows := splitParams(d.Params)
	s := objectSchema(top, rows, d.Options.RejectUnknownParams)
	s.Description = "One item; each is processed, retried and answered on its own."
	return s
}

// bodySchema wraps the item array at the (possibly dotted) items path; the
// other top-level fields are the request header every item's handler sees.
func bodySchema(d catalog.Definition, item *schema) *schema {
	max := d.Batch.MaxItems
	if max <= 0 {
		max = catalog.DefaultMaxItems
	}
	s := &schema{Type: "array", Items: item, MinItems: 1, MaxItems: max,
		Description: "The items, 1 to " + strconv.Itoa(max) + "."}
	parts := strings.Split(d.Batch.ItemsPath, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		s = &schema{Type: "object", Properties: map[string]*schema{parts[i]: s}, Required: []string{parts[i]}}
	}
	s.Description = "Fields other than `" + d.Batch.ItemsPath + "` are the request header, handed to every item's handler."
	return s
}

// resultSchema describes an item's result from the return parameters, whose
// names are field paths ("trade.buyer_phone"); arrays on the way hold
// objects. Masked fields are strings: a masked number is no number.
func resultSchema(d catalog.Definition) *schema {
	params := append([]catalog.ReturnParam(nil), d.ReturnParams...)
	sort.SliceStable(params, func(i, j int) bool { // parents before their fields
		return strings.Count(params[i].Name, ".") < strings.Count(params[j].Name, ".")
	})
	root := &schema{Type: "object", Description: "The result of one item (" + d.Code + ")."}
	for _, r := range params {
		parts := strings.Split(r.Name, ".")
		parent := root
		for _, seg := range parts[:len(parts)-1] {
			parent = field(parent, seg)
		}
		s, note := typeSchema(r.Type)
		s.Description = joinText(r.Description, note)
		if r.Example != nil {
			s.Examples = []any{r.Example}
		}
		if d.Options.Masking && r.Mask != "" {
			masked := &schema{Type: "string"}
			if r.Type == catalog.TypeArray {
				s.Items = masked
			} else if r.Type != catalog.TypeObject {
				s = masked
			}
			s.Description = joinText(r.Description, "Masked ("+r.Mask+").")
		}
		container(parent).Properties[parts[len(parts)-1]] = s
	}
	return root
}

// container is the object schema holding the fields of s: s itself, or its
// items when s is an array.
func container(s *schema) *schema {
	if s.Type == "array" {
		if s.Items == nil {
			s.Items = &schema{Type: "object"}
		}
		s = s.Items
	}
	if s.Properties == nil {
		s.Properties = map[string]*schema{}
	}
	return s
}

// field returns the schema of field name in s, creating an object for an
// undeclared step of a path.
func field(s *schema, name string) *schema {
	c := container(s)
	if c.Properties[name] == nil {
		c.Properties[name] = &schema{Type: "object"}
	}
	return c.Properties[name]
}
