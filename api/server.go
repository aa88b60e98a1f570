// Package api is asyncgate's HTTP front: protocol translation only. It
// validates a call against the catalog, commits the request to PostgreSQL
// and answers with a receipt; it never waits on Temporal to accept.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"go.temporal.io/sdk/client"

	"github.com/asyncgate/asyncgate/activities"
	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/metrics"
	"github.com/asyncgate/asyncgate/openapi"
	"github.com/asyncgate/asyncgate/requestid"
	"github.com/asyncgate/asyncgate/store"
)

// Deps are the API's collaborators.
type Deps struct {
	Store    *store.Store
	Catalog  *catalog.Cache
	Temporal client.Client // progress queries and cancels; may be a lazy client
	IDs      *requestid.Generator
	Kick     func() // wakes the in-process dispatcher; nil when none runs here
	Logger   *slog.Logger

	AdminToken         string
	PublicURL          string
	TemporalUIURL      string
	Namespace          string
	TokenTTL           time.Duration
	MaxBodyBytes       int
	RequestTimeout     time.Duration
	StatusQueryTimeout time.Duration
	// Builtins are the built-in handler names workers run; definitions
	// naming another are refused (nil: not checked).
	Builtins []string
	// TaskQueue and NotifyPolicy start callback redeliveries.
	TaskQueue    string
	NotifyPolicy activities.NotifyPolicy

	// Metrics is the process's Prometheus registry (nil: none).
	Metrics *metrics.Metrics

	// Mount adds routes (the dev process's demo sync API).
	Mount func(r fiber.Router)
}

// Server is the Fiber app with its caches and background writers.
type Server struct {
	d       Deps
	app     *fiber.App
	auth    *authenticator
	callLog *callLogWriter
	limiter *appLimiter
}

const (
	localRequestID = "request_id"
	localErrorCode = "error_code"
	localAPI       = "api_code" // the API a call resolved to, for metrics
)

// New builds the app and every route.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Kick == nil {
		d.Kick = func() {}
	}
	s := &Server{d: d, auth: newAuthenticator(d.Store, d.TokenTTL), callLog: newCallLogWriter(d.Store, d.Logger),
		limiter: newAppLimiter()}
	s.app = fiber.New(fiber.Config{
		AppName:               "asyncgate",
		BodyLimit:             d.MaxBodyBytes,
		ErrorHandler:          errorHandler(d.Logger, d.Metrics),
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
	})
	s.routes()
	return s
}

// App exposes the Fiber app (tests use app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve listens on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	go s.callLog.run(bg)
	go s.auth.run(bg)

	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.app.ShutdownWithContext(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown http: %w", err)
	}
	stopBG()
	s.callLog.flush(context.WithoutCancel(ctx))
	return nil
}

func (s *Server) routes() {
	s.app.Use(s.requestContext)
	s.app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	s.app.Get("/readyz", s.ready)
	// Metrics need the admin token (Prometheus: authorization: {credentials: …}).
	s.app.Get("/metrics", s.requireAdmin, adaptor.HTTPHandler(s.d.Metrics.Handler()))

	s.app.Post("/kapi/oauth2/getToken", s.getToken)
	s.app.All("/kapi/v2/*", s.kapi)
	s.app.All("/router/rest", s.topRouter)
	s.app.Get("/openapi.json", s.openAPI)
	s.consoleRoutes()
	s.app.Get("/kapi/ws/:code", s.soapWSDL)
	s.app.Post("/kapi/ws/:code", s.soapCall)

	admin := s.app.Group("/admin/api", s.requireAdmin)
	s.adminRoutes(admin)

	if s.d.Mount != nil {
		s.d.Mount(s.app)
	}
}

// requestContext gives every call a request id (echoed in X-Request-Id and
// on every log line) and a context bounded by RequestTimeout.
func (s *Server) requestContext(c *fiber.Ctx) error {
	rid := c.Get(fiber.HeaderXRequestID)
	if rid == "" || len(rid) > 64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		rid = hex.EncodeToString(b[:])
	}
	c.Locals(localRequestID, rid)
	c.Set(fiber.HeaderXRequestID, rid)
	ctx, cancel := context.WithTimeout(context.Background(), s.d.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

func (s *Server) ready(c *fiber.Ctx) error {
	if err := s.d.Store.Ping(c.UserContext()); err != nil {
		return &Error{Status: fiber.StatusServiceUnavailable, Code: CodeUnavailable, Message: "database unavailable", Err: err}
	}
	return c.SendString("ready")
}

func (s *Server) logger(c *fiber.Ctx) *slog.Logger {
	rid, _ := c.Locals(localRequestID).(string)
	return s.d.Logger.With("request_id", rid)
}

// openAPI serves the OpenAPI 3.1 document of the published catalog.
func (s *Server) openAPI(c *fiber.Ctx) error {
	doc, err := openapi.Document(openapi.Info{Title: "asyncgate", Version: "1", ServerURL: s.d.PublicURL}, s.d.Catalog.All())
	if err != nil {
		return internal(fmt.Errorf("openapi document: %w", err))
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(doc)
}
