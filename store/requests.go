package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/jmoiron/sqlx/types"
	"github.com/lib/pq"
)

// RequestStatus is the task status shared by both protocols.
type RequestStatus string

const (
	StatusNew      RequestStatus = "new"
	StatusDoing    RequestStatus = "doing"
	StatusDone     RequestStatus = "done"
	StatusCanceled RequestStatus = "canceled"
)

// Final reports whether the status will not change any more.
func (s RequestStatus) Final() bool { return s == StatusDone || s == StatusCanceled }

// Dispatch states of the outbox.
const (
	DispatchPending = "pending" // waiting for its workflow to be started
	DispatchStarted = "started" // workflow started
	DispatchSkipped = "skipped" // canceled before it was started
)

// Request is one row of the intermediate table.
type Request struct {
	ID               int64          `db:"id"`
	APICode          string         `db:"api_code"`
	AppKey           string         `db:"app_key"`
	Protocol         string         `db:"protocol"`
	Status           RequestStatus  `db:"status"`
	Header           types.JSONText `db:"header"`
	Total            int            `db:"total"`
	Succeeded        int            `db:"succeeded"`
	Failed           int            `db:"failed"`
	Canceled         int            `db:"canceled"`
	WorkflowID       string         `db:"workflow_id"`
	RunID            string         `db:"run_id"`
	DispatchState    string         `db:"dispatch_state"`
	DispatchAttempts int            `db:"dispatch_attempts"`
	DispatchError    string         `db:"dispatch_error"`
	CancelRequested  bool           `db:"cancel_requested"`
	NotifyState      string         `db:"notify_state"`
	CreatedAt        time.Time      `db:"created_at"`
	DispatchedAt     sql.NullTime   `db:"dispatched_at"`
	StartedAt        sql.NullTime   `db:"started_at"`
	FinishedAt       sql.NullTime   `db:"finished_at"`
	NotifiedAt       sql.NullTime   `db:"notified_at"`
	Retries          int            `db:"retries"`
}

const requestColumns = `id, api_code, app_key, protocol, status, header, total, succeeded, failed, canceled,
	workflow_id, run_id, dispatch_state, dispatch_attempts, dispatch_error, cancel_requested, notify_state,
	created_at, dispatched_at, started_at, finished_at, notified_at, retries`

// NewRequest is an accepted call, stored in one transaction with its items
// and its call-log line before the receipt is sent.
type NewRequest struct {
	ID       int64
	APICode  string
	AppKey   string
	Protocol string // kapi or top
	Header   json.RawMessage
	Items    []json.RawMessage
	DedupKey string
	// DedupWindow: with a DedupKey, a request with the same key accepted
	// within this window makes CreateRequest fail with *DuplicateError.
	DedupWindow time.Duration
	WorkflowID  string
	Log         *CallLogEntry // optional; RequestID is filled in
}

// DuplicateError refuses a request whose dedup key was seen within the
// window; Original is the request accepted first.
type DuplicateError struct{ Original int64 }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate of request %d", e.Original)
}

// CreateRequest stores an accepted request durably. Once it returns, the
// request will run: the dispatcher starts its workflow from the table.
// With a DedupKey the check and the insert are serialized per key (an
// advisory lock), so two identical calls racing each other make one request.
func (s *Store) CreateRequest(ctx context.Context, nr NewRequest) (Request, error) {
	if nr.DedupKey == "" {
		return s.insertRequest(ctx, nr)
	}
	var out Request
	err := s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.db.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, nr.DedupKey); err != nil {
			return fmt.Errorf("lock dedup key: %w", err)
		}
		var orig int64
		err := tx.db.QueryRowxContext(ctx, `SELECT id FROM async_requests WHERE dedup_key = $1
			AND created_at > now() - $2 * interval '1 millisecond' ORDER BY created_at DESC LIMIT 1`,
			nr.DedupKey, nr.DedupWindow.Milliseconds()).Scan(&orig)
		switch {
		case err == nil:
			return &DuplicateError{Original: orig}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("find duplicate: %w", err)
		}
		out, err = tx.insertRequest(ctx, nr)
		return err
	})
	return out, err
}

