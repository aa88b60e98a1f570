package top

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strconv"
	"strings"
)

// Value is a node of a TOP response: Obj, List, Str, Int or Bool. One tree
// renders to both of TOP's formats, so JSON and XML answers cannot drift.
type Value interface{ isValue() }

// Field is one named member of an Obj.
type Field struct {
	Name  string
	Value Value
}

// Obj is an object with ordered fields.
type Obj []Field

// List is TOP's list: {"subtasks":{"subtask":[…]}} in JSON,
// <subtasks list="true"><subtask>…</subtask></subtasks> in XML.
type List struct {
	Item  string
	Items []Value
}

type (
	Str  string
	Int  int64
	Bool bool
)

func (Obj) isValue()  {}
func (List) isValue() {}
func (Str) isValue()  {}
func (Int) isValue()  {}
func (Bool) isValue() {}

// Format is a response format.
type Format string

const (
	FormatJSON Format = "json"
	FormatXML  Format = "xml"
)

// ParseFormat accepts json (default when empty) and xml.
func ParseFormat(s string) (Format, bool) {
	switch strings.ToLower(s) {
	case "", "json":
		return FormatJSON, true
	case "xml":
		return FormatXML, true
	}
	return "", false
}

// ContentType of f.
func (f Format) ContentType() string {
	if f == FormatXML {
		return "text/xml;charset=utf-8"
	}
	return "application/json;charset=utf-8"
}

// Encode renders {"root": v} or <root>v</root>.
func Encode(f Format, root string, v Value) []byte {
	var b bytes.Buffer
	if f == FormatXML {
		b.WriteString(`<?xml version="1.0" encoding="utf-8" ?>`)
		writeXML(&b, root, v)
		return b.Bytes()
	}
	b.WriteString(`{`)
	writeJSONString(&b, root)
	b.WriteByte(':')
	writeJSON(&b, v)
	b.WriteByte('}')
	return b.Bytes()
}

// ErrorResponse renders e as TOP's error_response.
func ErrorResponse(f Format, e *Error, requestID string) []byte {
	o := Obj{{"code", Int(e.Code)}, {"msg", Str(e.Msg())}}
	if e.SubCode != "" {
		o = append(o, Field{"sub_code", Str(e.SubCode)})
	}
	if e.SubMsg != "" {
		o = append(o, Field{"sub_msg", Str(e.SubMsg)})
	}
	if requestID != "" {
		o = append(o, Field{"request_id", Str(requestID)})
	}
	return Encode(f, "error_response", o)
}

// ResponseName is TOP's response element for a method:
// taobao.topats.result.get → topats_result_get_response.
func ResponseName(method string) string {
	return strings.ReplaceAll(strings.TrimPrefix(method, "taobao."), ".", "_") + "_response"
}

func writeJSON(b *bytes.Buffer, v Value) {
	switch v := v.(type) {
	case Obj:
		b.WriteByte('{')
		for i, f := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, f.Name)
			b.WriteByte(':')
			writeJSON(b, f.Value)
		}
		b.WriteByte('}')
	case List:
		b.WriteByte('{')
		writeJSONString(b, v.Item)
		b.WriteString(":[")
		for i, it := range v.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, it)
		}
		b.WriteString("]}")
	case Str:
		writeJSONString(b, string(v))
	case Int:
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case Bool:
		b.WriteString(strconv.FormatBool(bool(v)))
	default:
		b.WriteString("null")
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

func writeXML(b *bytes.Buffer, name string, v Value) {
	switch v := v.(type) {
	case List:
		b.WriteString("<" + name + ` list="true">`)
		for _, it := range v.Items {
			writeXML(b, v.Item, it)
		}
	case Obj:
		b.WriteString("<" + name + ">")
		for _, f := range v {
			writeXML(b, f.Name, f.Value)
		}
	default:
		b.WriteString("<" + name + ">")
		switch v := v.(type) {
		case Str:
			_ = xml.EscapeText(b, []byte(v))
		case Int:
			b.WriteString(strconv.FormatInt(int64(v), 10))
		case Bool:
			b.WriteString(strconv.FormatBool(bool(v)))
		}
	}
	b.WriteString("</" + name + ">")
}
