package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx/types"

	"github.com/asyncgate/asyncgate/catalog"
)

type apiRow struct {
	Code               string             `db:"code"`
	Name               string             `db:"name"`
	Method             string             `db:"method"`
	ISV                string             `db:"isv"`
	AppID              string             `db:"app_id"`
	FormID             string             `db:"form_id"`
	ServiceName        string             `db:"service_name"`
	Path               string             `db:"path"`
	GroupName          string             `db:"group_name"`
	Operation          string             `db:"operation"`
	Status             string             `db:"status"`
	MinVersion         string             `db:"min_version"`
	Description        string             `db:"description"`
	TopMethod          sql.NullString     `db:"top_method"`
	ThirdPartyAuthOnly bool               `db:"third_party_auth_only"`
	ReturnDataOnly     bool               `db:"return_data_only"`
	Masking            bool               `db:"masking"`
	DedupEnabled       bool               `db:"dedup_enabled"`
	DedupWindowMS      int64              `db:"dedup_window_ms"`
	RejectUnknown      bool               `db:"reject_unknown_params"`
	WebService         types.NullJSONText `db:"webservice"`
	RequestHeaders     types.JSONText     `db:"request_headers"`
	Params             types.JSONText     `db:"params"`
	ParamControls      types.JSONText     `db:"param_controls"`
	ReturnParams       types.JSONText     `db:"return_params"`
	ErrorCodes         types.JSONText     `db:"error_codes"`
	Batch              types.JSONText     `db:"batch"`
	Handler            types.JSONText     `db:"handler"`
	TopLists           types.JSONText     `db:"top_lists"`
	UpdatedAt          time.Time          `db:"updated_at"`
}

const apiColumns = `code, name, method, isv, app_id, form_id, service_name, path, group_name, operation, status,
	min_version, description, top_method, third_party_auth_only, return_data_only, masking, dedup_enabled,
	dedup_window_ms, reject_unknown_params, webservice, request_headers, params, param_controls, return_params,
	error_codes, batch, handler, top_lists, updated_at`

func (r apiRow) definition() (catalog.Definition, error) {
	d := catalog.Definition{
		Code: r.Code, Name: r.Name, Method: r.Method, ISV: r.ISV, AppID: r.AppID, FormID: r.FormID,
		ServiceName: r.ServiceName, Group: r.GroupName, Operation: r.Operation, Status: catalog.Status(r.Status),
		MinVersion: r.MinVersion, Description: r.Description, TopMethod: r.TopMethod.String,
		Options: catalog.Options{
			ThirdPartyAuthOnly: r.ThirdPartyAuthOnly, ReturnDataOnly: r.ReturnDataOnly, Masking: r.Masking,
			DedupEnabled: r.DedupEnabled, DedupWindow: catalog.Duration(time.Duration(r.DedupWindowMS) * time.Millisecond),
			RejectUnknownParams: r.RejectUnknown,
		},
	}
	fields := []struct {
		name string
		raw  []byte
		dst  any
	}{
		{"request_headers", r.RequestHeaders, &d.RequestHeaders},
		{"params", r.Params, &d.Params},
		{"param_controls", r.ParamControls, &d.ParamControls},
		{"return_params", r.ReturnParams, &d.ReturnParams},
		{"error_codes", r.ErrorCodes, &d.ErrorCodes},
		{"batch", r.Batch, &d.Batch},
		{"handler", r.Handler, &d.Handler},
		{"top_lists", r.TopLists, &d.TopLists},
	}
	if r.WebService.Valid {
		fields = append(fields, struct {
			name string
			raw  []byte
			dst  any
		}{"webservice", r.WebService.JSONText, &d.WebService})
	}
	for _, f := range fields {
		if string(f.raw) == "[]" { // keep absent lists nil, as they were written
			continue
		}
		if err := json.Unmarshal(f.raw, f.dst); err != nil {
			return catalog.Definition{}, fmt.Errorf("decode %s of api %q: %w", f.name, r.Code, err)
		}
	}
	return d, nil
}

func jsonText(v any) (types.JSONText, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		b = []byte("[]")
	}
	return types.JSONText(b), nil
}

