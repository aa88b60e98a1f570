package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/requestid"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/workflows"
)

// Query types on an API's URL (Kingdee's queryOpenApiType), plus cancel.
const (
	queryCheckStatus = "checkStatus"
	queryResult      = "queryResult"
	queryCancel      = "cancel"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// kapi serves /kapi/v2/{isv}/{appId}/{formId}/{serviceName}: submit, or with
// queryOpenApiType=checkStatus|queryResult|cancel and openApiReqId, ask
// about a request.
func (s *Server) kapi(c *fiber.Ctx) error {
	start := time.Now()
	def, ok := s.d.Catalog.ByPath(strings.TrimSuffix(c.Path(), "/"))
	if !ok || !def.Callable() {
		return notFound(msgAPINotFound)
	}
	c.Locals(localAPI, def.Code)
	if def.Options.ThirdPartyAuthOnly && len(c.Request().Header.Peek(fiber.HeaderCookie)) > 0 {
		return forbidden(fmt.Sprintf(msgThirdPartyOnly, def.Code))
	}
	app, err := s.auth.appFor(c.UserContext(), accessToken(c))
	if err != nil {
		return err
	}
	if err := s.authorize(c, app, def); err != nil {
		return err
	}
	kind := c.Query("queryOpenApiType")
	call := callRecord{s: s, c: c, start: start, app: app.AppKey, api: def.Code, kind: kind}
	switch kind {
	case "":
		return s.submit(c, app, def, &call)
	case queryCheckStatus, queryResult, queryCancel:
		err = s.query(c, app, def, kind, &call)
	default:
		err = badRequest("queryOpenApiType: must be %s, %s or %s", queryCheckStatus, queryResult, queryCancel)
	}
	call.done(err)
	return err
}

// authorize applies grants, the lifecycle status and the app's rate limit.
func (s *Server) authorize(c *fiber.Ctx, app catalog.App, def catalog.Definition) error {
	if !app.Granted(def.Code) {
		return forbidden(fmt.Sprintf("app %s is not granted API %s", app.AppKey, def.Code))
	}
	switch def.Status {
	case catalog.StatusTesting:
		if !app.Tester {
			return forbidden(fmt.Sprintf("API %s is in internal testing; only tester apps may call it", def.Code))
		}
	case catalog.StatusMaintenance:
		c.Set("Deprecation", "true")
		c.Set("Warning", `299 asyncgate "API `+def.Code+` is under maintenance and will be retired"`)
	}
	if !s.limiter.allow(app) {
		return &Error{Status: fiber.StatusTooManyRequests, Code: CodeRateLimited,
			Message: fmt.Sprintf("rate limit: app %s may make %d calls per second", app.AppKey, app.RateLimit)}
	}
	return nil
}

// duplicateError refuses a call equal to one accepted within the
// definition's dedup window; data carries the first call's openApiReqId.
func duplicateError(def catalog.Definition, dup *store.DuplicateError) *Error {
	return &Error{Status: fiber.StatusConflict, Code: CodeConflict,
		Message: fmt.Sprintf("duplicate request: the same call was accepted as openApiReqId %d within %s",
			dup.Original, def.Options.DedupWindow.D()),
		Data: fiber.Map{"openApiReqId": itoa(dup.Original)}}
}

func (s *Server) submit(c *fiber.Ctx, app catalog.App, def catalog.Definition, call *callRecord) error {
	call.kind = "submit"
	var (
		parsed catalog.ParsedRequest
		err    error
	)
	switch c.Method() {
	case fiber.MethodPost:
		if def.Method != fiber.MethodPost {
			err = &Error{Status: fiber.StatusMethodNotAllowed, Code: CodeMethod, Message: "method: API " + def.Code + " is called with GET"}
			break
		}
		parsed, err = def.ParseBody(c.Body())
	case fiber.MethodGet:
		if def.Method != fiber.MethodGet {
			err = &Error{Status: fiber.StatusMethodNotAllowed, Code: CodeMethod, Message: "method: API " + def.Code + " is called with POST"}
			break
		}
		params := map[string]string{}
		for k, v := range c.Queries() {
			if k != "access_token" {
				params[k] = v
			}
		}
		parsed, err = def.ParseQuery(params)
	default:
		err = &Error{Status: fiber.StatusMethodNotAllowed, Code: CodeMethod, Message: "method: use " + def.Method}
	}
	if err == nil {
		err = checkHeaders(c, def)
	}
	var fe *catalog.FieldError
	if errors.As(err, &fe) {
		err = badRequest("%s", fe.Error())
	}
	if err != nil {
		call.done(err)
		return err
	}

	var body []byte
	stored, err := s.accept(c.UserContext(), def, app, "kapi", parsed, canonicalCall(c), func(id int64) store.CallLogEntry {
		body, _ = json.Marshal(receipt(def, id))
		return call.entry(fiber.StatusOK, CodeOK, string(body))
	})
	var dup *store.DuplicateError
	if errors.As(err, &dup) {
		err = duplicateError(def, dup)
		call.done(err)
	}
	if err != nil {
		return err
	}
	id := stored.ID
	s.logger(c).Info("request accepted", "open_api_req_id", stored.ID, "api", def.Code, "app_key", app.AppKey, "items", stored.Total)
	c.Set(fiber.HeaderLocation, statusURL(c, id))
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Status(fiber.StatusOK).Send(body)
}

// accept commits a validated call: the request, its items and the call-log
// line (built by logFor once the id is known) in one statement. Once it
// returns, the request will run; the dispatcher is woken to start it now.
//
// canonical is the call's canonical form; with the definition's
// duplicate-request prevention on, a call equal to one accepted within the
// window fails with *store.DuplicateError.
func (s *Server) accept(ctx context.Context, def catalog.Definition, app catalog.App, protocol string,
	parsed catalog.ParsedRequest, canonical func() ([]byte, error), logFor func(id int64) store.CallLogEntry) (store.Request, error) {
	var dedupKey string
	if def.Options.DedupEnabled {
		canon, err := canonical()
		if err != nil {
			return store.Request{}, internal(fmt.Errorf("canonical form: %w", err))
		}
		dedupKey = def.DedupKey(app.AppKey, canon)
	}
	for attempt := 0; ; attempt++ {
		id := s.d.IDs.Next()
		entry := logFor(id)
		stored, err := s.d.Store.CreateRequest(ctx, store.NewRequest{
			ID: id, APICode: def.Code, AppKey: app.AppKey, Protocol: protocol,
			Header: parsed.Header, Items: parsed.Items, WorkflowID: workflows.RequestWorkflowID(id), Log: &entry,
			DedupKey: dedupKey, DedupWindow: def.Options.DedupWindow.D(),
		})
		if errors.Is(err, store.ErrConflict) && attempt < 2 { // an id clash between processes: take another
			continue
		}
		var dup *store.DuplicateError
		if errors.As(err, &dup) {
			return store.Request{}, dup
		}
		if err != nil {
			return store.Request{}, internal(fmt.Errorf("store request: %w", err))
		}
		s.d.Metrics.Accepted(def.Code, protocol)
		s.d.Kick()
		return stored, nil
	}
}

// canonicalCall is a Kingdee call's canonical form: the JSON body with keys
// sorted, or the query parameters (sorted) of a GET call.
func canonicalCall(c *fiber.Ctx) func() ([]byte, error) {
	return func() ([]byte, error) {
		if c.Method() == fiber.MethodGet {
			params := map[string]string{}
			c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
				if string(k) != "access_token" {
					params[string(k)] = string(v)
				}
			})
			return json.Marshal(params) // map keys marshal sorted
		}
		return catalog.CanonicalJSON(c.Body())
	}
}

