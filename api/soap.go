package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/metrics"
	"github.com/asyncgate/asyncgate/requestid"
	"github.com/asyncgate/asyncgate/soap"
	"github.com/asyncgate/asyncgate/store"
)

// soapDefinition finds a callable definition with WebService info.
func (s *Server) soapDefinition(c *fiber.Ctx) (catalog.Definition, error) {
	def, ok := s.d.Catalog.ByCode(c.Params("code"))
	if !ok || !def.Callable() || def.WebService == nil {
		return catalog.Definition{}, notFound(msgAPINotFound)
	}
	c.Locals(localAPI, def.Code)
	return def, nil
}

// soapWSDL serves GET /kapi/ws/{code}?wsdl: the definition's WSDL 1.1.
func (s *Server) soapWSDL(c *fiber.Ctx) error {
	def, err := s.soapDefinition(c)
	if err != nil {
		return err
	}
	if !c.Request().URI().QueryArgs().Has("wsdl") {
		return badRequest("wsdl: GET serves the WSDL (?wsdl); call the operations with POST")
	}
	doc, err := soap.WSDL(def.Code, *def.WebService, s.d.PublicURL+"/kapi/ws/"+def.Code)
	if err != nil {
		return internal(fmt.Errorf("wsdl of %s: %w", def.Code, err))
	}
	c.Set(fiber.HeaderContentType, soap.ContentType)
	return c.Send(doc)
}

// soapCall serves POST /kapi/ws/{code}: a SOAP 1.1 envelope whose input
// parameter carries the JSON the REST protocol takes (the request body, or
// {"openApiReqId":…[, "pageNo", "pageSize"]}); the output parameter
// carries the JSON the REST protocol answers. Refusals are SOAP faults
// whose detail is that JSON.
func (s *Server) soapCall(c *fiber.Ctx) error {
	start := time.Now()
	def, err := s.soapDefinition(c)
	if err != nil {
		return s.soapFault(c, err)
	}
	req, err := soap.ParseRequest(*def.WebService, c.Body())
	if err != nil {
		return s.soapFault(c, err)
	}
	token := req.AccessToken
	if token == "" {
		token = accessToken(c)
	}
	app, err := s.auth.appFor(c.UserContext(), token)
	if err == nil {
		err = s.authorize(c, app, def)
	}
	if err != nil {
		return s.soapFault(c, err)
	}
	call := callRecord{s: s, c: c, start: start, app: app.AppKey, api: def.Code, protocol: "soap", kind: req.Op.String()}
	body := req.Input
	call.reqBody = &body

	var data any
	switch req.Op {
	case soap.OpSubmit:
		data, err = s.soapSubmit(c, app, def, []byte(req.Input), &call)
	default:
		data, err = s.soapQuery(c, app, def, req, &call)
	}
	if err != nil {
		call.done(err)
		return s.soapFault(c, err)
	}
	out := data
	if !def.Options.ReturnDataOnly {
		out = Envelope{Data: data, ErrorCode: CodeOK, Message: "ok", Status: true}
	}
	answer, err := json.Marshal(out)
	if err != nil {
		return s.soapFault(c, internal(err))
	}
	if req.Op != soap.OpSubmit { // submit is logged with the request
		s.callLog.add(call.entry(fiber.StatusOK, CodeOK, string(answer)))
	}
	c.Set(fiber.HeaderContentType, soap.ContentType)
	return c.Send(soap.Response(*def.WebService, req.Op, string(answer)))
}

