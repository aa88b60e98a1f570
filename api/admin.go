package api

import (
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gopkg.in/yaml.v3"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/handler"
	"github.com/asyncgate/asyncgate/store"
)

// requireAdmin guards /admin with the admin token (Authorization: Bearer or
// X-Admin-Token).
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	got := c.Get("X-Admin-Token")
	if h := c.Get(fiber.HeaderAuthorization); got == "" && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		got = strings.TrimSpace(h[7:])
	}
	if s.d.AdminToken == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.d.AdminToken)) != 1 {
		return unauthorized("admin token: missing or wrong")
	}
	return c.Next()
}

func (s *Server) adminRoutes(r fiber.Router) {
	r.Get("/apis", s.adminListAPIs)
	r.Post("/apis", s.adminCreateAPI)
	r.Get("/apis/:code", s.adminGetAPI)
	r.Get("/apis/:code/example", s.adminExample)
	r.Put("/apis/:code", s.adminPutAPI)
	r.Get("/export", s.adminExport)
	r.Post("/quick-create", s.adminQuickCreate)
	r.Get("/export/items", s.adminExportItems)
	r.Get("/export/calllog", s.adminExportCallLog)
	r.Delete("/apis/:code", s.adminDeleteAPI)
	r.Post("/import", s.adminImport)
	r.Get("/apps", s.adminListApps)
	r.Put("/apps/:key", s.adminPutApp)
	r.Post("/apps/:key/rotate-secret", s.adminRotateSecret)
	r.Get("/queue", s.adminQueue)
	r.Get("/requests", s.adminListRequests)
	r.Get("/requests/:id", s.adminGetRequest)
	r.Get("/requests/:id/deliveries", s.adminDeliveries)
	r.Post("/requests/:id/redeliver", s.adminRedeliver)
	r.Post("/requests/:id/retry", s.adminRetry)
	r.Post("/requests/:id/cancel", s.adminCancel)
}

// apiView is a definition with its generated URLs.
type apiView struct {
	catalog.Definition
	Path    string `json:"path"`
	FullURL string `json:"full_url"`
}

func (s *Server) view(d catalog.Definition) apiView {
	return apiView{Definition: d, Path: d.Path(), FullURL: s.d.PublicURL + d.Path()}
}

// adminListAPIs lists definitions, filtered by group, status, app (the
// APIs an app is granted) and q (text in code, name, description, URL or
// TOP method).
func (s *Server) adminListAPIs(c *fiber.Ctx) error {
	ctx := c.UserContext()
	defs, err := s.d.Store.ListDefinitions(ctx)
	if err != nil {
		return internal(err)
	}
	var app *catalog.App
	if key := c.Query("app"); key != "" {
		a, err := s.d.Store.GetApp(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("app: no app " + key)
		}
		if err != nil {
			return internal(err)
		}
		app = &a
	}
	group, status, q := c.Query("group"), catalog.Status(c.Query("status")), strings.ToLower(c.Query("q"))
	out := make([]apiView, 0, len(defs))
	for _, d := range defs {
		text := strings.ToLower(strings.Join([]string{d.Code, d.Name, d.Description, d.Path(), d.TopMethod}, "\n"))
		switch {
		case group != "" && d.Group != group,
			status != "" && d.Status != status,
			app != nil && !app.Granted(d.Code),
			q != "" && !strings.Contains(text, q):
			continue
		}
		out = append(out, s.view(d))
	}
	return c.JSON(fiber.Map{"apis": out})
}

// adminCreateAPI adds a definition; an existing code is a conflict (PUT
// replaces).
func (s *Server) adminCreateAPI(c *fiber.Ctx) error {
	d, err := s.parseDefinition(c.Body())
	if err != nil {
		return err
	}
	_, err = s.d.Store.GetDefinition(c.UserContext(), d.Code)
	if err == nil {
		return &Error{Status: fiber.StatusConflict, Code: CodeConflict, Message: "code: API " + d.Code + " already exists"}
	}
	if !errors.Is(err, store.ErrNotFound) {
		return internal(err)
	}
	if err := s.saveDefinition(c, d); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(s.view(d))
}

// parseDefinition decodes and validates one definition, including that its
// built-in handler exists.
func (s *Server) parseDefinition(body []byte) (catalog.Definition, error) {
	f, err := catalog.ParseFile([]byte(`{"apis":[`+string(body)+`]}`), "json")
	if err != nil {
		return catalog.Definition{}, badRequest("%s", strings.TrimPrefix(err.Error(), "apis[0]."))
	}
	d := f.APIs[0]
	if err := s.checkHandler(d); err != nil {
		return catalog.Definition{}, err
	}
	return d, nil
}

