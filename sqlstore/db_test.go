package sqlstore_test

import (
	"database/sql"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// SQLite runs at full durability: WAL with a sync at every commit.
func TestSQLiteDurabilitySettings(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	var mode string
	var sync int
	if err := sqlstore.WritePool(db).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.WritePool(db).QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 {
		t.Fatalf("journal_mode %q synchronous %d; want wal and 2 (FULL)", mode, sync)
	}
	var limit int64
	if err := sqlstore.WritePool(db).QueryRow(`PRAGMA journal_size_limit`).Scan(&limit); err != nil || limit != 64<<20 {
		t.Fatalf("journal_size_limit %d (%v); want 64 MiB", limit, err)
	}
	// The writer's savepoint sub-journals stay in memory; readers' large
	// sorts may still spill to disk (0: the build's default, a file).
	for _, pool := range []struct {
		name string
		db   *sql.DB
		want int
	}{{"writer", sqlstore.WritePool(db), 2}, {"reader", sqlstore.ReadPool(db), 0}} {
		var store int
		if err := pool.db.QueryRow(`PRAGMA temp_store`).Scan(&store); err != nil || store != pool.want {
			t.Errorf("%s: temp_store %d (%v); want %d", pool.name, store, err, pool.want)
		}
	}
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	for _, dsn := range []string{"mysql://x", "sqlite:", "postgres-ish"} {
		if _, err := sqlstore.Open(ctx, dsn, sqlstore.Options{}); err == nil {
			t.Errorf("Open(%q) must fail", dsn)
		}
	}
}

func TestRebind(t *testing.T) {
	got := sqlstore.RebindPostgres(`SELECT '?', "a?" FROM t WHERE a = ? AND b IN (?, ?)`)
	if want := `SELECT '?', "a?" FROM t WHERE a = $1 AND b IN ($2, $3)`; got != want {
		t.Fatalf("rebind: %s", got)
	}
}

// Connections PostgreSQL drops (a restart, a failover, an idle timeout) are
// replaced: the next operations succeed without the caller seeing an error.
func TestPostgresDroppedConnections(t *testing.T) {
	dsn := sqlstoretest.PostgresDSN(t) // skips without PostgreSQL
	// The pool's connections carry a name of their own, so that only they
	// are dropped, not those of tests running beside this one.
	app := "dropped-" + sb.NewSID()
	db := sqlstoretest.Open(t, dsn+"&application_name="+app)
	a := newPartner(t, db, "a")
	e := mustStore(t, db, a, sb.Body{"type": "conference", "name": "c"})
	kill := func() {
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		var n int
		if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'idle'`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no idle connection was dropped; the test proves nothing")
		}
	}
	kill()
	if _, err := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID); err != nil {
		t.Fatalf("read after the connections were dropped: %v", err)
	}
	kill()
	if _, err := db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
		return cur.Update(a, sb.Body{"name": "after"}, sb.Merge)
	}); err != nil {
		t.Fatalf("update after the connections were dropped: %v", err)
	}
}
