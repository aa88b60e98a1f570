package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// CallLogEntry is one API call's request and response, for audit and export.
type CallLogEntry struct {
	At           time.Time
	AppKey       string
	APICode      string
	RequestID    int64 // 0 when the call created or named no request
	Protocol     string
	Kind         string // submit, checkStatus, queryResult, cancel, token
	HTTPMethod   string
	Path         string
	Query        string
	HTTPStatus   int
	ErrorCode    string
	RequestBody  string
	ResponseBody string
	Duration     time.Duration
	RemoteAddr   string
}

// maxLoggedBody bounds what the call log keeps of a body.
const maxLoggedBody = 64 << 10

// InsertCallLogs writes entries in one statement.
func (s *Store) InsertCallLogs(ctx context.Context, entries []CallLogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	n := len(entries)
	at := make([]time.Time, n)
	reqIDs := make([]sql.NullInt64, n)
	status := make([]int64, n)
	dur := make([]int64, n)
	cols := make([][]string, 11)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	for i, e := range entries {
		at[i] = e.At.UTC()
		if e.At.IsZero() {
			at[i] = time.Now().UTC()
		}
		if e.RequestID != 0 {
			reqIDs[i] = sql.NullInt64{Int64: e.RequestID, Valid: true}
		}
		status[i] = int64(e.HTTPStatus)
		dur[i] = e.Duration.Microseconds()
		for j, v := range []string{e.AppKey, e.APICode, e.Protocol, e.Kind, e.HTTPMethod, e.Path, e.Query,
			e.ErrorCode, truncate(e.RequestBody, maxLoggedBody), truncate(e.ResponseBody, maxLoggedBody), e.RemoteAddr} {
			cols[j][i] = v
		}
	}
	const q = `INSERT INTO call_log (at, app_key, api_code, request_id, protocol, kind, http_method, path, query,
		http_status, error_code, request_body, response_body, duration_us, remote_addr)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
			$7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::text[])`
	_, err := s.db.ExecContext(ctx, q, pq.Array(at), pq.Array(cols[0]), pq.Array(cols[1]), pq.Array(reqIDs),
		pq.Array(cols[2]), pq.Array(cols[3]), pq.Array(cols[4]), pq.Array(cols[5]), pq.Array(cols[6]),
		pq.Array(status), pq.Array(cols[7]), pq.Array(cols[8]), pq.Array(cols[9]), pq.Array(dur), pq.Array(cols[10]))
	if err != nil {
		return fmt.Errorf("insert call log: %w", err)
	}
	return nil
}

// CallLogRow is a stored call-log line.
type CallLogRow struct {
	ID           int64         `db:"id"`
	At           time.Time     `db:"at"`
	AppKey       string        `db:"app_key"`
	APICode      string        `db:"api_code"`
	RequestID    sql.NullInt64 `db:"request_id"`
	Protocol     string        `db:"protocol"`
	Kind         string        `db:"kind"`
	HTTPMethod   string        `db:"http_method"`
	Path         string        `db:"path"`
	Query        string        `db:"query"`
	HTTPStatus   int           `db:"http_status"`
	ErrorCode    string        `db:"error_code"`
	RequestBody  string        `db:"request_body"`
	ResponseBody string        `db:"response_body"`
	DurationUS   int64         `db:"duration_us"`
	RemoteAddr   string        `db:"remote_addr"`
}

// ListCallLog returns a request's call-log lines, oldest first.
func (s *Store) ListCallLog(ctx context.Context, requestID int64) ([]CallLogRow, error) {
	var out []CallLogRow
	const q = `SELECT id, at, app_key, api_code, request_id, protocol, kind, http_method, path, query, http_status,
		error_code, request_body, response_body, duration_us, remote_addr FROM call_log WHERE request_id = $1 ORDER BY id`
	if err := sqlx.SelectContext(ctx, s.db, &out, q, requestID); err != nil {
		return nil, fmt.Errorf("list call log of %d: %w", requestID, err)
	}
	return out, nil
}
