package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/requestid"
	"github.com/asyncgate/asyncgate/store"
)

// exportTimeout bounds one streamed export (it outlives the handler).
const exportTimeout = 30 * time.Minute

// exportFilter reads request/api/app/status/from/to from the query.
func exportFilter(c *fiber.Ctx) (store.ExportFilter, string, error) {
	f := store.ExportFilter{APICode: c.Query("api"), AppKey: c.Query("app"), Status: store.RequestStatus(c.Query("status"))}
	if v := c.Query("request"); v != "" {
		id, err := requestid.Parse(v)
		if err != nil {
			return f, "", badRequest("request: %s", err.Error())
		}
		f.RequestID = id
	}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, "", badRequest("%s: must be an RFC 3339 time", name)
			}
			*dst = t
		}
	}
	format := c.Query("format", "jsonl")
	if format != "jsonl" && format != "csv" {
		return f, "", badRequest("format: must be jsonl or csv")
	}
	return f, format, nil
}

// adminExportItems streams the items (requests and results, masked where
// the definition says) of one request or of a filter, as JSON Lines or
// CSV. Rows go from PostgreSQL to the client as they come: an export of
// 100 000 items holds one row at a time.
func (s *Server) adminExportItems(c *fiber.Ctx) error {
	f, format, err := exportFilter(c)
	if err != nil {
		return err
	}
	cat := s.d.Catalog
	header := []string{"openApiReqId", "api", "app_key", "index", "status", "attempts", "sub_code", "sub_msg", "request", "result", "finished_at"}
	s.stream(c, "items", format, header, func(ctx context.Context, ew *exportWriter) error {
		defs := map[string]catalog.Definition{}
		return s.d.Store.StreamItems(ctx, f, func(it store.ExportItem) error {
			def, ok := defs[it.APICode]
			if !ok {
				def, _ = cat.ByCode(it.APICode)
				defs[it.APICode] = def
			}
			req := def.MaskResult(it.Request)
			var res []byte
			if it.Result.Valid {
				res = def.MaskResult(it.Result.JSONText)
			}
			finished := ""
			if it.FinishedAt.Valid {
				finished = it.FinishedAt.Time.UTC().Format(time.RFC3339Nano)
			}
			return ew.row([]string{itoa(it.RequestID), it.APICode, it.AppKey, strconv.Itoa(it.Index), string(it.Status),
				strconv.Itoa(it.Attempts), it.SubCode, it.SubMsg, string(req), string(res), finished},
				struct {
					ID         string          `json:"openApiReqId"`
					API        string          `json:"api"`
					AppKey     string          `json:"app_key"`
					Index      int             `json:"index"`
					Status     string          `json:"status"`
					Attempts   int             `json:"attempts"`
					SubCode    string          `json:"sub_code,omitempty"`
					SubMsg     string          `json:"sub_msg,omitempty"`
					Request    json.RawMessage `json:"request"`
					Result     json.RawMessage `json:"result,omitempty"`
					FinishedAt string          `json:"finished_at,omitempty"`
				}{itoa(it.RequestID), it.APICode, it.AppKey, it.Index, string(it.Status), it.Attempts, it.SubCode, it.SubMsg,
					req, res, finished})
		})
	})
	return nil
}

// adminExportCallLog streams the call-log lines of one request or of a
// filter (bodies were masked when logged).
func (s *Server) adminExportCallLog(c *fiber.Ctx) error {
	f, format, err := exportFilter(c)
	if err != nil {
		return err
	}
	header := []string{"id", "at", "openApiReqId", "app_key", "api", "protocol", "kind", "http_method", "path", "query",
		"http_status", "error_code", "duration_us", "remote_addr", "request_body", "response_body"}
	s.stream(c, "calllog", format, header, func(ctx context.Context, ew *exportWriter) error {
		return s.d.Store.StreamCallLog(ctx, f, func(l store.CallLogRow) error {
			rid := ""
			if l.RequestID.Valid {
				rid = itoa(l.RequestID.Int64)
			}
			return ew.row([]string{itoa(l.ID), l.At.UTC().Format(time.RFC3339Nano), rid, l.AppKey, l.APICode, l.Protocol, l.Kind,
				l.HTTPMethod, l.Path, l.Query, strconv.Itoa(l.HTTPStatus), l.ErrorCode, itoa(l.DurationUS), l.RemoteAddr,
				l.RequestBody, l.ResponseBody},
				map[string]any{"id": l.ID, "at": l.At.UTC(), "openApiReqId": rid, "app_key": l.AppKey,
					"api": l.APICode, "protocol": l.Protocol, "kind": l.Kind, "http_method": l.HTTPMethod, "path": l.Path,
					"query": l.Query, "http_status": l.HTTPStatus, "error_code": l.ErrorCode, "duration_us": l.DurationUS,
					"remote_addr": l.RemoteAddr, "request_body": l.RequestBody, "response_body": l.ResponseBody})
		})
	})
	return nil
}

// exportWriter writes export rows in one format: CSV fields, or one JSON
// object per line.
type exportWriter struct {
	w   *bufio.Writer
	csv *csv.Writer // nil for JSON Lines
}

func (ew *exportWriter) row(fields []string, obj any) error {
	if ew.csv != nil {
		return ew.csv.Write(fields)
	}
	line, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = ew.w.Write(append(line, '\n'))
	return err
}

// stream sends a download (CSV with header, or JSON Lines) written by
// write after the handler returns (Fiber's body stream writer): write gets its own context, since the
// call's is canceled when the handler returns, and must not touch c.
func (s *Server) stream(c *fiber.Ctx, name, format string, header []string, write func(ctx context.Context, ew *exportWriter) error) {
	log := s.logger(c)
	ct := "application/x-ndjson; charset=utf-8"
	if format == "csv" {
		ct = "text/csv; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="asyncgate-%s.%s"`, name, format))
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
		defer cancel()
		ew := &exportWriter{w: w}
		if format == "csv" {
			ew.csv = csv.NewWriter(w)
			_ = ew.csv.Write(header)
		}
		err := write(ctx, ew)
		if ew.csv != nil {
			ew.csv.Flush()
		}
		if err != nil {
			log.Warn("export stopped", "export", name, "error", err)
			// The 200 is sent already: say so in the body, so a truncated
			// export cannot pass for a complete one.
			if format == "csv" {
				fmt.Fprintf(w, "#export_error,%q\n", "export stopped: internal error")
			} else {
				fmt.Fprintln(w, `{"export_error":"export stopped: internal error"}`)
			}
		}
		_ = w.Flush()
	})
}
