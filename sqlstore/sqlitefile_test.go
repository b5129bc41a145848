package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

func openSQLite(t *testing.T, path string, opt sqlstore.Options) (*sqlstore.DB, error) {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), "sqlite:"+path, opt)
	if err == nil {
		t.Cleanup(func() { db.Close() })
	}
	return db, err
}

// A new database and its -wal and -shm are readable by their owner only,
// whatever the umask lets through.
func TestNewSQLiteFileIsOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := openSQLite(t, path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if db.CreatedFile() != path {
		t.Fatalf("CreatedFile() = %q, want %q", db.CreatedFile(), path)
	}
	if err := db.CreatePartner(context.Background(), sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Scopes: sb.Scopes{sb.ScopeManage}}, ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", filepath.Base(f), perm)
		}
	}
	again, err := openSQLite(t, path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.CreatedFile() != "" {
		t.Fatalf("reopening an existing database reports it created: %q", again.CreatedFile())
	}
}

// MustExist never creates: not a missing file, not a schema in an empty
// file; a database with the schema opens.
func TestMustExistNeverCreates(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := openSQLite(t, missing, sqlstore.Options{MustExist: true}); !errors.Is(err, sqlstore.ErrNoDatabase) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v, want ErrNoDatabase naming %s", err, missing)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("MustExist created %s: %v", missing, err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openSQLite(t, empty, sqlstore.Options{MustExist: true}); !errors.Is(err, sqlstore.ErrNoDatabase) || !strings.Contains(err.Error(), "no Switchboard schema") {
		t.Fatalf("empty file: %v, want ErrNoDatabase (no schema)", err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Fatalf("MustExist wrote a schema into the empty file: %v %v", fi, err)
	}
	if err := sqlstore.Migrate(context.Background(), "sqlite:"+empty); err != nil {
		t.Fatal(err)
	}
	if _, err := openSQLite(t, empty, sqlstore.Options{MustExist: true}); err != nil {
		t.Fatalf("a migrated database: %v", err)
	}
}

func TestMustExistPostgres(t *testing.T) {
	dsn := sqlstoretest.PostgresDSN(t) // a new, empty schema
	if _, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{MustExist: true}); !errors.Is(err, sqlstore.ErrNoDatabase) {
		t.Fatalf("a schema without tables: %v, want ErrNoDatabase", err)
	}
	if err := sqlstore.Migrate(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// The database file is missing but SQLite's -wal (or -shm) is still there:
// the database existed and was removed, so no new one is started.
func TestRefusesToRecreateARemovedDatabase(t *testing.T) {
	for _, sidecar := range []string{"-wal", "-shm", "-journal"} {
		t.Run(sidecar, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gone.db")
			if err := os.WriteFile(path+sidecar, []byte("left over"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := openSQLite(t, path, sqlstore.Options{})
			if err == nil || !strings.Contains(err.Error(), path+sidecar) || !strings.Contains(err.Error(), "refusing to create") {
				t.Fatalf("open with only %s left: %v", sidecar, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a new database was created: %v", err)
			}
		})
	}
}

// A connection opened after the file was removed fails; it never starts an
// empty database at the path (every connection opens with mode=rw).
func TestNoConnectionRecreatesARemovedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.db")
	db, err := openSQLite(t, path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"-wal", "-shm"} {
		os.Remove(path + s)
	}
	// New connections: more concurrent reads than the pool has open.
	errs := make(chan error, 32)
	for range 32 {
		go func() {
			_, err := db.ListPartners(context.Background())
			errs <- err
		}()
	}
	for range 32 {
		<-errs
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a connection recreated %s: %v", path, err)
	}
}

func TestCheckWritable(t *testing.T) {
	ctx := context.Background()
	t.Run("healthy", func(t *testing.T) {
		db, err := openSQLite(t, filepath.Join(t.TempDir(), "ok.db"), sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CheckWritable(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("removed", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rm.db")
		db, err := openSQLite(t, path, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(path)
		if err := db.CheckWritable(ctx); err == nil || !strings.Contains(err.Error(), "was removed") {
			t.Fatalf("after removal: %v", err)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "a.db")
		db, err := openSQLite(t, path, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sqlstore.Migrate(ctx, "sqlite:"+filepath.Join(dir, "b.db")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "b.db"), path); err != nil {
			t.Fatal(err)
		}
		if err := db.CheckWritable(ctx); err == nil || !strings.Contains(err.Error(), "replaced") {
			t.Fatalf("after replacement: %v", err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root may write a read-only file; cmd/switchboard's TestReadyzReadOnly runs the server as another user")
		}
		path := filepath.Join(t.TempDir(), "ro.db")
		db, err := openSQLite(t, path, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o400)
		if err := db.CheckWritable(ctx); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("after chmod 0400: %v", err)
		}
	})
}

// Every SQLite open error names the path and the cause.
func TestSQLiteOpenErrorsNamePathAndCause(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, cause string }{
		{filepath.Join(dir, "no-such-dir", "x.db"), "no such file or directory"},
		{dir, "is a directory"},
		{garbage, "not a database"},
	} {
		_, err := openSQLite(t, c.path, sqlstore.Options{})
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.cause) {
			t.Errorf("open %s: %v; want the path and %q", c.path, err, c.cause)
		}
	}
	if fi, _ := os.Stat(garbage); fi.Size() != 1500 {
		t.Error("a failed open changed the file it could not read")
	}
}

// Only errors retrying can fix count as "unavailable".
func TestIsUnavailable(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("failed to connect: %w", &pgconn.PgError{Severity: "FATAL", Code: code})
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"starting up (57P03)", pg("57P03"), true},
		{"too many connections (53300)", pg("53300"), true},
		{"admin shutdown (57P01)", pg("57P01"), true},
		{"password authentication failed (28P01)", pg("28P01"), false},
		{"no such role or no pg_hba entry (28000)", pg("28000"), false},
		{"database does not exist (3D000)", pg("3D000"), false},
		{"permission denied (42501)", pg("42501"), false},
		{"unsupported DSN", errors.New("unsupported database address"), false},
	} {
		if got := sqlstore.IsUnavailable(c.err); got != c.want {
			t.Errorf("%s: IsUnavailable = %v, want %v", c.name, got, c.want)
		}
	}
}
