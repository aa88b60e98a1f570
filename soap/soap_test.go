package soap

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
)

const demoNS = "http://asyncgate.example/ws/demo_order"

// webServices returns the demo-like WebService and a second one that differs
// in every field.
func webServices() (demo, other catalog.WebService) {
	return catalog.WebService{Namespace: demoNS, InputParam: "requestJson", OutputParam: "resultJson", WSDLMethod: "batchSave"},
		catalog.WebService{Namespace: "urn:example:inventory", InputParam: "in", OutputParam: "out", WSDLMethod: "queryStock"}
}

// anyElem decodes any XML independently of the package's own parser.
type anyElem struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []anyElem  `xml:",any"`
}

// bodyEntry unmarshals a SOAP 1.1 envelope and returns the Body's first element.
func bodyEntry(t *testing.T, b []byte) anyElem {
	t.Helper()
	var env anyElem
	require.NoError(t, xml.Unmarshal(b, &env), "%s", b)
	require.Equal(t, xml.Name{Space: nsEnvelope, Local: "Envelope"}, env.XMLName)
	require.Len(t, env.Nodes, 1)
	require.Equal(t, xml.Name{Space: nsEnvelope, Local: "Body"}, env.Nodes[0].XMLName)
	require.Len(t, env.Nodes[0].Nodes, 1)
	return env.Nodes[0].Nodes[0]
}

func TestOperationName(t *testing.T) {
	t.Parallel()
	demo, other := webServices()
	for _, tc := range []struct {
		ws   catalog.WebService
		op   Op
		want string
	}{
		{demo, OpSubmit, "batchSave"},
		{demo, OpCheckStatus, "batchSaveCheckStatus"},
		{demo, OpQueryResult, "batchSaveQueryResult"},
		{other, OpQueryResult, "queryStockQueryResult"},
		{demo, Op(7), ""},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, OperationName(tc.ws, tc.op))
		})
	}
}

