package sqlstore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

func openMemoryDB(t *testing.T, dsn string) *sqlstore.DB { return sqlstoretest.Open(t, dsn) }

// Both spellings open an in-memory database whose data every connection
// sees: what the store writes, another connection reads, and the other way
// round (a plain ":memory:" would give each connection a database of its
// own, without even the schema).
func TestMemoryConnectionsShareData(t *testing.T) {
	for _, dsn := range []string{"memory", "sqlite::memory:"} {
		t.Run(dsn, func(t *testing.T) {
			db := openMemoryDB(t, dsn)
			if sqlstore.MemoryKeeper(db) == nil {
				t.Fatal("an in-memory database must hold a keeper connection")
			}
			a := newPartner(t, db, "written-by-the-store")
			var name string
			if err := sqlstore.MemoryKeeper(db).QueryRowContext(ctx, `SELECT name FROM partners WHERE partner_sid = ?`, a.PartnerSID).Scan(&name); err != nil {
				t.Fatalf("another connection does not see the store's write: %v", err)
			}
			if name != "written-by-the-store" {
				t.Fatalf("other connection read %q", name)
			}
			other := sb.NewSID()
			if _, err := sqlstore.MemoryKeeper(db).ExecContext(ctx, `INSERT INTO partners (partner_sid, name, scopes, created_at) VALUES (?, 'written-elsewhere', 'endpoints.manage', '2026-01-01T00:00:00Z')`, other); err != nil {
				t.Fatal(err)
			}
			p, err := db.Partner(ctx, other)
			if err != nil || p.Name != "written-elsewhere" {
				t.Fatalf("the store does not see another connection's write: %+v %v", p, err)
			}
		})
	}
}

// Each Open is a database of its own, gone when it is closed.
func TestMemoryDatabasesAreSeparate(t *testing.T) {
	one, two := openMemoryDB(t, "memory"), openMemoryDB(t, "memory")
	newPartner(t, one, "only-in-one")
	if n, err := two.CountPartners(ctx); err != nil || n != 0 {
		t.Fatalf("a second in-memory database sees %d partners (%v)", n, err)
	}
}

// Concurrent writes (group commit batches them on the one connection) and
// reads all succeed, and nothing is written to disk: not in the working
// directory, not in TMPDIR, not next to the database's name.
func TestMemoryWritesNothingToDisk(t *testing.T) {
	cwd, tmp := t.TempDir(), t.TempDir()
	t.Chdir(cwd)
	t.Setenv("TMPDIR", tmp)
	t.Setenv("SQLITE_TMPDIR", tmp)
	db := openMemoryDB(t, "memory")
	if !sqlstore.GroupCommits(db) {
		t.Fatal("in-memory databases keep group commit")
	}
	a := newPartner(t, db, "a")
	const n = 40
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		e := newEndpoint(t, a, thirdParty(fmt.Sprint("mem-", i), fmt.Sprintf("10.60.0.%d", i+1), 5060, false))
		wg.Go(func() { errs[i] = db.CreateEndpoint(ctx, e) })
		wg.Go(func() {
			_, errs[n+i] = sb.ListPage(ctx, db, a.PartnerSID, sb.ListQuery{Limit: 10})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("operation %d: %v", i, err)
		}
	}
	page, err := sb.ListPage(ctx, db, a.PartnerSID, sb.ListQuery{Limit: 1})
	if err != nil || page.Total != n {
		t.Fatalf("after %d creates the list has %+v (%v)", n, page, err)
	}
	for _, dir := range []string{cwd, tmp} {
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("%s holds %v", dir, entries)
		}
	}
	// The memdb name starts with "/": a journal that went to the disk would
	// be named after it, in the root directory.
	if matches, _ := filepath.Glob("/switchboard-*"); len(matches) > 0 {
		t.Errorf("files named after the database: %v", matches)
	}
}