// UpsertDefinition creates or replaces an API definition. A clash on the
// request path or TOP method name is ErrConflict.
func (s *Store) UpsertDefinition(ctx context.Context, d catalog.Definition) error {
	lists := []any{d.RequestHeaders, d.Params, d.ParamControls, d.ReturnParams, d.ErrorCodes, d.Batch, d.Handler, d.TopLists}
	js := make([]any, len(lists))
	for i, v := range lists {
		t, err := jsonText(v)
		if err != nil {
			return fmt.Errorf("encode api %q: %w", d.Code, err)
		}
		js[i] = t
	}
	var ws any // NULL when absent
	if d.WebService != nil {
		b, err := json.Marshal(d.WebService)
		if err != nil {
			return fmt.Errorf("encode api %q webservice: %w", d.Code, err)
		}
		ws = string(b)
	}
	top := sql.NullString{String: d.TopMethod, Valid: d.TopMethod != ""}
	const q = `INSERT INTO api_definitions (code, name, method, isv, app_id, form_id, service_name, path, group_name,
		operation, status, min_version, description, top_method, third_party_auth_only, return_data_only, masking,
		dedup_enabled, dedup_window_ms, reject_unknown_params, webservice, request_headers, params, param_controls,
		return_params, error_codes, batch, handler, top_lists)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
			$22, $23, $24, $25, $26, $27, $28, $29)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, method = EXCLUDED.method, isv = EXCLUDED.isv,
			app_id = EXCLUDED.app_id, form_id = EXCLUDED.form_id, service_name = EXCLUDED.service_name,
			path = EXCLUDED.path, group_name = EXCLUDED.group_name, operation = EXCLUDED.operation,
			status = EXCLUDED.status, min_version = EXCLUDED.min_version, description = EXCLUDED.description,
			top_method = EXCLUDED.top_method, third_party_auth_only = EXCLUDED.third_party_auth_only,
			return_data_only = EXCLUDED.return_data_only, masking = EXCLUDED.masking,
			dedup_enabled = EXCLUDED.dedup_enabled, dedup_window_ms = EXCLUDED.dedup_window_ms,
			reject_unknown_params = EXCLUDED.reject_unknown_params, webservice = EXCLUDED.webservice,
			request_headers = EXCLUDED.request_headers, params = EXCLUDED.params,
			param_controls = EXCLUDED.param_controls, return_params = EXCLUDED.return_params,
			error_codes = EXCLUDED.error_codes, batch = EXCLUDED.batch, handler = EXCLUDED.handler,
			top_lists = EXCLUDED.top_lists, updated_at = now()`
	_, err := s.db.ExecContext(ctx, q, d.Code, d.Name, d.Method, d.ISV, d.AppID, d.FormID, d.ServiceName, d.Path(),
		d.Group, d.Operation, string(d.Status), d.MinVersion, d.Description, top, d.Options.ThirdPartyAuthOnly,
		d.Options.ReturnDataOnly, d.Options.Masking, d.Options.DedupEnabled, d.Options.DedupWindow.D().Milliseconds(),
		d.Options.RejectUnknownParams, ws, js[0], js[1], js[2], js[3], js[4], js[5], js[6], js[7])
	if err != nil {
		return fmt.Errorf("upsert api %q: %w", d.Code, mapErr(err))
	}
	return nil
}

// GetDefinition loads one definition by code.
func (s *Store) GetDefinition(ctx context.Context, code string) (catalog.Definition, error) {
	var r apiRow
	if err := s.db.QueryRowxContext(ctx, `SELECT `+apiColumns+` FROM api_definitions WHERE code = $1`, code).StructScan(&r); err != nil {
		return catalog.Definition{}, fmt.Errorf("get api %q: %w", code, mapErr(err))
	}
	return r.definition()
}

// ListDefinitions returns every definition ordered by code.
func (s *Store) ListDefinitions(ctx context.Context) ([]catalog.Definition, error) {
	rows, err := s.db.QueryxContext(ctx, `SELECT `+apiColumns+` FROM api_definitions ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("list apis: %w", err)
	}
	defer rows.Close()
	var out []catalog.Definition
	for rows.Next() {
		var r apiRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("scan api: %w", err)
		}
		d, err := r.definition()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DefinitionsVersion is a cheap change marker for the catalog cache: the
// newest update time and the row count.
func (s *Store) DefinitionsVersion(ctx context.Context) (string, error) {
	var v string
	const q = `SELECT COALESCE(max(updated_at)::text, '') || '/' || count(*)::text FROM api_definitions`
	if err := s.db.QueryRowxContext(ctx, q).Scan(&v); err != nil {
		return "", fmt.Errorf("apis version: %w", err)
	}
	return v, nil
}

// DeleteDefinition removes a definition. Requests already accepted keep running.
func (s *Store) DeleteDefinition(ctx context.Context, code string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM api_definitions WHERE code = $1`, code)
	if err != nil {
		return fmt.Errorf("delete api %q: %w", code, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete api %q: %w", code, ErrNotFound)
	}
	return nil
}
