package soap

import (
	"bytes"
	"strings"
	"text/template"
	"unicode"

	"github.com/asyncgate/asyncgate/catalog"
)

// WSDL renders the WSDL 1.1 document of a definition: document/literal over
// a SOAP 1.1 binding, targetNamespace ws.Namespace, one portType with the
// three operations and one service port at endpoint. Every input may carry
// the optional access_token SOAP header. code names the portType, binding
// and service.
func WSDL(code string, ws catalog.WebService, endpoint string) ([]byte, error) {
	if err := validate(ws); err != nil {
		return nil, err
	}
	type opData struct{ Name, Action, Doc string }
	data := struct {
		Name, Code, NS, In, Out, Endpoint string
		Ops                               []opData
	}{
		Name: wsdlName(code), Code: code, NS: ws.Namespace, In: ws.InputParam, Out: ws.OutputParam, Endpoint: endpoint,
	}
	for _, op := range ops {
		name := OperationName(ws, op)
		data.Ops = append(data.Ops, opData{Name: name, Action: ws.Namespace + "/" + name, Doc: opDocs[op]})
	}
	var b bytes.Buffer
	if err := wsdlTemplate.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var opDocs = [...]string{
	OpSubmit:      `Submits an asynchronous request: the input is the request body JSON; the answer's data carries openApiReqId.`,
	OpCheckStatus: `Checks a request's progress: the input is {"openApiReqId":"…"}.`,
	OpQueryResult: `Queries a request's item results page by page: the input is {"openApiReqId":"…","pageNo":1,"pageSize":100}.`,
}

// wsdlName turns an API code into an XML name for the WSDL's components.
func wsdlName(code string) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.", r) {
			return r
		}
		return '_'
	}, code)
	if !isNCName(name) { // empty, or starts with a digit, '-' or '.'
		name = "_" + name
	}
	return name
}

// wsdlTemplate is the WSDL; names are checked XML names, everything else goes
// through x (escape).
var wsdlTemplate = template.Must(template.New("wsdl").Funcs(template.FuncMap{"x": escape}).Parse(strings.TrimLeft(`
<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="{{.Name}}" targetNamespace="{{x .NS}}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="{{x .NS}}">
  <wsdl:documentation>asyncgate API {{x .Code}}. {{.In}} carries the JSON input, {{.Out}} the JSON answer {"data":…,"errorCode":"0","message":"…","status":true}. The access token goes in the HTTP header access_token or the SOAP header access_token.</wsdl:documentation>
  <wsdl:types>
    <xs:schema targetNamespace="{{x .NS}}" elementFormDefault="qualified">
{{- range .Ops}}
      <xs:element name="{{.Name}}">
        <xs:complexType><xs:sequence><xs:element name="{{$.In}}" type="xs:string"/></xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="{{.Name}}Response">
        <xs:complexType><xs:sequence><xs:element name="{{$.Out}}" type="xs:string"/></xs:sequence></xs:complexType>
      </xs:element>
{{- end}}
      <xs:element name="access_token" type="xs:string"/>
    </xs:schema>
  </wsdl:types>
{{- range .Ops}}
  <wsdl:message name="{{.Name}}SoapIn"><wsdl:part name="parameters" element="tns:{{.Name}}"/></wsdl:message>
  <wsdl:message name="{{.Name}}SoapOut"><wsdl:part name="parameters" element="tns:{{.Name}}Response"/></wsdl:message>
{{- end}}
  <wsdl:message name="AccessTokenHeader"><wsdl:part name="access_token" element="tns:access_token"/></wsdl:message>
  <wsdl:portType name="{{.Name}}PortType">
{{- range .Ops}}
    <wsdl:operation name="{{.Name}}">
      <wsdl:documentation>{{x .Doc}}</wsdl:documentation>
      <wsdl:input message="tns:{{.Name}}SoapIn"/>
      <wsdl:output message="tns:{{.Name}}SoapOut"/>
    </wsdl:operation>
{{- end}}
  </wsdl:portType>
  <wsdl:binding name="{{.Name}}Binding" type="tns:{{.Name}}PortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{{- range .Ops}}
    <wsdl:operation name="{{.Name}}">
      <soap:operation soapAction="{{x .Action}}" style="document"/>
      <wsdl:input>
        <soap:body use="literal"/>
        <soap:header message="tns:AccessTokenHeader" part="access_token" use="literal" wsdl:required="false"/>
      </wsdl:input>
      <wsdl:output>
        <soap:body use="literal"/>
      </wsdl:output>
    </wsdl:operation>
{{- end}}
  </wsdl:binding>
  <wsdl:service name="{{.Name}}Service">
    <wsdl:port name="{{.Name}}Port" binding="tns:{{.Name}}Binding">
      <soap:address location="{{x .Endpoint}}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`, "\n")))
