package api

import (
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/catalog"
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
	r.Get("/apis/:code", s.adminGetAPI)
	r.Put("/apis/:code", s.adminPutAPI)
	r.Delete("/apis/:code", s.adminDeleteAPI)
	r.Post("/import", s.adminImport)
	r.Get("/apps", s.adminListApps)
	r.Put("/apps/:key", s.adminPutApp)
	r.Get("/requests", s.adminListRequests)
	r.Get("/requests/:id", s.adminGetRequest)
	r.Get("/requests/:id/deliveries", s.adminDeliveries)
	r.Post("/requests/:id/redeliver", s.adminRedeliver)
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

func (s *Server) adminListAPIs(c *fiber.Ctx) error {
	defs, err := s.d.Store.ListDefinitions(c.UserContext())
	if err != nil {
		return internal(err)
	}
	out := make([]apiView, 0, len(defs))
	for _, d := range defs {
		out = append(out, s.view(d))
	}
	return c.JSON(fiber.Map{"apis": out})
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
	f, err := catalog.ParseFile([]byte(`{"apis":[`+string(c.Body())+`]}`), "json")
	if err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "apis[0]."))
	}
	d := f.APIs[0]
	if d.Code != c.Params("code") {
		return badRequest("code: %q does not match the URL's %q", d.Code, c.Params("code"))
	}
	if err := s.d.Store.UpsertDefinition(c.UserContext(), d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{Status: fiber.StatusConflict, Code: CodeConflict, Message: "path/top_method: another API already uses " + d.Path() + " or its TOP method"}
		}
		return internal(err)
	}
	if err := s.d.Catalog.Refresh(c.UserContext()); err != nil {
		return internal(err)
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
	res, err := s.d.Store.Import(c.UserContext(), f)
	if errors.Is(err, store.ErrConflict) {
		return &Error{Status: fiber.StatusConflict, Code: CodeConflict, Message: err.Error()}
	}
	if err != nil {
		return internal(err)
	}
	if err := s.d.Catalog.Refresh(c.UserContext()); err != nil {
		return internal(err)
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
		return internal(err)
	}
	return c.JSON(appView{App: a})
}

func (s *Server) adminListRequests(c *fiber.Ctx) error {
	f := store.RequestFilter{AppKey: c.Query("app"), APICode: c.Query("api"), Status: store.RequestStatus(c.Query("status"))}
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
		"workflow_id": r.WorkflowID, "run_id": r.RunID,
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