func receipt(def catalog.Definition, id int64) any {
	data := fiber.Map{"openApiReqId": strconv.FormatInt(id, 10), "status": string(store.StatusNew)}
	if def.Options.ReturnDataOnly {
		return data
	}
	msg := "accepted; poll with queryOpenApiType=checkStatus or queryResult"
	if def.Status == catalog.StatusMaintenance {
		msg += "; deprecated: API " + def.Code + " is under maintenance"
	}
	return Envelope{Data: data, ErrorCode: CodeOK, Message: msg, Status: true}
}

func statusURL(c *fiber.Ctx, id int64) string {
	return c.Path() + "?queryOpenApiType=" + queryCheckStatus + "&openApiReqId=" + strconv.FormatInt(id, 10)
}

// checkHeaders enforces the request headers a definition declares.
func checkHeaders(c *fiber.Ctx, def catalog.Definition) error {
	for _, h := range def.RequestHeaders {
		v := c.Get(h.Name)
		if v == "" && h.Required {
			return &catalog.FieldError{Field: "header " + h.Name, Reason: "is required"}
		}
		if v != "" && h.Value != "" && v != h.Value {
			return &catalog.FieldError{Field: "header " + h.Name, Reason: "must be " + strconv.Quote(h.Value)}
		}
	}
	return nil
}