// wsdlDoc is the part of a WSDL 1.1 document the tests check.
type wsdlDoc struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/wsdl/ definitions"`
	Name    string   `xml:"name,attr"`
	Target  string   `xml:"targetNamespace,attr"`
	TNS     string   `xml:"xmlns tns,attr"`
	Schema  struct {
		Target   string `xml:"targetNamespace,attr"`
		Qualfied string `xml:"elementFormDefault,attr"`
		Elements []struct {
			Name     string `xml:"name,attr"`
			Type     string `xml:"type,attr"`
			Children []struct {
				Name string `xml:"name,attr"`
				Type string `xml:"type,attr"`
			} `xml:"complexType>sequence>element"`
		} `xml:"element"`
	} `xml:"types>schema"`
	Messages []struct {
		Name string `xml:"name,attr"`
		Part struct {
			Name    string `xml:"name,attr"`
			Element string `xml:"element,attr"`
		} `xml:"part"`
	} `xml:"message"`
	PortType struct {
		Name string `xml:"name,attr"`
		Ops  []struct {
			Name   string     `xml:"name,attr"`
			Input  messageRef `xml:"input"`
			Output messageRef `xml:"output"`
		} `xml:"operation"`
	} `xml:"portType"`
	Binding struct {
		Type string `xml:"type,attr"`
		SOAP struct {
			Style     string `xml:"style,attr"`
			Transport string `xml:"transport,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ binding"`
		Ops []struct {
			Name   string `xml:"name,attr"`
			Action struct {
				SOAPAction string `xml:"soapAction,attr"`
			} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ operation"`
			Input struct {
				Body struct {
					Use string `xml:"use,attr"`
				} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ body"`
				Header struct {
					Message string `xml:"message,attr"`
					Part    string `xml:"part,attr"`
				} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ header"`
			} `xml:"input"`
		} `xml:"operation"`
	} `xml:"binding"`
	Port struct {
		Binding string `xml:"binding,attr"`
		Address struct {
			Location string `xml:"location,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ address"`
	} `xml:"service>port"`
}

type messageRef struct {
	Message string `xml:"message,attr"`
}

func TestWSDL(t *testing.T) {
	t.Parallel()
	demo, other := webServices()
	for _, tc := range []struct {
		code, name string
		ws         catalog.WebService
	}{
		{"demo_order", "demo_order", demo},
		{"inv.stock query/v2", "inv.stock_query_v2", other},
		{"9lives", "_9lives", other},
	} {
		t.Run(tc.code, func(t *testing.T) {
			t.Parallel()
			endpoint := "http://127.0.0.1:8080/kapi/ws/" + tc.code + "?a=1&b=<2>"
			b, err := WSDL(tc.code, tc.ws, endpoint)
			require.NoError(t, err)
			var doc wsdlDoc
			require.NoError(t, xml.Unmarshal(b, &doc), "%s", b)

			ns := tc.ws.Namespace
			require.Equal(t, tc.name, doc.Name)
			require.Equal(t, ns, doc.Target)
			require.Equal(t, ns, doc.TNS, "tns: prefix of the QNames")
			require.Equal(t, ns, doc.Schema.Target)
			require.Equal(t, "qualified", doc.Schema.Qualfied)

			var names []string
			for _, op := range ops {
				names = append(names, OperationName(tc.ws, op))
			}
			els := doc.Schema.Elements
			require.Len(t, els, 2*len(ops)+1)
			for i, name := range names {
				req, resp := els[2*i], els[2*i+1]
				require.Equal(t, name, req.Name)
				require.Len(t, req.Children, 1)
				require.Equal(t, tc.ws.InputParam, req.Children[0].Name)
				require.Equal(t, "xs:string", req.Children[0].Type)
				require.Equal(t, name+"Response", resp.Name)
				require.Len(t, resp.Children, 1)
				require.Equal(t, tc.ws.OutputParam, resp.Children[0].Name)
				require.Equal(t, "xs:string", resp.Children[0].Type)

				in, out := doc.Messages[2*i], doc.Messages[2*i+1]
				require.Equal(t, "tns:"+name, in.Part.Element)
				require.Equal(t, "tns:"+name+"Response", out.Part.Element)

				pt := doc.PortType.Ops[i]
				require.Equal(t, name, pt.Name)
				require.Equal(t, "tns:"+in.Name, pt.Input.Message)
				require.Equal(t, "tns:"+out.Name, pt.Output.Message)

				bo := doc.Binding.Ops[i]
				require.Equal(t, name, bo.Name)
				require.Equal(t, ns+"/"+name, bo.Action.SOAPAction)
				require.Equal(t, "literal", bo.Input.Body.Use)
				require.Equal(t, "tns:AccessTokenHeader", bo.Input.Header.Message)
				require.Equal(t, "access_token", bo.Input.Header.Part)
			}
			require.Equal(t, "access_token", els[len(els)-1].Name)
			require.Equal(t, "xs:string", els[len(els)-1].Type)
			header := doc.Messages[len(doc.Messages)-1]
			require.Equal(t, "AccessTokenHeader", header.Name)
			require.Equal(t, "tns:access_token", header.Part.Element)
			require.Len(t, doc.PortType.Ops, len(ops))
			require.Len(t, doc.Binding.Ops, len(ops))
			require.Equal(t, "tns:"+doc.PortType.Name, doc.Binding.Type)
			require.Equal(t, "document", doc.Binding.SOAP.Style)
			require.Equal(t, "http://schemas.xmlsoap.org/soap/http", doc.Binding.SOAP.Transport)
			require.Equal(t, endpoint, doc.Port.Address.Location)
		})
	}
}

func TestWSDLRefusesInvalidWebService(t *testing.T) {
	t.Parallel()
	demo, _ := webServices()
	for _, tc := range []struct {
		name string
		edit func(*catalog.WebService)
		want string
	}{
		{"empty namespace", func(ws *catalog.WebService) { ws.Namespace = "" }, "namespace is empty"},
		{"relative namespace", func(ws *catalog.WebService) { ws.Namespace = "demo_order" }, "not an absolute URI"},
		{"namespace with space", func(ws *catalog.WebService) { ws.Namespace = "http://x/a b" }, "not an absolute URI"},
		{"input param with space", func(ws *catalog.WebService) { ws.InputParam = "request json" }, "input_param"},
		{"empty output param", func(ws *catalog.WebService) { ws.OutputParam = "" }, "output_param"},
		{"output param starts with digit", func(ws *catalog.WebService) { ws.OutputParam = "1out" }, "output_param"},
		{"method with colon", func(ws *catalog.WebService) { ws.WSDLMethod = "a:b" }, "wsdl_method"},
		{"method clashes with header", func(ws *catalog.WebService) { ws.WSDLMethod = "access_token" }, "clashes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := demo
			tc.edit(&ws)
			_, err := WSDL("demo_order", ws, "http://localhost/ws")
			require.ErrorContains(t, err, tc.want)
			_, err = ParseRequest(ws, []byte(`<x/>`))
			var f *Fault
			require.ErrorAs(t, err, &f)
			require.Equal(t, FaultServer, f.Code)
			require.Contains(t, f.String, tc.want)
		})
	}
}

