package api

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/metrics"
	"github.com/asyncgate/asyncgate/top"
)

// Error codes of the Kingdee-style envelope (errorCode is a string there).
const (
	CodeOK            = "0"
	CodeBadRequest    = "400"
	CodeUnauthorized  = "401"
	CodeForbidden     = "403"
	CodeNotFound      = "404"
	CodeMethod        = "405"
	CodeConflict      = "409"
	CodeTooLarge      = "413"
	CodeRateLimited   = "429"
	CodeInternal      = "500"
	CodeUnavailable   = "503"
	msgAPINotFound    = "Cannot found OpenAPI(or disabled)"
	msgInternalPrefix = "internal error, request id "
	// msgThirdPartyOnly refuses session (cookie) calls to an API that only
	// third-party apps may call (Kingdee: 仅支持第三方应用授权调用).
	msgThirdPartyOnly = "API %s accepts only third-party app authorization (access_token from /kapi/oauth2/getToken); cookie and anonymous access are refused"
)

// Error is what handlers return: an HTTP status, the protocol's code, a
// message safe to show (it names the offending field), and the internal
// cause, which is logged once and never sent.
type Error struct {
	Status  int
	Code    string
	Message string
	Data    any // optional envelope data (e.g. the original request of a duplicate)
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: fiber.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func unauthorized(msg string) *Error {
	return &Error{Status: fiber.StatusUnauthorized, Code: CodeUnauthorized, Message: msg}
}

func forbidden(msg string) *Error {
	return &Error{Status: fiber.StatusForbidden, Code: CodeForbidden, Message: msg}
}

func notFound(msg string) *Error {
	return &Error{Status: fiber.StatusNotFound, Code: CodeNotFound, Message: msg}
}

func internal(err error) *Error {
	return &Error{Status: fiber.StatusInternalServerError, Code: CodeInternal, Err: err}
}

// Envelope is the Kingdee-style answer of every /kapi call.
type Envelope struct {
	Data      any    `json:"data"`
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
	Status    bool   `json:"status"`
}

// errorHandler renders every error: Fiber's own (body too large, no route)
// and the handlers' *Error, in the envelope for /kapi and as
// {"error":{…}} for the admin API. 5xx answers carry only a request id.
func errorHandler(log *slog.Logger, m *metrics.Metrics) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		rid, _ := c.Locals(localRequestID).(string)
		api, _ := c.Locals(localAPI).(string)
		if c.Path() == "/router/rest" {
			te := toTopError(err)
			if te.Code == top.CodeRemoteServiceError {
				log.ErrorContext(c.UserContext(), "request failed", "request_id", rid, "method", c.Method(),
					"path", c.Path(), "error", err)
			}
			m.Refused(api, "top", strconv.Itoa(te.Code))
			return writeTopError(c, err, rid)
		}
		e := toError(err)
		if strings.HasPrefix(c.Path(), "/kapi/ws/") && c.Method() == fiber.MethodPost {
			return writeSOAPFault(c, err, log, m)
		}
		if strings.HasPrefix(c.Path(), "/kapi/") {
			m.Refused(api, "kapi", e.Code)
		}
		if e.Status >= 500 {
			log.ErrorContext(c.UserContext(), "request failed", "request_id", rid, "method", c.Method(),
				"path", c.Path(), "error", err)
			e.Message = msgInternalPrefix + rid
		}
		c.Locals(localErrorCode, e.Code)
		if e.Status == fiber.StatusServiceUnavailable {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		if strings.HasPrefix(c.Path(), "/admin") {
			return c.Status(e.Status).JSON(fiber.Map{"error": fiber.Map{"code": e.Code, "message": e.Message}})
		}
		return c.Status(e.Status).JSON(Envelope{Data: e.Data, ErrorCode: e.Code, Message: e.Message, Status: false})
	}
}

func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			return &Error{Status: fe.Code, Code: CodeTooLarge, Message: "body: request body is too large"}
		case fiber.StatusNotFound:
			return notFound(msgAPINotFound)
		case fiber.StatusMethodNotAllowed:
			return &Error{Status: fe.Code, Code: CodeMethod, Message: "method not allowed"}
		}
		if fe.Code < 500 {
			return &Error{Status: fe.Code, Code: fmt.Sprint(fe.Code), Message: fe.Message}
		}
	}
	return internal(err)
}
