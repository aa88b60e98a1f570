package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/top"
)

// TOP's ATS methods served by the gateway itself; every other method is a
// catalog definition's top_method.
const (
	topResultGet  = "taobao.topats.result.get"
	topTaskDelete = "taobao.topats.task.delete"
	topTasksGet   = "taobao.topats.tasks.get"
)

// topSystemParams are TOP's protocol parameters: signed, never business input.
var topSystemParams = map[string]bool{
	"method": true, "app_key": true, "timestamp": true, "v": true, "sign_method": true, "sign": true,
	"format": true, "session": true, "partner_id": true, "simplify": true, "target_app_key": true,
}

const (
	topTasksMaxSpan     = 31 * 24 * time.Hour
	topTasksDefaultPage = 40
	topTasksMaxPage     = 100
)

// topCall is one /router/rest call being served.
type topCall struct {
	s      *Server
	c      *fiber.Ctx
	params top.Params
	format top.Format
	method string
	app    catalog.App
	rec    callRecord
}

// topRouter serves /router/rest as TOP does: system parameters and
// business parameters from the query, a urlencoded or multipart form, or
// both; a signature over all of them; answers in JSON or XML; every
// low-level error as error_response, without creating a task.
func (s *Server) topRouter(c *fiber.Ctx) error {
	t := &topCall{s: s, c: c, params: topParams(c), format: top.FormatJSON}
	t.rec = callRecord{s: s, c: c, start: time.Now(), protocol: "top", kind: "top"}
	redacted := redactParams(t.params)
	t.rec.reqBody = &redacted
	err := t.serve()
	if err != nil {
		t.logError(err)
	}
	return err
}

func (t *topCall) serve() error {
	f, ok := top.ParseFormat(t.params["format"])
	if !ok {
		return top.NewError(top.CodeInvalidFormat, "isv.invalid-parameter:format", "format must be json or xml")
	}
	t.format = f
	t.c.Locals(localTopFormat, f)
	if err := t.authenticate(); err != nil {
		return err
	}
	switch t.method {
	case topResultGet:
		return t.resultGet()
	case topTaskDelete:
		return t.taskDelete()
	case topTasksGet:
		return t.tasksGet()
	}
	return t.createTask()
}

// authenticate checks the system parameters and the signature, in the
// order TOP reports them, and applies the app's rate limit.
func (t *topCall) authenticate() error {
	p := t.params
	t.method = p["method"]
	if t.method == "" {
		return top.NewError(top.CodeMissingMethod, "", "")
	}
	t.rec.kind = t.method
	appKey := p["app_key"]
	if appKey == "" {
		return top.NewError(top.CodeMissingAppKey, "", "")
	}
	app, err := t.s.auth.app(t.c.UserContext(), appKey)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status < 500 {
			return top.NewError(top.CodeInvalidAppKey, "", "")
		}
		return err
	}
	if p["sign"] == "" {
		return top.NewError(top.CodeMissingSignature, "", "")
	}
	m, ok := top.ParseSignMethod(p["sign_method"])
	if !ok {
		return top.NewError(top.CodeInvalidSignature, "isv.invalid-parameter:sign_method",
			"sign_method must be md5, hmac or hmac-sha256")
	}
	if _, terr := top.ParseTimestamp(p["timestamp"], time.Now()); terr != nil {
		return terr
	}
	switch p["v"] {
	case "":
		return top.NewError(top.CodeMissingVersion, "", "")
	case "2.0":
	default:
		return top.NewError(top.CodeInvalidVersion, "isv.invalid-parameter:v", "v must be 2.0")
	}
	verified := false
	for _, sec := range app.Secrets(time.Now()) {
		verified = verified || top.Verify(p, sec, m)
	}
	if !verified {
		return top.NewError(top.CodeInvalidSignature, "", "")
	}
	t.app, t.rec.app = app, app.AppKey
	if !t.s.limiter.allow(app) {
		return top.NewError(top.CodeCallLimited, "accesscontrol.limited-by-app-access-count",
			fmt.Sprintf("app %s may make %d calls per second", app.AppKey, app.RateLimit))
	}
	return nil
}

