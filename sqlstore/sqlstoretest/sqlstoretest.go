// Package sqlstoretest opens databases for tests: a new SQLite file, or a
// schema of its own on the PostgreSQL that SWITCHBOARD_TEST_POSTGRES names,
// so that test runs never see each other's data.
package sqlstoretest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

// PostgresEnv is the variable that holds the test PostgreSQL DSN.
const PostgresEnv = "SWITCHBOARD_TEST_POSTGRES"

// SQLiteDSN is a DSN for a new SQLite file in the test's temporary directory.
func SQLiteDSN(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}

// PostgresDSN creates a schema of the test's own (dropped when it ends) and
// returns a DSN that uses it; it skips the test without PostgresEnv.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skip(PostgresEnv + " is not set")
	}
	schema := "test_" + strings.ReplaceAll(sb.NewSID(), "-", "")
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// Open opens (and migrates) the database dsn names, closed when the test ends.
func Open(t testing.TB, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Backends runs test on SQLite and, when PostgresEnv is set, on PostgreSQL.
func Backends(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, SQLiteDSN(t)) })
	if os.Getenv(PostgresEnv) != "" {
		t.Run("postgres", func(t *testing.T) { test(t, PostgresDSN(t)) })
	}
}

// EachDB runs test on a new database of each backend: a SQLite file, an
// in-memory database and, when PostgresEnv is set, a PostgreSQL schema.
func EachDB(t *testing.T, test func(t *testing.T, db *sqlstore.DB)) {
	t.Run("sqlite", func(t *testing.T) { test(t, Open(t, SQLiteDSN(t))) })
	t.Run("memory", func(t *testing.T) { test(t, Open(t, "memory")) })
	if os.Getenv(PostgresEnv) != "" {
		t.Run("postgres", func(t *testing.T) { test(t, Open(t, PostgresDSN(t))) })
	}
}
