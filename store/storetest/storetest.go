// Package storetest gives tests a real PostgreSQL: a fresh migrated database
// per call (for tests whose code commits), or a Store inside a transaction
// rolled back when the test ends (River's pattern, for store tests).
//
// TEST_DATABASE_URL names the server (default
// postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable);
// scripts/ensure-postgres starts one when none runs.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/asyncgate/asyncgate/store"
)

// ServerURL is the DSN of the test server's maintenance database.
func ServerURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5"
}

const prefix = "asyncgate_test_"

var (
	adminOnce sync.Once
	admin     *sqlx.DB
	adminErr  error
)

func adminDB(t testing.TB) *sqlx.DB {
	t.Helper()
	adminOnce.Do(func() {
		admin, adminErr = sqlx.Open("postgres", ServerURL())
		if adminErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			adminErr = admin.PingContext(ctx)
		}
		if adminErr == nil {
			dropStale(admin)
		}
	})
	if adminErr != nil {
		t.Fatalf("test PostgreSQL at %s unreachable (run scripts/ensure-postgres): %v", redacted(ServerURL()), adminErr)
	}
	return admin
}

// dropStale removes test databases left by killed runs (older than an hour).
func dropStale(db *sqlx.DB) {
	var names []string
	if err := db.Select(&names, `SELECT datname FROM pg_database WHERE datname LIKE $1`, prefix+"%"); err != nil {
		return
	}
	for _, n := range names {
		parts := strings.Split(strings.TrimPrefix(n, prefix), "_")
		ts, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil || time.Since(time.Unix(ts, 0)) < time.Hour {
			continue
		}
		_, _ = db.Exec(`DROP DATABASE IF EXISTS ` + pq.QuoteIdentifier(n) + ` WITH (FORCE)`)
	}
}

// NewDatabase creates a migrated database that is dropped when the test
// ends, and returns its DSN and a pool on it.
func NewDatabase(t testing.TB) (string, *sqlx.DB) {
	t.Helper()
	a := adminDB(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("%s%d_%s", prefix, time.Now().Unix(), hex.EncodeToString(b[:]))
	if _, err := a.Exec(`CREATE DATABASE ` + pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	u, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	dsn := u.String()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		_, _ = a.Exec(`DROP DATABASE IF EXISTS ` + pq.QuoteIdentifier(name) + ` WITH (FORCE)`)
	})
	if _, err := store.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return dsn, db
}

var (
	sharedOnce sync.Once
	shared     *sqlx.DB
)

// TxStore returns a Store inside a transaction on a database shared by the
// package's tests; the transaction is rolled back when the test ends, so
// tests can run in parallel without seeing each other's rows.
func TxStore(t testing.TB) *store.Store {
	t.Helper()
	sharedOnce.Do(func() {
		// The shared database lives as long as the test binary; stale ones
		// are dropped by later runs (dropStale).
		_, shared = NewDatabase(&noCleanup{TB: t})
	})
	if shared == nil {
		t.Fatal("shared test database unavailable")
	}
	tx, err := shared.Beginx()
	if err != nil {
		t.Fatalf("begin test transaction: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	return store.NewTx(tx)
}

// noCleanup keeps the shared database alive past the first test.
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}

func redacted(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
