package store

import (
	"context"
	"fmt"
	"time"
)

// ExportFilter selects items (and call-log lines) to export: one request,
// or requests by API, app, status and creation time.
type ExportFilter struct {
	RequestID int64
	APICode   string
	AppKey    string
	Status    RequestStatus // of the request
	From, To  time.Time
}

// ExportItem is an item with its request's identity.
type ExportItem struct {
	Item
	APICode string `db:"api_code"`
	AppKey  string `db:"app_key"`
}

const exportWhere = `($1::bigint = 0 OR r.id = $1) AND ($2 = '' OR r.api_code = $2) AND ($3 = '' OR r.app_key = $3)
	AND ($4 = '' OR r.status = $4) AND ($5::timestamptz IS NULL OR r.created_at >= $5)
	AND ($6::timestamptz IS NULL OR r.created_at < $6)`

// StreamItems calls fn for every item matching f, in request and index
// order, reading rows as they arrive: memory stays flat however many
// items there are. fn's error stops the stream.
func (s *Store) StreamItems(ctx context.Context, f ExportFilter, fn func(ExportItem) error) error {
	q := `SELECT ` + prefixed("i.", itemColumns) + `, r.api_code, r.app_key
		FROM async_requests r JOIN async_items i ON i.request_id = r.id
		WHERE ` + exportWhere + ` ORDER BY r.id, i.idx`
	rows, err := s.db.QueryxContext(ctx, q, f.RequestID, f.APICode, f.AppKey, string(f.Status), nullTime(f.From), nullTime(f.To))
	if err != nil {
		return fmt.Errorf("export items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it ExportItem
		if err := rows.StructScan(&it); err != nil {
			return fmt.Errorf("export items: %w", err)
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return rows.Err()
}

// StreamCallLog calls fn for every call-log line of the requests matching
// f, oldest first.
func (s *Store) StreamCallLog(ctx context.Context, f ExportFilter, fn func(CallLogRow) error) error {
	q := `SELECT l.id, l.at, l.app_key, l.api_code, l.request_id, l.protocol, l.kind, l.http_method, l.path, l.query,
			l.http_status, l.error_code, l.request_body, l.response_body, l.duration_us, l.remote_addr
		FROM async_requests r JOIN call_log l ON l.request_id = r.id
		WHERE ` + exportWhere + ` ORDER BY l.id`
	rows, err := s.db.QueryxContext(ctx, q, f.RequestID, f.APICode, f.AppKey, string(f.Status), nullTime(f.From), nullTime(f.To))
	if err != nil {
		return fmt.Errorf("export call log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l CallLogRow
		if err := rows.StructScan(&l); err != nil {
			return fmt.Errorf("export call log: %w", err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}