func TestParseRequest(t *testing.T) {
	t.Parallel()
	demo, other := webServices()
	const input = `{"data":[{"number":"A<1>&2","note":"]]>"}]}`
	escaped := escape(input)
	for _, tc := range []struct {
		name string
		ws   catalog.WebService
		body string
		want Request
	}{
		{"soapenv prefix with token header", demo, `<?xml version="1.0" encoding="utf-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="` + demoNS + `">
  <soapenv:Header><ns:access_token> tok-1 </ns:access_token></soapenv:Header>
  <soapenv:Body><ns:batchSave><ns:requestJson>` + escaped + `</ns:requestJson></ns:batchSave></soapenv:Body>
</soapenv:Envelope>`, Request{Op: OpSubmit, Input: input, AccessToken: "tok-1"}},
		{"SOAP-ENV prefix", demo, `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>` +
			`<m:batchSaveCheckStatus xmlns:m="` + demoNS + `"><m:requestJson>{"openApiReqId":"r1"}</m:requestJson></m:batchSaveCheckStatus>` +
			`</SOAP-ENV:Body></SOAP-ENV:Envelope>`, Request{Op: OpCheckStatus, Input: `{"openApiReqId":"r1"}`}},
		{"default namespaces", demo, `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">
  <Header><access_token xmlns="` + demoNS + `">tok-2</access_token></Header>
  <Body><batchSaveQueryResult xmlns="` + demoNS + `"><requestJson>{"openApiReqId":"r1","pageNo":1}</requestJson></batchSaveQueryResult></Body>
</Envelope>`, Request{Op: OpQueryResult, Input: `{"openApiReqId":"r1","pageNo":1}`, AccessToken: "tok-2"}},
		{"CDATA input, comments", demo, `<!-- call --><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` +
			`<batchSave xmlns="` + demoNS + `"><!-- json --><requestJson><![CDATA[` + `{"a":"<&>"}` + `]]></requestJson></batchSave>` +
			`</s:Body></s:Envelope>`, Request{Op: OpSubmit, Input: `{"a":"<&>"}`}},
		{"unqualified input param, ignored headers", other, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">` +
			`<s:Header><x:trace xmlns:x="urn:trace" s:mustUnderstand="0">1</x:trace><access_token>not in the namespace</access_token></s:Header>` +
			`<s:Body><q:queryStockQueryResult xmlns:q="urn:example:inventory"><in>{}</in></q:queryStockQueryResult></s:Body></s:Envelope>`,
			Request{Op: OpQueryResult, Input: `{}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRequest(tc.ws, []byte(tc.body))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseRequestRefuses(t *testing.T) {
	t.Parallel()
	demo, _ := webServices()
	envelope := func(body string) string {
		return `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="` + demoNS + `">` +
			`<soapenv:Body>` + body + `</soapenv:Body></soapenv:Envelope>`
	}
	call := func(op, param string) string {
		return envelope(`<ns:` + op + `><ns:requestJson>` + param + `</ns:requestJson></ns:` + op + `>`)
	}
	for _, tc := range []struct {
		name, body, code, want string
	}{
		{"not XML", `{"data":[]}`, FaultClient, "not a SOAP envelope"},
		{"malformed XML", `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>`, FaultClient, "malformed XML"},
		{"two roots", call("batchSave", "{}") + `<x/>`, FaultClient, "more than one root element"},
		{"not an envelope", `<ns:batchSave xmlns:ns="` + demoNS + `"><ns:requestJson>{}</ns:requestJson></ns:batchSave>`, FaultClient, "not a SOAP 1.1 envelope"},
		{"envelope without namespace", `<Envelope><Body/></Envelope>`, FaultClient, "not a SOAP 1.1 envelope"},
		{"SOAP 1.2", `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>`, FaultClient, "SOAP 1.2"},
		{"no Body", `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/></soapenv:Envelope>`, FaultClient, "no Body"},
		{"empty Body", envelope(" "), FaultClient, "Body is empty"},
		{"unknown operation", call("batchDelete", "{}"), FaultClient, "unknown operation {" + demoNS + "}batchDelete"},
		{"wrong namespace", `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
			`<batchSave xmlns="urn:other"><requestJson>{}</requestJson></batchSave></soapenv:Body></soapenv:Envelope>`, FaultClient, "wrong namespace"},
		{"missing input param", envelope(`<ns:batchSave><ns:request>{}</ns:request></ns:batchSave>`), FaultClient, "missing input parameter requestJson"},
		{"input param in other namespace", envelope(`<ns:batchSave><requestJson xmlns="urn:other">{}</requestJson></ns:batchSave>`), FaultClient, "missing input parameter requestJson"},
		{"input param with elements", call("batchSave", "<data>1</data>"), FaultClient, "not XML elements"},
		{"empty input param", call("batchSave", "  "), FaultClient, "requestJson is empty"},
		{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE x>` + call("batchSave", "{}"), FaultClient, "DOCTYPE"},
		{"external entity", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + call("batchSave", "&xxe;"), FaultClient, "DOCTYPE and entity declarations are not allowed"},
		{"undeclared entity", call("batchSave", "&xxe;"), FaultClient, "malformed XML"},
		{"non-UTF-8 encoding", `<?xml version="1.0" encoding="ISO-8859-1"?>` + call("batchSave", "{}"), FaultClient, "malformed XML"},
		{"mustUnderstand header", `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="` + demoNS + `">` +
			`<soapenv:Header><w:Security xmlns:w="urn:wsse" soapenv:mustUnderstand="1"/></soapenv:Header><soapenv:Body>` +
			`<ns:batchSave><ns:requestJson>{}</ns:requestJson></ns:batchSave></soapenv:Body></soapenv:Envelope>`, faultMustUnderstand, "{urn:wsse}Security"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRequest(demo, []byte(tc.body))
			var f *Fault
			require.ErrorAs(t, err, &f)
			require.Equal(t, tc.code, f.Code)
			require.Contains(t, f.String, tc.want)
			require.Equal(t, f.Code+": "+f.String, f.Error())
		})
	}
}

func TestResponse(t *testing.T) {
	t.Parallel()
	demo, other := webServices()
	for _, tc := range []struct {
		name   string
		ws     catalog.WebService
		op     Op
		output string
	}{
		{"envelope", demo, OpSubmit, `{"data":{"openApiReqId":"r1"},"errorCode":"0","message":"accepted","status":true}`},
		{"markup characters", demo, OpCheckStatus, `{"message":"a<b && c>d ]]> <![CDATA[x]]> '\"'"}`},
		{"whitespace and unicode", other, OpQueryResult, "{\"rows\":[\n\t{\"name\":\"金蝶 ✓\"}\r\n]}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := bodyEntry(t, Response(tc.ws, tc.op, tc.output))
			require.Equal(t, xml.Name{Space: tc.ws.Namespace, Local: OperationName(tc.ws, tc.op) + "Response"}, resp.XMLName)
			require.Len(t, resp.Nodes, 1)
			require.Equal(t, xml.Name{Space: tc.ws.Namespace, Local: tc.ws.OutputParam}, resp.Nodes[0].XMLName)
			require.Equal(t, tc.output, resp.Nodes[0].Text)
		})
	}
}

func TestFaultEnvelope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fault     Fault
		wantCode  string
		hasDetail bool
	}{
		{"client with detail", Fault{Code: FaultClient, String: "input is not JSON", Detail: `{"errorCode":"400","message":"a<b & ]]>","status":false}`}, "soap:Client", true},
		{"server", Fault{Code: FaultServer, String: "backend <down> & out"}, "soap:Server", false},
		{"empty code means server", Fault{String: "boom"}, "soap:Server", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := bodyEntry(t, tc.fault.Envelope())
			require.Equal(t, xml.Name{Space: nsEnvelope, Local: "Fault"}, f.XMLName)
			fields := map[string]anyElem{}
			for _, n := range f.Nodes {
				require.Empty(t, n.XMLName.Space, "SOAP 1.1 fault children are unqualified")
				fields[n.XMLName.Local] = n
			}
			require.Equal(t, tc.wantCode, fields["faultcode"].Text)
			prefix, _, _ := strings.Cut(tc.wantCode, ":")
			require.True(t, strings.Contains(string(tc.fault.Envelope()), `xmlns:`+prefix+`="`+nsEnvelope+`"`), "faultcode prefix is bound")
			require.Equal(t, tc.fault.String, fields["faultstring"].Text)
			detail, ok := fields["detail"]
			require.Equal(t, tc.hasDetail, ok)
			if ok {
				require.Len(t, detail.Nodes, 1)
				require.Equal(t, xml.Name{Space: nsFaultDetail, Local: "error"}, detail.Nodes[0].XMLName)
				require.Equal(t, tc.fault.Detail, detail.Nodes[0].Text)
			}
		})
	}
}
