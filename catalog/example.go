package catalog

import (
	"encoding/json"
	"strings"
)

// ExampleRequest is a call body filled with example data (Kingdee's
// "fill example data"): each parameter's example, else its default, else
// its first enum value, else a value of its type; entry rows get one
// example row. A batch API gets two items.
func (d Definition) ExampleRequest() json.RawMessage {
	v := newValidator(d, false)
	item := func(i int) *value { return d.exampleObject(v.top, v.rows, i) }
	if d.Batch.ItemsPath == "" {
		return item(0).appendJSON(nil)
	}
	body := &value{kind: kindObject}
	body.add(d.Batch.ItemsPath, &value{kind: kindArray, arr: []*value{item(0), item(1)}})
	return body.appendJSON(nil)
}

// ExampleResult is one item's result built from the return parameters
// (masked as answers are); nil when the definition declares none.
func (d Definition) ExampleResult() json.RawMessage {
	if len(d.ReturnParams) == 0 {
		return nil
	}
	obj := &value{kind: kindObject}
	for _, p := range d.ReturnParams {
		setPath(obj, strings.Split(p.Name, "."), exampleValue(p.Name, p.Type, p.Example, nil, nil, 0))
	}
	return d.MaskResult(obj.appendJSON(nil))
}

func (d Definition) exampleObject(params []*Param, rows map[string][]*Param, i int) *value {
	obj := &value{kind: kindObject}
	for _, p := range params {
		ex := p.Example
		if ex == nil {
			ex = p.Default
		}
		var row *value
		if children := rows[p.Name]; len(children) > 0 {
			row = d.exampleObject(children, nil, i)
		}
		v := exampleValue(p.Name, p.Type, ex, p.Enum, row, i)
		if r := []rune(v.s); v.kind == kindString && p.MaxLength > 0 && len(r) > p.MaxLength {
			v.s = string(r[:p.MaxLength])
		}
		obj.add(p.Name, v)
	}
	return obj
}

// exampleValue renders a given example, or invents one of the type; the
// i-th item varies its strings and numbers so the two items differ.
func exampleValue(name string, t ParamType, given any, enum []string, row *value, i int) *value {
	if given != nil {
		if v, err := encodeDefault(given); err == nil {
			return v
		}
	}
	n := []string{"1", "2"}[i%2]
	switch {
	case len(enum) > 0 && t == TypeString:
		return &value{kind: kindString, s: enum[0]}
	case len(enum) > 0 && (t == TypeInteger || t == TypeNumber):
		return &value{kind: kindNumber, s: enum[0]}
	}
	switch t {
	case TypeInteger:
		return &value{kind: kindNumber, s: n}
	case TypeNumber:
		return &value{kind: kindNumber, s: n + "0.5"}
	case TypeBoolean:
		return &value{kind: kindBool, b: true}
	case TypeDate:
		return &value{kind: kindString, s: "2026-01-0" + n}
	case TypeDatetime:
		return &value{kind: kindString, s: "2026-01-0" + n + " 12:00:00"}
	case TypeArray:
		if row != nil {
			return &value{kind: kindArray, arr: []*value{row}}
		}
		return &value{kind: kindArray}
	case TypeObject:
		return &value{kind: kindObject}
	}
	return &value{kind: kindString, s: name + "-" + n}
}

// setPath sets a dotted path in obj, creating objects on the way.
func setPath(obj *value, path []string, leaf *value) {
	for len(path) > 1 {
		i := obj.index(path[0])
		if i < 0 || obj.vals[i].kind != kindObject {
			child := &value{kind: kindObject}
			if i < 0 {
				obj.add(path[0], child)
			} else {
				obj.vals[i] = child
			}
			obj = child
		} else {
			obj = obj.vals[i]
		}
		path = path[1:]
	}
	if i := obj.index(path[0]); i >= 0 {
		obj.vals[i] = leaf
		return
	}
	obj.add(path[0], leaf)
}