func (s *Server) query(c *fiber.Ctx, app catalog.App, def catalog.Definition, kind string, call *callRecord) error {
	raw := c.Query("openApiReqId")
	if raw == "" {
		return badRequest("openApiReqId: is required")
	}
	id, err := requestid.Parse(raw)
	if err != nil {
		return badRequest("openApiReqId: %s", err.Error())
	}
	call.requestID = id
	r, err := s.d.Store.GetRequest(c.UserContext(), id)
	// Another app's request, or another API's, is answered as unknown.
	if errors.Is(err, store.ErrNotFound) || (err == nil && (r.AppKey != app.AppKey || r.APICode != def.Code)) {
		return notFound("openApiReqId: no request " + raw + " for this app and API")
	}
	if err != nil {
		return internal(err)
	}
	var data any
	switch kind {
	case queryCheckStatus:
		data, err = s.checkStatus(c.UserContext(), r)
	case queryResult:
		data, err = s.queryResult(c, r, def)
	case queryCancel:
		if c.Method() != fiber.MethodPost {
			return &Error{Status: fiber.StatusMethodNotAllowed, Code: CodeMethod, Message: "method: cancel with POST"}
		}
		data, err = s.cancel(c, r)
	}
	if err != nil {
		return err
	}
	if def.Options.ReturnDataOnly {
		return call.send(data)
	}
	return call.send(Envelope{Data: data, ErrorCode: CodeOK, Message: "ok", Status: true})
}

// StatusData is the data of a checkStatus answer.
type StatusData struct {
	OpenAPIReqID string `json:"openApiReqId"`
	Status       string `json:"status"`
	Total        int    `json:"total"`
	Finished     int    `json:"finished"`
	Succeeded    int    `json:"succeeded"`
	Failed       int    `json:"failed"`
	Canceled     int    `json:"canceled"`
	Percent      int    `json:"percent"`
	// Source says where the numbers came from: "workflow" (live query) or "table".
	Source string `json:"source"`
}

// checkStatus asks the running workflow for live progress and falls back
// to the table when the workflow cannot answer (not started, finished,
// Temporal unreachable).
func (s *Server) checkStatus(ctx context.Context, r store.Request) (StatusData, error) {
	out := StatusData{OpenAPIReqID: strconv.FormatInt(r.ID, 10), Status: string(r.Status), Total: r.Total, Source: "table"}
	switch {
	case r.Status.Final():
		out.Succeeded, out.Failed, out.Canceled = r.Succeeded, r.Failed, r.Canceled
	case r.Status == store.StatusDoing && s.d.Temporal != nil:
		// Both at once: the table is as fresh as the workflow (outcomes are
		// written before an activity completes), so a busy Temporal costs
		// at most the short query budget, not the query plus the count.
		type counted struct {
			p   store.Progress
			err error
		}
		table := make(chan counted, 1)
		go func() {
			p, err := s.d.Store.CountItems(ctx, r.ID)
			table <- counted{p, err}
		}()
		if p, err := s.liveProgress(ctx, r); err == nil {
			out.Succeeded, out.Failed, out.Canceled, out.Source = p.Succeeded, p.Failed, p.Canceled, "workflow"
			break
		}
		t := <-table
		if t.err != nil {
			return StatusData{}, internal(t.err)
		}
		out.Succeeded, out.Failed, out.Canceled = t.p.Succeeded, t.p.Failed, t.p.Canceled
	default:
		p, err := s.d.Store.CountItems(ctx, r.ID)
		if err != nil {
			return StatusData{}, internal(err)
		}
		out.Succeeded, out.Failed, out.Canceled = p.Succeeded, p.Failed, p.Canceled
	}
	out.Finished = out.Succeeded + out.Failed + out.Canceled
	if out.Total > 0 {
		out.Percent = int(math.Floor(float64(out.Finished) * 100 / float64(out.Total)))
	}
	return out, nil
}

func (s *Server) liveProgress(ctx context.Context, r store.Request) (workflows.Progress, error) {
	qctx, cancel := context.WithTimeout(ctx, s.d.StatusQueryTimeout)
	defer cancel()
	v, err := s.d.Temporal.QueryWorkflow(qctx, r.WorkflowID, "", workflows.ProgressQuery)
	if err != nil {
		return workflows.Progress{}, err
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		return workflows.Progress{}, err
	}
	return p, nil
}