func (s *Server) soapSubmit(c *fiber.Ctx, app catalog.App, def catalog.Definition, input []byte, call *callRecord) (any, error) {
	parsed, err := def.ParseBody(input)
	var fe *catalog.FieldError
	if errors.As(err, &fe) {
		return nil, badRequest("%s", fe.Error())
	}
	if err != nil {
		return nil, err
	}
	stored, err := s.accept(c.UserContext(), def, app, "kapi", parsed,
		func() ([]byte, error) { return catalog.CanonicalJSON(input) },
		func(id int64) store.CallLogEntry {
			body, _ := json.Marshal(receipt(def, id))
			return call.entry(fiber.StatusOK, CodeOK, string(body))
		})
	var dup *store.DuplicateError
	if errors.As(err, &dup) {
		return nil, duplicateError(def, dup)
	}
	if err != nil {
		return nil, err
	}
	s.logger(c).Info("request accepted", "open_api_req_id", stored.ID, "api", def.Code, "app_key", app.AppKey,
		"items", stored.Total, "protocol", "soap")
	return fiber.Map{"openApiReqId": itoa(stored.ID), "status": string(store.StatusNew)}, nil
}

// soapQueryInput is the JSON of the checkStatus and queryResult operations.
type soapQueryInput struct {
	OpenAPIReqID string `json:"openApiReqId"`
	PageNo       int    `json:"pageNo"`
	PageSize     int    `json:"pageSize"`
}

func (s *Server) soapQuery(c *fiber.Ctx, app catalog.App, def catalog.Definition, req soap.Request, call *callRecord) (any, error) {
	var in soapQueryInput
	if err := json.Unmarshal([]byte(req.Input), &in); err != nil {
		return nil, badRequest("%s: must be a JSON object like {\"openApiReqId\":\"…\"}", def.WebService.InputParam)
	}
	if in.OpenAPIReqID == "" {
		return nil, badRequest("openApiReqId: is required")
	}
	id, err := requestid.Parse(in.OpenAPIReqID)
	if err != nil {
		return nil, badRequest("openApiReqId: %s", err.Error())
	}
	call.requestID = id
	r, err := s.d.Store.GetRequest(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (r.AppKey != app.AppKey || r.APICode != def.Code)) {
		return nil, notFound("openApiReqId: no request " + in.OpenAPIReqID + " for this app and API")
	}
	if err != nil {
		return nil, internal(err)
	}
	if req.Op == soap.OpCheckStatus {
		return s.checkStatus(c.UserContext(), r)
	}
	pageNo, pageSize := in.PageNo, in.PageSize
	if pageNo == 0 {
		pageNo = 1
	}
	if pageSize == 0 {
		pageSize = defaultPageSize
	}
	if pageNo < 1 || pageNo > math.MaxInt32 || pageSize < 1 || pageSize > maxPageSize {
		return nil, badRequest("pageNo/pageSize: pageNo ≥ 1, pageSize from 1 to %d", maxPageSize)
	}
	return s.resultPage(c.UserContext(), r, def, pageNo, pageSize)
}

// soapFault answers an error as a SOAP 1.1 fault.
func (s *Server) soapFault(c *fiber.Ctx, err error) error {
	return writeSOAPFault(c, err, s.d.Logger, s.d.Metrics)
}

// writeSOAPFault renders err as a SOAP 1.1 fault (HTTP 500): soap:Client
// for the caller's mistakes, soap:Server for ours (logged, only a request
// id shown); the detail is the JSON error envelope REST would give.
func writeSOAPFault(c *fiber.Ctx, err error, log *slog.Logger, m *metrics.Metrics) error {
	api, _ := c.Locals(localAPI).(string)
	var f *soap.Fault
	if !errors.As(err, &f) {
		e := toError(err)
		code := soap.FaultClient
		if e.Status >= 500 {
			rid, _ := c.Locals(localRequestID).(string)
			log.ErrorContext(c.UserContext(), "request failed", "request_id", rid, "path", c.Path(), "error", err)
			code, e.Message = soap.FaultServer, msgInternalPrefix+rid
		}
		detail, _ := json.Marshal(Envelope{Data: e.Data, ErrorCode: e.Code, Message: e.Message, Status: false})
		f = &soap.Fault{Code: code, String: e.Message, Detail: string(detail)}
		c.Locals(localErrorCode, e.Code)
	}
	m.Refused(api, "soap", f.Code)
	c.Set(fiber.HeaderContentType, soap.ContentType)
	return c.Status(fiber.StatusInternalServerError).Send(f.Envelope())
}