func (s *Store) insertRequest(ctx context.Context, nr NewRequest) (Request, error) {
	header := []byte(nr.Header)
	if len(header) == 0 {
		header = []byte("{}")
	}
	var dedup sql.NullString
	if nr.DedupKey != "" {
		dedup = sql.NullString{String: nr.DedupKey, Valid: true}
	}
	items := make([]string, len(nr.Items))
	for i, it := range nr.Items {
		items[i] = string(it)
	}
	var e CallLogEntry
	if nr.Log != nil {
		e = *nr.Log
		if e.At.IsZero() {
			e.At = time.Now()
		}
	}
	// One statement, so one round trip and an implicit transaction: the
	// request, its items and its call-log line commit together. This is
	// the whole cost of a receipt.
	q := `WITH r AS (
			INSERT INTO async_requests (id, api_code, app_key, protocol, header, total, dedup_key, workflow_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ` + requestColumns + `
		), i AS (
			INSERT INTO async_items (request_id, idx, request)
			SELECT $1, t.ord - 1, t.item::jsonb FROM unnest($9::text[]) WITH ORDINALITY AS t(item, ord)
		), l AS (
			INSERT INTO call_log (at, app_key, api_code, request_id, protocol, kind, http_method, path, query,
				http_status, error_code, request_body, response_body, duration_us, remote_addr)
			SELECT $10, $3, $2, $1, $4, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20 WHERE $21::bool
		)
		SELECT ` + requestColumns + ` FROM r`
	var out Request
	err := s.db.QueryRowxContext(ctx, q, nr.ID, nr.APICode, nr.AppKey, nr.Protocol, string(header), len(nr.Items), dedup,
		nr.WorkflowID, pq.Array(items),
		e.At.UTC(), e.Kind, e.HTTPMethod, e.Path, e.Query, e.HTTPStatus, e.ErrorCode,
		truncate(e.RequestBody, maxLoggedBody), truncate(e.ResponseBody, maxLoggedBody), e.Duration.Microseconds(), e.RemoteAddr,
		nr.Log != nil).StructScan(&out)
	if err != nil {
		return Request{}, fmt.Errorf("insert request %d: %w", nr.ID, mapErr(err))
	}
	return out, nil
}

// GetRequest loads one request.
func (s *Store) GetRequest(ctx context.Context, id int64) (Request, error) {
	var r Request
	if err := s.db.QueryRowxContext(ctx, `SELECT `+requestColumns+` FROM async_requests WHERE id = $1`, id).StructScan(&r); err != nil {
		return Request{}, fmt.Errorf("get request %d: %w", id, mapErr(err))
	}
	return r, nil
}

