package api

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/store"
)

// callRecord collects one call's facts for the call log.
type callRecord struct {
	s         *Server
	c         *fiber.Ctx
	start     time.Time
	app, api  string
	kind      string
	requestID int64
	protocol  string  // "" = kapi
	reqBody   *string // replaces the raw body (TOP: parameters with the sign redacted)
}

// entry builds the log line; strings are copied out of Fiber's buffers,
// which are reused after the handler returns.
func (r *callRecord) entry(status int, code, response string) store.CallLogEntry {
	c := r.c
	protocol, body := cmp.Or(r.protocol, "kapi"), ""
	if r.reqBody != nil {
		body = *r.reqBody
	} else {
		body = string(c.Body())
	}
	// Masked fields never reach the log whole (answers are masked already).
	def, ok := r.s.d.Catalog.ByCode(r.api)
	if ok && def.Options.Masking {
		body = string(def.MaskRequest([]byte(body)))
	} else {
		def = catalog.Definition{}
	}
	return store.CallLogEntry{
		At: r.start, AppKey: r.app, APICode: r.api, RequestID: r.requestID, Protocol: protocol, Kind: r.kind,
		HTTPMethod: strings.Clone(c.Method()), Path: strings.Clone(c.Path()), Query: redactQuery(c.Request().URI().QueryString(), def),
		HTTPStatus: status, ErrorCode: code, RequestBody: body, ResponseBody: response,
		Duration: time.Since(r.start), RemoteAddr: strings.Clone(c.IP()),
	}
}

// secretParams never reach the call log.
var secretParams = []string{"access_token", "client_secret", "sign"}

// redactQuery copies the query string with secret values replaced and
// the definition's masked parameters masked.
func redactQuery(raw []byte, def catalog.Definition) string {
	if len(raw) == 0 {
		return ""
	}
	q, err := url.ParseQuery(string(raw))
	if err != nil {
		return "(unparsable query)"
	}
	for _, k := range secretParams {
		if q.Has(k) {
			q.Set(k, "***")
		}
	}
	if def.Options.Masking {
		flat := map[string]string{}
		for k := range q {
			flat[k] = q.Get(k)
		}
		def.MaskParams(flat)
		for k, v := range flat {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// send writes a successful answer and logs it in the background.
func (r *callRecord) send(v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return internal(err)
	}
	r.s.callLog.add(r.entry(fiber.StatusOK, CodeOK, string(body)))
	r.c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return r.c.Send(body)
}

// done logs a refused or failed call.
func (r *callRecord) done(err error) {
	if err == nil {
		return
	}
	e := toError(err)
	msg := e.Message
	if e.Status >= 500 {
		msg = "internal error"
	}
	resp, _ := json.Marshal(Envelope{Data: e.Data, ErrorCode: e.Code, Message: msg})
	r.s.callLog.add(r.entry(e.Status, e.Code, string(resp)))
}

// callLogWriter batches call-log lines for calls that create nothing
// (queries, refusals), keeping their latency free of an INSERT. Accepted
// submissions are logged in the request's own transaction instead.
type callLogWriter struct {
	store   *store.Store
	log     *slog.Logger
	ch      chan store.CallLogEntry
	dropped atomic.Int64
}

func newCallLogWriter(s *store.Store, log *slog.Logger) *callLogWriter {
	return &callLogWriter{store: s, log: log, ch: make(chan store.CallLogEntry, 10_000)}
}

func (w *callLogWriter) add(e store.CallLogEntry) {
	select {
	case w.ch <- e:
	default:
		w.dropped.Add(1) // never block a call on the audit log
	}
}

func (w *callLogWriter) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.flush(ctx)
		}
	}
}

// flush writes what is queued, in batches.
func (w *callLogWriter) flush(ctx context.Context) {
	if n := w.dropped.Swap(0); n > 0 {
		w.log.Warn("call log overflow: lines dropped", "count", n)
	}
	for {
		batch := make([]store.CallLogEntry, 0, 500)
	fill:
		for len(batch) < cap(batch) {
			select {
			case e := <-w.ch:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		if err := w.store.InsertCallLogs(ctx, batch); err != nil {
			w.log.Warn("write call log", "lines", len(batch), "error", err)
			return
		}
	}
}
