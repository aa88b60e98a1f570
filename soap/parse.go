package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/asyncgate/asyncgate/catalog"
)

// ParseRequest reads a SOAP 1.1 envelope: the operation is the Body's first
// element (its local name and namespace must match ws), Input the text of its
// InputParam child and AccessToken the optional <access_token> header in
// ws.Namespace. Errors are *Fault: Client faults for a bad message, a Server
// fault when ws itself is invalid. DOCTYPE and entity declarations are
// refused (no XXE, no entity expansion); the caller bounds the body's size.
func ParseRequest(ws catalog.WebService, body []byte) (Request, error) {
	if err := validate(ws); err != nil {
		return Request{}, &Fault{Code: FaultServer, String: err.Error()}
	}
	root, err := parseTree(body)
	if err != nil {
		return Request{}, err
	}
	switch {
	case root.name.Local == "Envelope" && root.name.Space == nsEnvelope12:
		return Request{}, clientFault("SOAP 1.2 envelope (namespace %s) is not supported: send SOAP 1.1 (namespace %s)", nsEnvelope12, nsEnvelope)
	case root.name != xml.Name{Space: nsEnvelope, Local: "Envelope"}:
		return Request{}, clientFault("not a SOAP 1.1 envelope: root element is %s, want Envelope in namespace %s", qname(root.name), nsEnvelope)
	}
	sb := root.child(nsEnvelope, "Body")
	if sb == nil {
		return Request{}, clientFault("SOAP envelope has no Body")
	}
	if len(sb.children) == 0 {
		return Request{}, clientFault("SOAP Body is empty: expected an operation element")
	}
	call := sb.children[0]
	var req Request
	names := make([]string, len(ops))
	found := false
	for i, op := range ops {
		names[i] = OperationName(ws, op)
		if call.name.Local == names[i] {
			req.Op, found = op, true
		}
	}
	switch {
	case !found:
		return Request{}, clientFault("unknown operation %s: this service has %s", qname(call.name), strings.Join(names, ", "))
	case call.name.Space != ws.Namespace:
		return Request{}, clientFault("operation %s is in the wrong namespace: want %s", qname(call.name), ws.Namespace)
	}

	// The schema says qualified, but unqualified parameters are a common
	// client mistake that is unambiguous here, so accept both.
	in := call.child(ws.Namespace, ws.InputParam)
	if in == nil {
		in = call.child("", ws.InputParam)
	}
	switch {
	case in == nil:
		return Request{}, clientFault("missing input parameter %s in %s", ws.InputParam, call.name.Local)
	case len(in.children) > 0:
		return Request{}, clientFault("input parameter %s must contain JSON text, not XML elements", ws.InputParam)
	case strings.TrimSpace(string(in.text)) == "":
		return Request{}, clientFault("input parameter %s is empty: it must contain JSON", ws.InputParam)
	}
	req.Input = string(in.text)

	if sh := root.child(nsEnvelope, "Header"); sh != nil {
		for _, h := range sh.children {
			if h.name == (xml.Name{Space: ws.Namespace, Local: tokenElement}) {
				req.AccessToken = strings.TrimSpace(string(h.text))
				continue
			}
			// SOAP 1.1 §4.2.3: a mandatory header we do not process must fault.
			if mu := h.attr(nsEnvelope, "mustUnderstand"); mu == "1" || mu == "true" {
				return Request{}, &Fault{Code: faultMustUnderstand, String: "header " + qname(h.name) + " is marked mustUnderstand but is not understood"}
			}
		}
	}
	return req, nil
}

// node is an element of the parsed message: just what ParseRequest needs.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	text     []byte // character data directly inside the element
	children []*node
}

func (n *node) child(space, local string) *node {
	for _, c := range n.children {
		if c.name.Space == space && c.name.Local == local {
			return c
		}
	}
	return nil
}

func (n *node) attr(space, local string) string {
	for _, a := range n.attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// qname renders a name as {namespace}local for messages.
func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// parseTree reads body into a namespace-resolved element tree. It refuses
// directives (<!DOCTYPE>, <!ENTITY>): SOAP 1.1 forbids a DTD and refusing it
// outright rules out entity tricks whatever the parser would do with them.
func parseTree(body []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var root *node
	var stack []*node
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if root == nil {
				return nil, clientFault("not a SOAP envelope: no XML element")
			}
			return root, nil
		}
		if err != nil {
			return nil, clientFault("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, clientFault("DOCTYPE and entity declarations are not allowed in SOAP messages")
		case xml.StartElement:
			n := &node{name: t.Name, attrs: t.Attr}
			switch {
			case len(stack) > 0:
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			case root != nil:
				return nil, clientFault("malformed XML: more than one root element")
			default:
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.text = append(p.text, t...)
			}
		}
	}
}