// checkHandler refuses a built-in handler this build does not have and a
// script that does not compile or define handle.
func (s *Server) checkHandler(d catalog.Definition) error {
	if d.Handler.Type == catalog.HandlerScript {
		if err := handler.CompileScript(d.Handler.Script); err != nil {
			return badRequest("handler.script: %s", err.Error())
		}
		return nil
	}
	if d.Handler.Type != catalog.HandlerBuiltin || s.d.Builtins == nil || slices.Contains(s.d.Builtins, d.Handler.Builtin) {
		return nil
	}
	return badRequest("handler.builtin: %q is not a built-in handler (known: %s)", d.Handler.Builtin, strings.Join(s.d.Builtins, ", "))
}

// saveDefinition upserts and refreshes the catalog, so the change applies
// to the next call.
func (s *Server) saveDefinition(c *fiber.Ctx, d catalog.Definition) error {
	if err := s.d.Store.UpsertDefinition(c.UserContext(), d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{Status: fiber.StatusConflict, Code: CodeConflict, Message: "path/top_method: another API already uses " + d.Path() + " or its TOP method"}
		}
		return internal(err)
	}
	if err := s.d.Catalog.Refresh(c.UserContext()); err != nil {
		return internal(err)
	}
	return nil
}

// adminQuickCreate turns a synchronous HTTP API into an async one (an
// HTTP-forward definition), ready to call: POST /admin/api/quick-create
// {"url":…, "method":…, "sample_request":{…}, "sample_response":{…}}.
func (s *Server) adminQuickCreate(c *fiber.Ctx) error {
	var q catalog.QuickCreate
	if err := json.Unmarshal(c.Body(), &q); err != nil {
		return badRequest("body: %s", jsonErrorText(err))
	}
	d, err := q.Definition()
	var fe *catalog.FieldError
	if errors.As(err, &fe) {
		return badRequest("%s", fe.Error())
	}
	if err != nil {
		return badRequest("%s", err.Error())
	}
	if _, err := s.d.Store.GetDefinition(c.UserContext(), d.Code); err == nil {
		return &Error{Status: fiber.StatusConflict, Code: CodeConflict, Message: "code: API " + d.Code + " already exists; pass another code"}
	}
	if err := s.saveDefinition(c, d); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"api": s.view(d), "example_request": d.ExampleRequest()})
}

// adminExample serves the API's example data: a request body, one item's
// result, and the answers the protocol gives for it.
func (s *Server) adminExample(c *fiber.Ctx) error {
	d, err := s.d.Store.GetDefinition(c.UserContext(), c.Params("code"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("code: no API " + c.Params("code"))
	}
	if err != nil {
		return internal(err)
	}
	const id = "1384026569608970240"
	result := d.ExampleResult()
	if result == nil {
		result = json.RawMessage(`{}`)
	}
	item := fiber.Map{"index": 0, "request": json.RawMessage(`{}`), "success": true, "status": "succeeded", "attempts": 1, "result": result}
	var req struct {
		Data []json.RawMessage `json:"data"`
	}
	body := d.ExampleRequest()
	switch {
	case d.Method == fiber.MethodGet || d.Batch.ItemsPath == "":
		item["request"] = body // the one item
	case d.Batch.ItemsPath == "data" && json.Unmarshal(body, &req) == nil && len(req.Data) > 0:
		item["request"] = req.Data[0]
	}
	url := s.d.PublicURL + d.Path()
	if d.Method == fiber.MethodGet { // the item travels in the query string
		var params map[string]any
		_ = json.Unmarshal(body, &params)
		q := make([]string, 0, len(params))
		for k, v := range params {
			text, ok := v.(string)
			if !ok {
				b, _ := json.Marshal(v)
				text = string(b)
			}
			q = append(q, k+"="+neturl.QueryEscape(text))
		}
		slices.Sort(q)
		url += "?" + strings.Join(q, "&")
	}
	wrap := func(data any) any {
		if d.Options.ReturnDataOnly {
			return data
		}
		return Envelope{Data: data, ErrorCode: CodeOK, Message: "ok", Status: true}
	}
	return c.JSON(fiber.Map{
		"url": url, "method": d.Method, "request": body, "result": result,
		"receipt": receipt(d, 1384026569608970240),
		"checkStatus": wrap(fiber.Map{"openApiReqId": id, "status": "done", "total": 2, "finished": 2, "succeeded": 2,
			"failed": 0, "canceled": 0, "percent": 100, "source": "table"}),
		"queryResult": wrap(fiber.Map{"openApiReqId": id, "status": "done", "api": d.Code, "total": 2, "succeeded": 2,
			"pageNo": 1, "pageSize": 100, "totalPages": 1, "items": []any{item}}),
	})
}

// adminExport writes every definition and app (without secrets) as a
// catalog file that import takes back.
func (s *Server) adminExport(c *fiber.Ctx) error {
	ctx := c.UserContext()
	defs, err := s.d.Store.ListDefinitions(ctx)
	if err != nil {
		return internal(err)
	}
	apps, err := s.d.Store.ListApps(ctx)
	if err != nil {
		return internal(err)
	}
	for i := range apps {
		apps[i].Secret = ""
	}
	f := catalog.File{Apps: apps, APIs: defs}
	switch c.Query("format", "yaml") {
	case "json":
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="asyncgate-catalog.json"`)
		return c.JSON(f)
	case "yaml":
		b, err := yaml.Marshal(f)
		if err != nil {
			return internal(err)
		}
		c.Set(fiber.HeaderContentType, "application/yaml; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="asyncgate-catalog.yaml"`)
		return c.Send(b)
	default:
		return badRequest("format: must be yaml or json")
	}
}

