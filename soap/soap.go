// Package soap exposes an API definition's WebService info as SOAP 1.1: a
// document/literal WSDL 1.1 and the request, response and fault envelopes.
// Each operation has a single string parameter carrying the gateway's
// Kingdee-style JSON, so the SOAP layer is a thin wrapper around the REST
// semantics: the caller maps Request.Input to a REST call and its JSON answer
// back through Response.
package soap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/asyncgate/asyncgate/catalog"
)

// ContentType is the media type of SOAP 1.1 messages and of the WSDL.
const ContentType = "text/xml; charset=utf-8"

// Fault codes of SOAP 1.1 (prefix bound to the envelope namespace).
const (
	FaultClient         = "soap:Client"
	FaultServer         = "soap:Server"
	faultMustUnderstand = "soap:MustUnderstand"
)

const (
	nsEnvelope   = "http://schemas.xmlsoap.org/soap/envelope/"
	nsEnvelope12 = "http://www.w3.org/2003/05/soap-envelope"
	// nsFaultDetail qualifies the fault's detail entry: SOAP 1.1 wants
	// detail entries to be namespace-qualified elements, not bare text.
	nsFaultDetail = "urn:asyncgate:soap"
	// tokenElement is the optional SOAP header carrying the access token.
	tokenElement = "access_token"
)

// Op is one of the three operations every SOAP-exposed definition has.
type Op int

const (
	OpSubmit      Op = iota // submit a request (input: the request body JSON)
	OpCheckStatus           // input {"openApiReqId":"…"}
	OpQueryResult           // input {"openApiReqId":"…","pageNo":1,"pageSize":100}
)

var (
	ops      = [...]Op{OpSubmit, OpCheckStatus, OpQueryResult}
	opSuffix = [...]string{"", "CheckStatus", "QueryResult"}
	opNames  = [...]string{"submit", "checkStatus", "queryResult"}
)

func (o Op) String() string {
	if o < 0 || int(o) >= len(opNames) {
		return fmt.Sprintf("Op(%d)", int(o))
	}
	return opNames[o]
}

// OperationName is the WSDL operation (and request element) name of op:
// WSDLMethod, WSDLMethod+"CheckStatus" or WSDLMethod+"QueryResult". It is
// empty for an unknown op.
func OperationName(ws catalog.WebService, op Op) string {
	if op < 0 || int(op) >= len(opSuffix) {
		return ""
	}
	return ws.WSDLMethod + opSuffix[op]
}

// validate checks that ws can be rendered: its names become XML element
// names and its namespace the WSDL's targetNamespace.
func validate(ws catalog.WebService) error {
	u, err := url.Parse(ws.Namespace)
	switch {
	case ws.Namespace == "":
		return fmt.Errorf("webservice namespace is empty")
	case err != nil || u.Scheme == "" || strings.ContainsFunc(ws.Namespace, unicode.IsSpace):
		return fmt.Errorf("webservice namespace %q is not an absolute URI", ws.Namespace)
	}
	for _, f := range []struct{ field, v string }{
		{"input_param", ws.InputParam}, {"output_param", ws.OutputParam}, {"wsdl_method", ws.WSDLMethod},
	} {
		if !isNCName(f.v) {
			return fmt.Errorf("webservice %s %q is not a valid XML name", f.field, f.v)
		}
	}
	if ws.WSDLMethod == tokenElement {
		return fmt.Errorf("webservice wsdl_method %q clashes with the %s header element", ws.WSDLMethod, tokenElement)
	}
	return nil
}

// isNCName reports whether s is a non-colonized XML name.
func isNCName(s string) bool {
	for i, r := range s {
		ok := unicode.IsLetter(r) || r == '_' ||
			i > 0 && (unicode.IsDigit(r) || r == '-' || r == '.' || unicode.In(r, unicode.Mn, unicode.Mc))
		if !ok {
			return false
		}
	}
	return s != ""
}

// escape returns s escaped for XML text and attribute values.
func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// Request is a parsed SOAP call.
type Request struct {
	Op          Op
	Input       string // the JSON text of the input parameter
	AccessToken string // from the SOAP header; empty when absent
}

// Response renders the SOAP 1.1 response envelope carrying output (the JSON
// answer) in <OperationName>Response/<OutputParam>. ws must be valid, as
// ParseRequest has checked for the request being answered.
func Response(ws catalog.WebService, op Op, output string) []byte {
	name := OperationName(ws, op) + "Response"
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<soap:Envelope xmlns:soap="%s"><soap:Body><%s xmlns="%s"><%s>`,
		nsEnvelope, name, escape(ws.Namespace), ws.OutputParam)
	b.WriteString(escape(output))
	fmt.Fprintf(&b, `</%s></%s></soap:Body></soap:Envelope>`, ws.OutputParam, name)
	return b.Bytes()
}

// Fault is a SOAP 1.1 fault. Over HTTP it is sent with status 500.
type Fault struct {
	Code   string // FaultClient or FaultServer (soap:MustUnderstand for unknown mandatory headers)
	String string // faultstring: what went wrong
	Detail string // optional, e.g. the JSON error envelope
}

func (f *Fault) Error() string { return f.Code + ": " + f.String }

// Envelope renders the fault as a SOAP 1.1 envelope; Detail, when set, is the
// text of a <detail><error xmlns="urn:asyncgate:soap"> entry.
func (f *Fault) Envelope() []byte {
	code := f.Code
	if code == "" {
		code = FaultServer
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<soap:Envelope xmlns:soap="%s"><soap:Body><soap:Fault><faultcode>%s</faultcode><faultstring>%s</faultstring>`,
		nsEnvelope, escape(code), escape(f.String))
	if f.Detail != "" {
		fmt.Fprintf(&b, `<detail><error xmlns="%s">%s</error></detail>`, nsFaultDetail, escape(f.Detail))
	}
	b.WriteString(`</soap:Fault></soap:Body></soap:Envelope>`)
	return b.Bytes()
}

func clientFault(format string, args ...any) *Fault {
	return &Fault{Code: FaultClient, String: fmt.Sprintf(format, args...)}
}