// ResultItem is one item in a queryResult answer.
type ResultItem struct {
	Index    int             `json:"index"`
	Request  json.RawMessage `json:"request"`
	Success  bool            `json:"success"`
	Status   string          `json:"status"`
	Attempts int             `json:"attempts"`
	Result   json.RawMessage `json:"result,omitempty"`
	SubCode  string          `json:"sub_code,omitempty"`
	SubMsg   string          `json:"sub_msg,omitempty"`
}

// ResultData is the data of a queryResult answer; items only when finished.
type ResultData struct {
	OpenAPIReqID string       `json:"openApiReqId"`
	Status       string       `json:"status"`
	API          string       `json:"api,omitempty"`
	Total        int          `json:"total,omitempty"`
	Succeeded    int          `json:"succeeded,omitempty"`
	Failed       int          `json:"failed,omitempty"`
	Canceled     int          `json:"canceled,omitempty"`
	CreatedTime  string       `json:"createdTime,omitempty"`
	FinishedTime string       `json:"finishedTime,omitempty"`
	PageNo       int          `json:"pageNo,omitempty"`
	PageSize     int          `json:"pageSize,omitempty"`
	TotalPages   int          `json:"totalPages,omitempty"`
	Items        []ResultItem `json:"items,omitempty"`
}

// queryResult answers status only while unfinished and, when finished, the
// summary plus a page of items read from PostgreSQL (results outlive the
// workflow's retention, and a closed workflow needs no worker to answer).
func (s *Server) queryResult(c *fiber.Ctx, r store.Request, def catalog.Definition) (ResultData, error) {
	pageNo, err := intParam(c, "pageNo", 1, 1, math.MaxInt32)
	if err != nil {
		return ResultData{}, err
	}
	pageSize, err := intParam(c, "pageSize", defaultPageSize, 1, maxPageSize)
	if err != nil {
		return ResultData{}, err
	}
	return s.resultPage(c.UserContext(), r, def, pageNo, pageSize)
}

// resultPage is queryResult for a given page.
func (s *Server) resultPage(ctx context.Context, r store.Request, def catalog.Definition, pageNo, pageSize int) (ResultData, error) {
	out := ResultData{OpenAPIReqID: strconv.FormatInt(r.ID, 10), Status: string(r.Status)}
	if !r.Status.Final() {
		return out, nil
	}
	items, err := s.d.Store.ListItems(ctx, r.ID, (pageNo-1)*pageSize, pageSize)
	if err != nil {
		return out, internal(err)
	}
	out.API, out.Total, out.Succeeded, out.Failed, out.Canceled = def.Code, r.Total, r.Succeeded, r.Failed, r.Canceled
	out.CreatedTime = r.CreatedAt.UTC().Format(time.RFC3339Nano)
	if r.FinishedAt.Valid {
		out.FinishedTime = r.FinishedAt.Time.UTC().Format(time.RFC3339Nano)
	}
	out.PageNo, out.PageSize = pageNo, pageSize
	out.TotalPages = (r.Total + pageSize - 1) / pageSize
	out.Items = resultItems(def, items)
	return out, nil
}

// resultItems renders items for an answer, results masked as the
// definition says (stored results stay whole).
func resultItems(def catalog.Definition, items []store.Item) []ResultItem {
	out := make([]ResultItem, 0, len(items))
	for _, it := range items {
		ri := ResultItem{Index: it.Index, Request: json.RawMessage(def.MaskResult(it.Request)), Success: it.Status == store.ItemSucceeded,
			Status: string(it.Status), Attempts: it.Attempts, SubCode: it.SubCode, SubMsg: it.SubMsg}
		if it.Result.Valid {
			ri.Result = json.RawMessage(def.MaskResult(it.Result.JSONText))
		}
		out = append(out, ri)
	}
	return out
}

// cancel stops a request: one not started yet is canceled in the table at
// once; a running one has its workflow canceled (in-flight items finish or
// are canceled, the rest become canceled).
func (s *Server) cancel(c *fiber.Ctx, r store.Request) (StatusData, error) {
	ctx := c.UserContext()
	if !r.Status.Final() {
		updated, err := s.d.Store.RequestCancel(ctx, r.ID)
		if err != nil {
			return StatusData{}, internal(err)
		}
		r = updated
		if !r.Status.Final() && s.d.Temporal != nil {
			if err := s.d.Temporal.CancelWorkflow(ctx, r.WorkflowID, ""); err != nil {
				// The flag stays set; the dispatcher's sweep cancels it later.
				s.logger(c).Warn("cancel workflow", "open_api_req_id", r.ID, "error", err)
			}
		}
	}
	return s.checkStatus(ctx, r)
}

func intParam(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s: must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