// ClaimPending leases up to limit unstarted requests for this dispatcher.
// SKIP LOCKED plus the lease let several dispatchers (api processes) run
// side by side; a dispatcher that dies loses its lease and the rows come back.
func (s *Store) ClaimPending(ctx context.Context, limit int, lease time.Duration) ([]Request, error) {
	q := `UPDATE async_requests r SET lease_until = now() + $2 * interval '1 millisecond',
			dispatch_attempts = r.dispatch_attempts + 1, updated_at = now()
		FROM (SELECT id FROM async_requests
			WHERE dispatch_state = 'pending' AND next_dispatch_at <= now() AND (lease_until IS NULL OR lease_until < now())
			ORDER BY next_dispatch_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) c
		WHERE r.id = c.id
		RETURNING ` + prefixed("r.", requestColumns)
	rows, err := s.db.QueryxContext(ctx, q, limit, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim pending: %w", err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		var r Request
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("scan pending: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkDispatched records that the request's workflow was started.
func (s *Store) MarkDispatched(ctx context.Context, id int64, runID string) error {
	const q = `UPDATE async_requests SET dispatch_state = 'started', run_id = $2, dispatched_at = now(),
		lease_until = NULL, dispatch_error = '', updated_at = now() WHERE id = $1 AND dispatch_state = 'pending'`
	if _, err := s.db.ExecContext(ctx, q, id, runID); err != nil {
		return fmt.Errorf("mark dispatched %d: %w", id, err)
	}
	return nil
}

// MarkDispatchFailed releases the lease and schedules another start attempt.
func (s *Store) MarkDispatchFailed(ctx context.Context, id int64, reason string, retryIn time.Duration) error {
	const q = `UPDATE async_requests SET lease_until = NULL, dispatch_error = $2,
		next_dispatch_at = now() + $3 * interval '1 millisecond', updated_at = now()
		WHERE id = $1 AND dispatch_state = 'pending'`
	if _, err := s.db.ExecContext(ctx, q, id, truncate(reason, 500), retryIn.Milliseconds()); err != nil {
		return fmt.Errorf("mark dispatch failed %d: %w", id, err)
	}
	return nil
}

// RequestCancel marks a request canceled by its owner. A request whose
// workflow was not started yet is canceled right here (it never starts);
// otherwise the caller cancels the workflow, which finalizes the row.
// It returns the request after the change.
func (s *Store) RequestCancel(ctx context.Context, id int64) (Request, error) {
	var out Request
	err := s.InTx(ctx, func(tx *Store) error {
		var r Request
		q := `SELECT ` + requestColumns + ` FROM async_requests WHERE id = $1 FOR UPDATE`
		if err := tx.db.QueryRowxContext(ctx, q, id).StructScan(&r); err != nil {
			return fmt.Errorf("lock request %d: %w", id, mapErr(err))
		}
		if r.Status.Final() {
			out = r
			return nil
		}
		if r.DispatchState == DispatchPending {
			if _, err := tx.db.ExecContext(ctx, `UPDATE async_items SET status = 'canceled', sub_code = 'asyncgate.canceled',
				sub_msg = 'request canceled', finished_at = now(), updated_at = now() WHERE request_id = $1 AND status = 'pending'`, id); err != nil {
				return fmt.Errorf("cancel items of %d: %w", id, err)
			}
			u := `UPDATE async_requests SET status = 'canceled', dispatch_state = 'skipped', cancel_requested = true,
				canceled = total, finished_at = now(), lease_until = NULL, updated_at = now() WHERE id = $1 RETURNING ` + requestColumns
			if err := tx.db.QueryRowxContext(ctx, u, id).StructScan(&out); err != nil {
				return fmt.Errorf("cancel request %d: %w", id, err)
			}
			return nil
		}
		u := `UPDATE async_requests SET cancel_requested = true, updated_at = now() WHERE id = $1 RETURNING ` + requestColumns
		if err := tx.db.QueryRowxContext(ctx, u, id).StructScan(&out); err != nil {
			return fmt.Errorf("request cancel %d: %w", id, err)
		}
		return nil
	})
	return out, err
}

// MarkDoing moves a request to doing when its workflow begins (idempotent).
func (s *Store) MarkDoing(ctx context.Context, id int64) error {
	const q = `UPDATE async_requests SET status = 'doing', started_at = COALESCE(started_at, now()), updated_at = now()
		WHERE id = $1 AND status = 'new'`
	if _, err := s.db.ExecContext(ctx, q, id); err != nil {
		return fmt.Errorf("mark doing %d: %w", id, err)
	}
	return nil
}

// Progress are a request's item counts.
type Progress struct {
	Total     int `db:"total" json:"total"`
	Succeeded int `db:"succeeded" json:"succeeded"`
	Failed    int `db:"failed" json:"failed"`
	Canceled  int `db:"canceled" json:"canceled"`
}

// Finished is the number of items with a final outcome.
func (p Progress) Finished() int { return p.Succeeded + p.Failed + p.Canceled }

// CountItems aggregates a request's items: the table's view of progress.
func (s *Store) CountItems(ctx context.Context, id int64) (Progress, error) {
	var p Progress
	const q = `SELECT count(*) AS total,
		count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
		count(*) FILTER (WHERE status = 'failed') AS failed,
		count(*) FILTER (WHERE status = 'canceled') AS canceled
		FROM async_items WHERE request_id = $1`
	if err := s.db.QueryRowxContext(ctx, q, id).StructScan(&p); err != nil {
		return Progress{}, fmt.Errorf("count items of %d: %w", id, err)
	}
	return p, nil
}

// FinishRequest closes a request: with canceled set, every item still pending
// becomes canceled; the counts are taken from the items (the authoritative
// record) and the status becomes done or canceled. A request that becomes
// done while its app has a notify URL gets notify_state pending: its
// callback is due. Idempotent.
func (s *Store) FinishRequest(ctx context.Context, id int64, canceled bool) (Request, error) {
	var out Request
	err := s.InTx(ctx, func(tx *Store) error {
		if canceled {
			if _, err := tx.db.ExecContext(ctx, `UPDATE async_items SET status = 'canceled', sub_code = 'asyncgate.canceled',
				sub_msg = 'request canceled', finished_at = now(), updated_at = now() WHERE request_id = $1 AND status = 'pending'`, id); err != nil {
				return fmt.Errorf("cancel items of %d: %w", id, err)
			}
		}
		p, err := tx.CountItems(ctx, id)
		if err != nil {
			return err
		}
		status := StatusDone
		if canceled {
			status = StatusCanceled
		}
		q := `UPDATE async_requests SET status = CASE WHEN status IN ('done', 'canceled') THEN status ELSE $2 END,
			succeeded = $3, failed = $4, canceled = $5, finished_at = COALESCE(finished_at, now()),
			started_at = COALESCE(started_at, now()), updated_at = now(),
			notify_state = CASE WHEN notify_state = 'none' AND status <> 'canceled' AND $2 = 'done'
				AND EXISTS (SELECT 1 FROM apps a WHERE a.app_key = async_requests.app_key AND a.notify_url <> '')
				THEN 'pending' ELSE notify_state END
			WHERE id = $1 RETURNING ` + requestColumns
		if err := tx.db.QueryRowxContext(ctx, q, id, string(status), p.Succeeded, p.Failed, p.Canceled).StructScan(&out); err != nil {
			return fmt.Errorf("finish request %d: %w", id, mapErr(err))
		}
		return nil
	})
	return out, err
}

// RequestFilter selects requests for listings.
type RequestFilter struct {
	AppKey  string
	APICode string
	Status  RequestStatus
	Notify  string    // notify_state; empty = any
	From    time.Time // created at or after; zero = no bound
	To      time.Time // created before; zero = no bound
	Limit   int       // default 100, max 1000
	Offset  int
}

const requestFilterWhere = `($1 = '' OR app_key = $1) AND ($2 = '' OR api_code = $2) AND ($3 = '' OR status = $3)
		AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
		AND ($6 = '' OR notify_state = $6)`

// CountRequests counts the requests matching f (Limit and Offset ignored).
func (s *Store) CountRequests(ctx context.Context, f RequestFilter) (int, error) {
	var n int
	q := `SELECT count(*) FROM async_requests WHERE ` + requestFilterWhere
	if err := s.db.QueryRowxContext(ctx, q, f.AppKey, f.APICode, string(f.Status), nullTime(f.From), nullTime(f.To), f.Notify).Scan(&n); err != nil {
		return 0, fmt.Errorf("count requests: %w", err)
	}
	return n, nil
}

// ListRequests returns requests matching f, newest first.
func (s *Store) ListRequests(ctx context.Context, f RequestFilter) ([]Request, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT ` + requestColumns + ` FROM async_requests WHERE ` + requestFilterWhere + `
		ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8`
	var out []Request
	if err := sqlx.SelectContext(ctx, s.db, &out, q, f.AppKey, f.APICode, string(f.Status), nullTime(f.From), nullTime(f.To), f.Notify, f.Limit, f.Offset); err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out, nil
}

func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: t.UTC(), Valid: true}
}

func prefixed(prefix, columns string) string {
	out := make([]byte, 0, len(columns)*2)
	start := true
	for i := 0; i < len(columns); i++ {
		c := columns[i]
		if start && c != ' ' && c != '\n' && c != '\t' {
			out = append(out, prefix...)
			start = false
		}
		out = append(out, c)
		if c == ',' {
			start = true
		}
	}
	return string(out)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ErrNotRetryable is returned by RetryFailedItems when there is nothing to
// retry now.
var ErrNotRetryable = errors.New("request not retryable")

// RetryFailedItems makes a finished request's failed items pending again
// and the request new, with a fresh workflow id for the dispatcher to
// start (the old run's id cannot be reused). Succeeded items keep their
// outcome: ProcessItem returns it without running the handler again. The
// callback is not sent a second time. It returns the request and how many
// items are retried.
func (s *Store) RetryFailedItems(ctx context.Context, id int64) (Request, int, error) {
	var out Request
	var n int
	err := s.InTx(ctx, func(tx *Store) error {
		var r Request
		q := `SELECT ` + requestColumns + ` FROM async_requests WHERE id = $1 FOR UPDATE`
		if err := tx.db.QueryRowxContext(ctx, q, id).StructScan(&r); err != nil {
			return fmt.Errorf("lock request %d: %w", id, mapErr(err))
		}
		if r.Status != StatusDone {
			return fmt.Errorf("%w: request is %s, not done", ErrNotRetryable, r.Status)
		}
		res, err := tx.db.ExecContext(ctx, `UPDATE async_items SET status = 'pending', result = NULL, sub_code = '',
			sub_msg = '', finished_at = NULL, updated_at = now() WHERE request_id = $1 AND status = 'failed'`, id)
		if err != nil {
			return fmt.Errorf("reset failed items of %d: %w", id, err)
		}
		affected, _ := res.RowsAffected()
		if n = int(affected); n == 0 {
			return fmt.Errorf("%w: no failed items", ErrNotRetryable)
		}
		u := `UPDATE async_requests SET status = 'new', retries = retries + 1,
				workflow_id = 'asyncgate-request-' || id || '-retry-' || (retries + 1),
				dispatch_state = 'pending', next_dispatch_at = now(), lease_until = NULL, dispatch_error = '', run_id = '',
				succeeded = 0, failed = 0, canceled = 0, finished_at = NULL, updated_at = now()
			WHERE id = $1 RETURNING ` + requestColumns
		if err := tx.db.QueryRowxContext(ctx, u, id).StructScan(&out); err != nil {
			return fmt.Errorf("reopen request %d: %w", id, err)
		}
		return nil
	})
	return out, n, err
}

// Backlog is the intermediate table's view of the queue.
type Backlog struct {
	New, Doing       int
	DispatchPending  int
	OldestUnfinished time.Duration
}

// ReadBacklog counts unfinished requests (for metrics and the console).
func (s *Store) ReadBacklog(ctx context.Context) (Backlog, error) {
	var b Backlog
	var oldest sql.NullFloat64
	const q = `SELECT count(*) FILTER (WHERE status = 'new'), count(*) FILTER (WHERE status = 'doing'),
			count(*) FILTER (WHERE dispatch_state = 'pending'), EXTRACT(EPOCH FROM now() - min(created_at))
		FROM async_requests WHERE status IN ('new', 'doing')`
	if err := s.db.QueryRowxContext(ctx, q).Scan(&b.New, &b.Doing, &b.DispatchPending, &oldest); err != nil {
		return Backlog{}, fmt.Errorf("read backlog: %w", err)
	}
	b.OldestUnfinished = time.Duration(oldest.Float64 * float64(time.Second))
	return b, nil
}

// MinuteCount is how many items finished in one minute.
type MinuteCount struct {
	Minute time.Time `db:"minute" json:"minute"`
	Items  int       `db:"items" json:"items"`
}

// ItemsPerMinute counts items finished in each of the last minutes
// (oldest first, minutes without items left out).
func (s *Store) ItemsPerMinute(ctx context.Context, minutes int) ([]MinuteCount, error) {
	out := []MinuteCount{}
	const q = `SELECT date_trunc('minute', finished_at) AS minute, count(*) AS items FROM async_items
		WHERE finished_at > date_trunc('minute', now()) - $1 * interval '1 minute'
		GROUP BY 1 ORDER BY 1`
	if err := sqlx.SelectContext(ctx, s.db, &out, q, minutes); err != nil {
		return nil, fmt.Errorf("items per minute: %w", err)
	}
	return out, nil
}
