package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/jmoiron/sqlx/types"
)

// ItemStatus is a subtask's state.
type ItemStatus string

const (
	ItemPending   ItemStatus = "pending"
	ItemSucceeded ItemStatus = "succeeded"
	ItemFailed    ItemStatus = "failed"
	ItemCanceled  ItemStatus = "canceled"
)

// Final reports whether the item has its outcome.
func (s ItemStatus) Final() bool { return s != ItemPending }

// Item is one subtask with its request and outcome.
type Item struct {
	RequestID  int64              `db:"request_id"`
	Index      int                `db:"idx"`
	Request    types.JSONText     `db:"request"`
	Status     ItemStatus         `db:"status"`
	Attempts   int                `db:"attempts"`
	Result     types.NullJSONText `db:"result"`
	SubCode    string             `db:"sub_code"`
	SubMsg     string             `db:"sub_msg"`
	FinishedAt sql.NullTime       `db:"finished_at"`
	UpdatedAt  time.Time          `db:"updated_at"`
}

const itemColumns = `request_id, idx, request, status, attempts, result, sub_code, sub_msg, finished_at, updated_at`

// GetItem loads one item.
func (s *Store) GetItem(ctx context.Context, requestID int64, idx int) (Item, error) {
	var it Item
	q := `SELECT ` + itemColumns + ` FROM async_items WHERE request_id = $1 AND idx = $2`
	if err := s.db.QueryRowxContext(ctx, q, requestID, idx).StructScan(&it); err != nil {
		return Item{}, fmt.Errorf("get item %d[%d]: %w", requestID, idx, mapErr(err))
	}
	return it, nil
}

// ListItems returns a page of a request's items in index order.
func (s *Store) ListItems(ctx context.Context, requestID int64, offset, limit int) ([]Item, error) {
	var out []Item
	q := `SELECT ` + itemColumns + ` FROM async_items WHERE request_id = $1 ORDER BY idx OFFSET $2 LIMIT $3`
	if err := sqlx.SelectContext(ctx, s.db, &out, q, requestID, offset, limit); err != nil {
		return nil, fmt.Errorf("list items of %d: %w", requestID, err)
	}
	return out, nil
}

// ItemOutcome is the final result of one item.
type ItemOutcome struct {
	RequestID int64
	Index     int
	Status    ItemStatus // succeeded or failed
	Attempts  int
	Result    json.RawMessage // on success
	SubCode   string          // on failure
	SubMsg    string
}

// RecordItemOutcome stores an item's outcome once: the first final outcome
// wins, so a retried activity never records a result twice. It returns the
// item as stored (the earlier outcome when there was one).
func (s *Store) RecordItemOutcome(ctx context.Context, o ItemOutcome) (Item, error) {
	var result any // NULL unless succeeded
	if o.Status == ItemSucceeded {
		result = string(o.Result)
	}
	q := `UPDATE async_items SET status = $3, attempts = GREATEST(attempts, $4), result = $5::jsonb,
			sub_code = $6, sub_msg = $7, finished_at = now(), updated_at = now()
		WHERE request_id = $1 AND idx = $2 AND status = 'pending'
		RETURNING ` + itemColumns
	var it Item
	err := s.db.QueryRowxContext(ctx, q, o.RequestID, o.Index, string(o.Status), o.Attempts, result,
		truncate(o.SubCode, 200), truncate(o.SubMsg, 2000)).StructScan(&it)
	if err == sql.ErrNoRows { // already final (or missing): report what is stored
		return s.GetItem(ctx, o.RequestID, o.Index)
	}
	if err != nil {
		return Item{}, fmt.Errorf("record item %d[%d]: %w", o.RequestID, o.Index, mapErr(err))
	}
	return it, nil
}

// NoteItemAttempt records that an attempt started (for operators watching
// retries); it never changes a final item.
func (s *Store) NoteItemAttempt(ctx context.Context, requestID int64, idx, attempt int) error {
	const q = `UPDATE async_items SET attempts = GREATEST(attempts, $3), updated_at = now()
		WHERE request_id = $1 AND idx = $2 AND status = 'pending'`
	if _, err := s.db.ExecContext(ctx, q, requestID, idx, attempt); err != nil {
		return fmt.Errorf("note attempt %d[%d]: %w", requestID, idx, err)
	}
	return nil
}

// ItemWork is an item with what its handler needs from the request.
type ItemWork struct {
	Item
	Header types.JSONText `db:"header"`
	AppKey string         `db:"app_key"`
}

// GetItemWork loads an item and its request's header fields in one query.
func (s *Store) GetItemWork(ctx context.Context, requestID int64, idx int) (ItemWork, error) {
	var w ItemWork
	q := `SELECT ` + prefixed("i.", itemColumns) + `, r.header, r.app_key
		FROM async_items i JOIN async_requests r ON r.id = i.request_id WHERE i.request_id = $1 AND i.idx = $2`
	if err := s.db.QueryRowxContext(ctx, q, requestID, idx).StructScan(&w); err != nil {
		return ItemWork{}, fmt.Errorf("get item %d[%d]: %w", requestID, idx, mapErr(err))
	}
	return w, nil
}
