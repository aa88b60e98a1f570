package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Notify states of a request's completion callback.
const (
	NotifyNone      = "none"      // no callback due (no notify URL, not done)
	NotifyPending   = "pending"   // due, being delivered
	NotifyDelivered = "delivered" // the receiver acknowledged it
	NotifyFailed    = "failed"    // every attempt failed; an admin may redeliver
)

// NotifyWork is what a delivery needs: the request, its app's callback
// settings and secret, and the API's TOP method name.
type NotifyWork struct {
	Request
	NotifyURL    string `db:"notify_url"`
	NotifyFormat string `db:"notify_format"`
	Secret       string `db:"secret"`
	TopMethod    string `db:"top_method"`
}

// GetNotifyWork loads a request with its app's callback settings.
func (s *Store) GetNotifyWork(ctx context.Context, id int64) (NotifyWork, error) {
	var w NotifyWork
	q := `SELECT ` + prefixed("r.", requestColumns) + `, a.notify_url, a.notify_format, a.secret,
		COALESCE(d.top_method, '') AS top_method
		FROM async_requests r JOIN apps a ON a.app_key = r.app_key
		LEFT JOIN api_definitions d ON d.code = r.api_code WHERE r.id = $1`
	if err := s.db.QueryRowxContext(ctx, q, id).StructScan(&w); err != nil {
		return NotifyWork{}, fmt.Errorf("load notify work %d: %w", id, mapErr(err))
	}
	return w, nil
}

// NotifyAttempt is one delivery attempt of a callback.
type NotifyAttempt struct {
	ID           int64     `db:"id" json:"id"`
	RequestID    int64     `db:"request_id" json:"request_id,string"`
	Attempt      int       `db:"attempt" json:"attempt"`
	At           time.Time `db:"at" json:"at"`
	URL          string    `db:"url" json:"url"`
	Format       string    `db:"format" json:"format"`
	HTTPStatus   int       `db:"http_status" json:"http_status"`
	ResponseBody string    `db:"response_body" json:"response_body"`
	Error        string    `db:"error" json:"error"`
	DurationUS   int64     `db:"duration_us" json:"duration_us"`
	Delivered    bool      `db:"delivered" json:"delivered"`
}

const notifyAttemptColumns = `id, request_id, attempt, at, url, format, http_status, response_body, error, duration_us, delivered`

// maxNotifyBody bounds the stored response body of an attempt.
const maxNotifyBody = 1024

// RecordNotifyAttempt appends an attempt (numbered after the previous ones)
// and, when it delivered, marks the request's callback delivered in the same
// statement. A second delivered attempt for a request is ErrConflict: the
// callback counts as delivered exactly once.
func (s *Store) RecordNotifyAttempt(ctx context.Context, a NotifyAttempt) (NotifyAttempt, error) {
	const q = `WITH ins AS (
			INSERT INTO notify_attempts (request_id, attempt, at, url, format, http_status, response_body, error,
				duration_us, delivered)
			VALUES ($1, (SELECT COALESCE(max(attempt), 0) + 1 FROM notify_attempts WHERE request_id = $1),
				$2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING ` + notifyAttemptColumns + `),
		upd AS (
			UPDATE async_requests SET notify_state = 'delivered', notified_at = $2, updated_at = now()
			WHERE id = $1 AND $9::bool)
		SELECT ` + notifyAttemptColumns + ` FROM ins`
	var out NotifyAttempt
	err := s.db.QueryRowxContext(ctx, q, a.RequestID, a.At.UTC(), a.URL, a.Format, a.HTTPStatus,
		truncate(a.ResponseBody, maxNotifyBody), a.Error, a.DurationUS, a.Delivered).StructScan(&out)
	if err != nil {
		return NotifyAttempt{}, fmt.Errorf("record notify attempt of %d: %w", a.RequestID, mapErr(err))
	}
	return out, nil
}

// MarkNotifyFailed records that every attempt failed (unless one delivered).
func (s *Store) MarkNotifyFailed(ctx context.Context, id int64) error {
	const q = `UPDATE async_requests SET notify_state = 'failed', updated_at = now()
		WHERE id = $1 AND notify_state <> 'delivered'`
	if _, err := s.db.ExecContext(ctx, q, id); err != nil {
		return fmt.Errorf("mark notify failed %d: %w", id, err)
	}
	return nil
}

// ErrNotRedeliverable is returned by PrepareRedelivery when the request's
// callback cannot be sent again now.
var ErrNotRedeliverable = errors.New("callback not redeliverable")

// PrepareRedelivery makes a done request's callback due again. Allowed when
// it failed, or was never due but the app now has a notify URL; refused
// (ErrNotRedeliverable, with the state) while one is pending or after one
// was delivered.
func (s *Store) PrepareRedelivery(ctx context.Context, id int64) (Request, error) {
	q := `UPDATE async_requests r SET notify_state = 'pending', updated_at = now()
		FROM apps a WHERE r.id = $1 AND a.app_key = r.app_key AND a.notify_url <> ''
		AND r.status = 'done' AND r.notify_state IN ('failed', 'none')
		RETURNING ` + prefixed("r.", requestColumns)
	var out Request
	err := s.db.QueryRowxContext(ctx, q, id).StructScan(&out)
	if err == nil {
		return out, nil
	}
	if !errors.Is(mapErr(err), ErrNotFound) {
		return Request{}, fmt.Errorf("prepare redelivery %d: %w", id, err)
	}
	w, err := s.GetNotifyWork(ctx, id)
	if err != nil {
		return Request{}, err
	}
	switch {
	case w.Status != StatusDone:
		return w.Request, fmt.Errorf("%w: request is %s, not done", ErrNotRedeliverable, w.Status)
	case w.NotifyURL == "":
		return w.Request, fmt.Errorf("%w: app %s has no notify URL", ErrNotRedeliverable, w.AppKey)
	default:
		return w.Request, fmt.Errorf("%w: callback is %s", ErrNotRedeliverable, w.NotifyState)
	}
}

// ListNotifyAttempts returns a request's delivery attempts, oldest first.
func (s *Store) ListNotifyAttempts(ctx context.Context, id int64) ([]NotifyAttempt, error) {
	out := []NotifyAttempt{}
	q := `SELECT ` + notifyAttemptColumns + ` FROM notify_attempts WHERE request_id = $1 ORDER BY attempt`
	if err := sqlx.SelectContext(ctx, s.db, &out, q, id); err != nil {
		return nil, fmt.Errorf("list notify attempts of %d: %w", id, err)
	}
	return out, nil
}