// createTask runs a task-creating method: the catalog definition whose
// top_method it is, its lists split into items.
func (t *topCall) createTask() error {
	def, ok := t.s.d.Catalog.ByTopMethod(t.method)
	if !ok || !def.Callable() {
		return top.NewError(top.CodeInvalidMethod, "", "")
	}
	t.rec.api = def.Code
	t.c.Locals(localAPI, def.Code)
	if !t.app.Granted(def.Code) || (def.Status == catalog.StatusTesting && !t.app.Tester) {
		return top.NewError(top.CodeInsufficientISVPerms, "isv.permission-api-package-empty",
			fmt.Sprintf("app %s may not call %s", t.app.AppKey, t.method))
	}
	business := make(map[string]string, len(t.params))
	for k, v := range t.params {
		if !topSystemParams[k] {
			business[k] = v
		}
	}
	if def.Options.Masking {
		logged := maps.Clone(t.params)
		def.MaskParams(logged)
		redacted := redactParams(logged)
		t.rec.reqBody = &redacted
	}
	parsed, err := def.ParseTop(business)
	var fe *catalog.FieldError
	if errors.As(err, &fe) {
		name := fe.Field
		if i := strings.IndexAny(name, ".["); i > 0 {
			name = name[:i] // tids[3] → tids: TOP names parameters, not positions
		}
		if fe.Missing() {
			return top.MissingParam(name)
		}
		return top.NewError(top.CodeInvalidArguments, "isv.invalid-parameter:"+name, fe.Error())
	}
	if err != nil {
		return err
	}

	var body []byte
	canonical := func() ([]byte, error) { return json.Marshal(business) } // map keys marshal sorted
	stored, err := t.s.accept(t.c.UserContext(), def, t.app, "top", parsed, canonical, func(id int64) store.CallLogEntry {
		body = top.Encode(t.format, top.ResponseName(t.method), top.Obj{{Name: "task", Value: top.Obj{
			{Name: "task_id", Value: top.Int(id)}, {Name: "created", Value: top.Str(top.FormatTime(t.rec.start))},
		}}})
		t.rec.requestID = id
		return t.rec.entry(fiber.StatusOK, "0", string(body))
	})
	var dup *store.DuplicateError
	if errors.As(err, &dup) {
		return top.NewError(top.CodeInvalidArguments, "isv.duplicate-request",
			fmt.Sprintf("the same call was accepted as task %d within %s", dup.Original, def.Options.DedupWindow.D()))
	}
	if err != nil {
		return err
	}
	t.s.logger(t.c).Info("request accepted", "open_api_req_id", stored.ID, "api", def.Code, "app_key",
		t.app.AppKey, "items", stored.Total, "protocol", "top")
	t.c.Set(fiber.HeaderContentType, t.format.ContentType())
	return t.c.Send(body)
}

// task loads the app's own request named by task_id; another app's task is
// answered as unknown.
func (t *topCall) task() (store.Request, error) {
	raw := t.params["task_id"]
	if raw == "" {
		return store.Request{}, top.MissingParam("task_id")
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return store.Request{}, top.InvalidParam("task_id", "must be a task id returned when the task was created")
	}
	t.rec.requestID = id
	r, err := t.s.d.Store.GetRequest(t.c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.AppKey != t.app.AppKey) {
		return store.Request{}, top.NewError(top.CodeInvalidArguments, "isv.task-not-exist:task_id",
			"no task "+raw+" for this app")
	}
	if err != nil {
		return store.Request{}, internal(err)
	}
	t.rec.api = r.APICode
	return r, nil
}

// topMethodOf is the TOP name of the API that made a request (its code
// when the API has no TOP alias: a Kingdee-created task is visible here too).
func (t *topCall) topMethodOf(r store.Request) string {
	if def, ok := t.s.d.Catalog.ByCode(r.APICode); ok && def.TopMethod != "" {
		return def.TopMethod
	}
	return r.APICode
}