func (s *Server) adminGetAPI(c *fiber.Ctx) error {
	d, err := s.d.Store.GetDefinition(c.UserContext(), c.Params("code"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("code: no API " + c.Params("code"))
	}
	if err != nil {
		return internal(err)
	}
	return c.JSON(s.view(d))
}

func (s *Server) adminPutAPI(c *fiber.Ctx) error {
	d, err := s.parseDefinition(c.Body())
	if err != nil {
		return err
	}
	if d.Code != c.Params("code") {
		return badRequest("code: %q does not match the URL's %q", d.Code, c.Params("code"))
	}
	if err := s.saveDefinition(c, d); err != nil {
		return err
	}
	return c.JSON(s.view(d))
}

func (s *Server) adminDeleteAPI(c *fiber.Ctx) error {
	err := s.d.Store.DeleteDefinition(c.UserContext(), c.Params("code"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("code: no API " + c.Params("code"))
	}
	if err != nil {
		return internal(err)
	}
	if err := s.d.Catalog.Refresh(c.UserContext()); err != nil {
		return internal(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// adminImport takes a catalog file (YAML or JSON by Content-Type).
func (s *Server) adminImport(c *fiber.Ctx) error {
	format := "yaml"
	if strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) {
		format = "json"
	}
	f, err := catalog.ParseFile(c.Body(), format)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	for i, d := range f.APIs {
		if err := s.checkHandler(d); err != nil {
			return badRequest("apis[%d].%s", i, toError(err).Message)
		}
	}
	res, err := s.d.Store.Import(c.UserContext(), f)
	if errors.Is(err, store.ErrSecretRequired) {
		return badRequest("%s", err.Error())
	}
	if errors.Is(err, store.ErrConflict) {
		return &Error{Status: fiber.StatusConflict, Code: CodeConflict, Message: err.Error()}
	}
	if err != nil {
		return internal(err)
	}
	if err := s.d.Catalog.Refresh(c.UserContext()); err != nil {
		return internal(err)
	}
	for _, a := range f.Apps {
		s.auth.forget(a.AppKey)
	}
	return c.JSON(res)
}

// appView hides the secret.
type appView struct {
	catalog.App
	Secret string `json:"secret,omitempty"`
}

func (s *Server) adminListApps(c *fiber.Ctx) error {
	apps, err := s.d.Store.ListApps(c.UserContext())
	if err != nil {
		return internal(err)
	}
	out := make([]appView, 0, len(apps))
	for _, a := range apps {
		out = append(out, appView{App: a})
	}
	return c.JSON(fiber.Map{"apps": out})
}

func (s *Server) adminPutApp(c *fiber.Ctx) error {
	f, err := catalog.ParseFile([]byte(`{"apps":[`+string(c.Body())+`]}`), "json")
	if err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "apps[0]."))
	}
	a := f.Apps[0]
	if a.AppKey != c.Params("key") {
		return badRequest("app_key: %q does not match the URL's %q", a.AppKey, c.Params("key"))
	}
	if err := s.d.Store.UpsertApp(c.UserContext(), a); err != nil {
		if errors.Is(err, store.ErrSecretRequired) {
			return badRequest("secret: is required for a new app")
		}
		return internal(err)
	}
	s.auth.forget(a.AppKey)
	return c.JSON(appView{App: a})
}

// maxSecretGrace bounds how long a rotated secret keeps working.
const maxSecretGrace = 30 * 24 * time.Hour

// adminRotateSecret gives an app a new random secret, answered this once;
// the old one keeps working for the grace period (body {"grace":"24h"},
// default 24h, "0s" retires it at once) so the app can switch over.
func (s *Server) adminRotateSecret(c *fiber.Ctx) error {
	var in struct {
		Grace string `json:"grace"`
	}
	if len(c.Body()) > 0 {
		if err := json.Unmarshal(c.Body(), &in); err != nil {
			return badRequest("body: %s", jsonErrorText(err))
		}
	}
	grace := 24 * time.Hour
	if in.Grace != "" {
		g, err := time.ParseDuration(in.Grace)
		if err != nil || g < 0 || g > maxSecretGrace {
			return badRequest("grace: must be a duration from 0s to 720h")
		}
		grace = g
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return internal(err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	until, err := s.d.Store.RotateSecret(c.UserContext(), c.Params("key"), secret, grace)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("app_key: no app " + c.Params("key"))
	}
	if err != nil {
		return internal(err)
	}
	s.auth.forget(c.Params("key"))
	s.logger(c).Info("app secret rotated", "app_key", c.Params("key"), "previous_valid_until", until)
	return c.JSON(fiber.Map{"app_key": c.Params("key"), "secret": secret, "previous_secret_valid_until": until})
}

func (s *Server) adminListRequests(c *fiber.Ctx) error {
	f := store.RequestFilter{AppKey: c.Query("app"), APICode: c.Query("api"), Status: store.RequestStatus(c.Query("status")),
		Notify: c.Query("notify")}
	var err error
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := c.Query(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339, v); err != nil {
				return badRequest("%s: must be an RFC 3339 time", name)
			}
		}
	}
	if f.Limit, err = intParam(c, "limit", 100, 1, 1000); err != nil {
		return err
	}
	if f.Offset, err = intParam(c, "offset", 0, 0, 1<<30); err != nil {
		return err
	}
	rows, err := s.d.Store.ListRequests(c.UserContext(), f)
	if err != nil {
		return internal(err)
	}
	out := make([]fiber.Map, 0, len(rows))
	for _, r := range rows {
		out = append(out, s.requestView(r))
	}
	return c.JSON(fiber.Map{"requests": out})
}

