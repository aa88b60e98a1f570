package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/asyncgate/asyncgate/catalog"
)

type appRow struct {
	AppKey       string         `db:"app_key"`
	Secret       string         `db:"secret"`
	Name         string         `db:"name"`
	ISV          string         `db:"isv"`
	NotifyURL    string         `db:"notify_url"`
	NotifyFormat string         `db:"notify_format"`
	RateLimit    int            `db:"rate_limit"`
	Tester       bool           `db:"tester"`
	Grants       pq.StringArray `db:"grants"`
	PrevSecret   string         `db:"previous_secret"`
	PrevUntil    sql.NullTime   `db:"previous_secret_until"`
}

func (r appRow) app() catalog.App {
	return catalog.App{
		AppKey: r.AppKey, Secret: r.Secret, Name: r.Name, ISV: r.ISV,
		NotifyURL: r.NotifyURL, NotifyFormat: catalog.NotifyFormat(r.NotifyFormat),
		RateLimit: r.RateLimit, Tester: r.Tester, Grants: []string(r.Grants),
		PreviousSecret: r.PrevSecret, PreviousSecretUntil: r.PrevUntil.Time,
	}
}

const appColumns = `a.app_key, a.secret, a.name, a.isv, a.notify_url, a.notify_format, a.rate_limit, a.tester,
	a.previous_secret, a.previous_secret_until,
	COALESCE((SELECT array_agg(g.api_code ORDER BY g.api_code) FROM app_grants g WHERE g.app_key = a.app_key), '{}') AS grants`

// ErrSecretRequired refuses a new app without a secret.
var ErrSecretRequired = errors.New("secret: is required for a new app")

// UpsertApp creates or replaces an app and its grants. An empty secret
// keeps the existing app's secret (exports carry none).
func (s *Store) UpsertApp(ctx context.Context, a catalog.App) error {
	format := string(a.NotifyFormat)
	if format == "" {
		format = string(catalog.NotifyWebhook)
	}
	return s.InTx(ctx, func(tx *Store) error {
		const q = `INSERT INTO apps (app_key, secret, name, isv, notify_url, notify_format, rate_limit, tester)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (app_key) DO UPDATE SET secret = COALESCE(NULLIF(EXCLUDED.secret, ''), apps.secret),
				name = EXCLUDED.name, isv = EXCLUDED.isv,
				notify_url = EXCLUDED.notify_url, notify_format = EXCLUDED.notify_format,
				rate_limit = EXCLUDED.rate_limit, tester = EXCLUDED.tester, updated_at = now()`
		if _, err := tx.db.ExecContext(ctx, q, a.AppKey, a.Secret, a.Name, a.ISV, a.NotifyURL, format, a.RateLimit, a.Tester); err != nil {
			return fmt.Errorf("upsert app %q: %w", a.AppKey, mapErr(err))
		}
		if a.Secret == "" {
			var secret string
			if err := tx.db.QueryRowxContext(ctx, `SELECT secret FROM apps WHERE app_key = $1`, a.AppKey).Scan(&secret); err != nil {
				return fmt.Errorf("check secret of %q: %w", a.AppKey, err)
			}
			if secret == "" {
				return fmt.Errorf("app %q: %w", a.AppKey, ErrSecretRequired)
			}
		}
		if _, err := tx.db.ExecContext(ctx, `DELETE FROM app_grants WHERE app_key = $1`, a.AppKey); err != nil {
			return fmt.Errorf("replace grants of %q: %w", a.AppKey, err)
		}
		const g = `INSERT INTO app_grants (app_key, api_code) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`
		if _, err := tx.db.ExecContext(ctx, g, a.AppKey, pq.Array(a.Grants)); err != nil {
			return fmt.Errorf("grant %q: %w", a.AppKey, err)
		}
		return nil
	})
}

// RotateSecret replaces an app's secret; the old one keeps working until
// now + grace (0: at once).
func (s *Store) RotateSecret(ctx context.Context, appKey, secret string, grace time.Duration) (time.Time, error) {
	var until sql.NullTime
	const q = `UPDATE apps SET previous_secret = secret, secret = $2,
			previous_secret_until = now() + $3 * interval '1 millisecond', updated_at = now()
		WHERE app_key = $1 RETURNING previous_secret_until`
	if err := s.db.QueryRowxContext(ctx, q, appKey, secret, grace.Milliseconds()).Scan(&until); err != nil {
		return time.Time{}, fmt.Errorf("rotate secret of %q: %w", appKey, mapErr(err))
	}
	return until.Time, nil
}

// GetApp loads one app with its secret and grants.
func (s *Store) GetApp(ctx context.Context, appKey string) (catalog.App, error) {
	var r appRow
	q := `SELECT ` + appColumns + ` FROM apps a WHERE a.app_key = $1`
	if err := s.db.QueryRowxContext(ctx, q, appKey).StructScan(&r); err != nil {
		return catalog.App{}, fmt.Errorf("get app %q: %w", appKey, mapErr(err))
	}
	return r.app(), nil
}

// ListApps returns every app ordered by key.
func (s *Store) ListApps(ctx context.Context) ([]catalog.App, error) {
	rows, err := s.db.QueryxContext(ctx, `SELECT `+appColumns+` FROM apps a ORDER BY a.app_key`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	defer rows.Close()
	var out []catalog.App
	for rows.Next() {
		var r appRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("scan app: %w", err)
		}
		out = append(out, r.app())
	}
	return out, rows.Err()
}

// DeleteApp removes an app (its grants and tokens go with it).
func (s *Store) DeleteApp(ctx context.Context, appKey string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM apps WHERE app_key = $1`, appKey)
	if err != nil {
		return fmt.Errorf("delete app %q: %w", appKey, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete app %q: %w", appKey, ErrNotFound)
	}
	return nil
}

// TokenHash is how access tokens are stored: never in clear.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// InsertToken records an issued access token.
func (s *Store) InsertToken(ctx context.Context, token, appKey string, expires time.Time) error {
	const q = `INSERT INTO access_tokens (token_hash, app_key, expires_at) VALUES ($1, $2, $3)`
	if _, err := s.db.ExecContext(ctx, q, TokenHash(token), appKey, expires.UTC()); err != nil {
		return fmt.Errorf("insert token: %w", mapErr(err))
	}
	return nil
}

// LookupToken returns the app and expiry of a token (ErrNotFound when unknown).
func (s *Store) LookupToken(ctx context.Context, token string) (appKey string, expires time.Time, err error) {
	const q = `SELECT app_key, expires_at FROM access_tokens WHERE token_hash = $1`
	if err := s.db.QueryRowxContext(ctx, q, TokenHash(token)).Scan(&appKey, &expires); err != nil {
		return "", time.Time{}, fmt.Errorf("lookup token: %w", mapErr(err))
	}
	return appKey, expires, nil
}

// DeleteExpiredTokens removes tokens that expired before the cutoff.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM access_tokens WHERE expires_at < $1`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