// resultGet is taobao.topats.result.get: the task's status, and when it is
// finished every subtask's request and result as JSON text.
func (t *topCall) resultGet() error {
	r, err := t.task()
	if err != nil {
		return err
	}
	task := top.Obj{
		{Name: "task_id", Value: top.Int(r.ID)},
		{Name: "status", Value: top.Str(string(r.Status))},
		{Name: "method", Value: top.Str(t.topMethodOf(r))},
		{Name: "created", Value: top.Str(top.FormatTime(r.CreatedAt))},
	}
	if r.Status.Final() {
		items, err := t.s.d.Store.ListItems(t.c.UserContext(), r.ID, 0, max(r.Total, 1))
		if err != nil {
			return internal(err)
		}
		def, _ := t.s.d.Catalog.ByCode(r.APICode)
		subtasks := make([]top.Value, 0, len(items))
		for _, it := range items {
			subtasks = append(subtasks, subtask(def, it))
		}
		task = append(task, top.Field{Name: "subtasks", Value: top.List{Item: "subtask", Items: subtasks}})
	}
	return t.send(top.Obj{{Name: "task", Value: task}})
}

// subtask renders an item as TOP's Subtask: request and result are JSON
// text; a failed item's result is {"sub_code":…,"sub_msg":…}.
func subtask(def catalog.Definition, it store.Item) top.Obj {
	ok := it.Status == store.ItemSucceeded
	var result string
	switch {
	case ok && it.Result.Valid:
		result = string(def.MaskResult(it.Result.JSONText))
	case ok:
		result = "{}"
	default:
		result = string(topSubError(it.SubCode, it.SubMsg))
	}
	return top.Obj{
		{Name: "sub_task_request", Value: top.Str(compactJSON(string(def.MaskResult(it.Request))))},
		{Name: "sub_task_result", Value: top.Str(compactJSON(result))},
		{Name: "is_success", Value: top.Bool(ok)},
	}
}

// compactJSON drops the spaces PostgreSQL's jsonb puts in its text form.
func compactJSON(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}

func topSubError(code, msg string) []byte {
	b, _ := json.Marshal(struct {
		SubCode string `json:"sub_code"`
		SubMsg  string `json:"sub_msg"`
	}{code, msg}) // two strings always marshal
	return b
}

// taskDelete is taobao.topats.task.delete: the task is canceled (a
// finished one is left as it is).
func (t *topCall) taskDelete() error {
	r, err := t.task()
	if err != nil {
		return err
	}
	if _, err := t.s.cancel(t.c, r); err != nil {
		return err
	}
	return t.send(top.Obj{{Name: "is_success", Value: top.Bool(true)}})
}

// tasksGet is taobao.topats.tasks.get: the app's tasks created in
// [start_time, end_time], newest first, paged.
func (t *topCall) tasksGet() error {
	var bounds [2]time.Time
	for i, name := range []string{"start_time", "end_time"} {
		v := t.params[name]
		if v == "" {
			return top.MissingParam(name)
		}
		tm, err := time.ParseInLocation(top.TimestampLayout, v, top.Beijing)
		if err != nil {
			return top.InvalidParam(name, "must be yyyy-MM-dd HH:mm:ss (UTC+8)")
		}
		bounds[i] = tm
	}
	from, to := bounds[0], bounds[1]
	if to.Before(from) {
		return top.InvalidParam("end_time", "must not be before start_time")
	}
	if to.Sub(from) > topTasksMaxSpan {
		return top.InvalidParam("end_time", "must be at most 31 days after start_time")
	}
	pageNo, err := t.intParam("page_no", 1, 1, math.MaxInt32)
	if err != nil {
		return err
	}
	pageSize, err := t.intParam("page_size", topTasksDefaultPage, 1, topTasksMaxPage)
	if err != nil {
		return err
	}
	f := store.RequestFilter{AppKey: t.app.AppKey, From: from, To: to.Add(time.Second), // end_time is inclusive
		Limit: pageSize, Offset: (pageNo - 1) * pageSize}
	ctx := t.c.UserContext()
	total, err := t.s.d.Store.CountRequests(ctx, f)
	if err != nil {
		return internal(err)
	}
	rows, err := t.s.d.Store.ListRequests(ctx, f)
	if err != nil {
		return internal(err)
	}
	tasks := make([]top.Value, 0, len(rows))
	for _, r := range rows {
		tasks = append(tasks, top.Obj{
			{Name: "task_id", Value: top.Int(r.ID)},
			{Name: "status", Value: top.Str(string(r.Status))},
			{Name: "method", Value: top.Str(t.topMethodOf(r))},
			{Name: "created", Value: top.Str(top.FormatTime(r.CreatedAt))},
		})
	}
	return t.send(top.Obj{
		{Name: "tasks", Value: top.List{Item: "task", Items: tasks}},
		{Name: "total_results", Value: top.Int(total)},
	})
}