func (s *Server) requestView(r store.Request) fiber.Map {
	m := fiber.Map{
		"openApiReqId": strconv.FormatInt(r.ID, 10), "api": r.APICode, "app_key": r.AppKey, "protocol": r.Protocol,
		"status": r.Status, "total": r.Total, "succeeded": r.Succeeded, "failed": r.Failed, "canceled": r.Canceled,
		"dispatch_state": r.DispatchState, "dispatch_attempts": r.DispatchAttempts, "dispatch_error": r.DispatchError,
		"cancel_requested": r.CancelRequested, "notify_state": r.NotifyState, "created_at": r.CreatedAt,
		"workflow_id": r.WorkflowID, "run_id": r.RunID, "retries": r.Retries,
	}
	if r.NotifiedAt.Valid {
		m["notified_at"] = r.NotifiedAt.Time
	}
	for k, v := range map[string]sql.NullTime{"dispatched_at": r.DispatchedAt, "started_at": r.StartedAt, "finished_at": r.FinishedAt} {
		if v.Valid {
			m[k] = v.Time
		} else {
			m[k] = nil
		}
	}
	if s.d.TemporalUIURL != "" {
		m["temporal_ui_url"] = fmt.Sprintf("%s/namespaces/%s/workflows/%s", s.d.TemporalUIURL, s.d.Namespace, r.WorkflowID)
	}
	return m
}

func (s *Server) adminGetRequest(c *fiber.Ctx) error {
	r, err := s.adminRequest(c)
	if err != nil {
		return err
	}
	id := r.ID
	items, err := s.d.Store.ListItems(c.UserContext(), id, 0, maxPageSize)
	if err != nil {
		return internal(err)
	}
	m := s.requestView(r)
	m["header"] = r.Header
	def, _ := s.d.Catalog.ByCode(r.APICode)
	m["items"] = resultItems(def, items)
	return c.JSON(m)
}