func (t *topCall) intParam(name string, def, lo, hi int) (int, error) {
	v := t.params[name]
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, top.InvalidParam(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
	}
	return n, nil
}

// send answers {"<method>_response": v} and logs the call.
func (t *topCall) send(v top.Value) error {
	body := top.Encode(t.format, top.ResponseName(t.method), v)
	t.s.callLog.add(t.rec.entry(fiber.StatusOK, "0", string(body)))
	t.c.Set(fiber.HeaderContentType, t.format.ContentType())
	return t.c.Send(body)
}

// logError writes a refused or failed call to the call log; the error
// handler renders the answer.
func (t *topCall) logError(err error) {
	te := toTopError(err)
	body := top.ErrorResponse(t.format, te, "")
	t.s.callLog.add(t.rec.entry(fiber.StatusOK, strconv.Itoa(te.Code), string(body)))
}

const localTopFormat = "top_format"

// toTopError maps any error of a /router/rest call to TOP's error_response:
// handler errors are *top.Error already; Fiber's own (body too large) and
// internal ones are translated, internals never shown.
func toTopError(err error) *top.Error {
	var te *top.Error
	if errors.As(err, &te) {
		return te
	}
	e := toError(err)
	switch {
	case e.Status >= 500:
		return top.NewError(top.CodeRemoteServiceError, "isp.internal-error", "internal error; quote the request_id")
	case e.Status == fiber.StatusRequestEntityTooLarge:
		return top.InvalidParam("body", "request body is too large")
	default:
		return top.NewError(top.CodeInvalidArguments, "", e.Message)
	}
}

// writeTopError renders err as TOP does: HTTP 200 with error_response (TOP's
// SDKs read error_response from the body and treat other statuses as
// transport failures).
func writeTopError(c *fiber.Ctx, err error, requestID string) error {
	f, ok := c.Locals(localTopFormat).(top.Format)
	if !ok {
		f, _ = top.ParseFormat(c.Query("format"))
		if f == "" {
			f = top.FormatJSON
		}
	}
	te := toTopError(err)
	c.Locals(localErrorCode, strconv.Itoa(te.Code))
	c.Set(fiber.HeaderContentType, f.ContentType())
	return c.Status(fiber.StatusOK).Send(top.ErrorResponse(f, te, requestID))
}

// topParams collects a call's parameters from the query and the form (form
// values win), copied out of Fiber's buffers.
func topParams(c *fiber.Ctx) top.Params {
	p := top.Params{}
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) { p[string(k)] = string(v) })
	if c.Method() != fiber.MethodPost {
		return p
	}
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	switch {
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		c.Request().PostArgs().VisitAll(func(k, v []byte) { p[string(k)] = string(v) })
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		if form, err := c.MultipartForm(); err == nil {
			for k, vs := range form.Value {
				if len(vs) > 0 {
					p[k] = strings.Clone(vs[len(vs)-1])
				}
			}
		}
	}
	return p
}

// redactParams encodes the parameters for the call log, sign hidden.
func redactParams(p top.Params) string {
	q := url.Values{}
	for k, v := range p {
		if k == "sign" {
			v = "***"
		}
		q.Set(k, v)
	}
	return q.Encode()
}
