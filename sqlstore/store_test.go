package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	sb "switchboard"
)

// backends runs test against a new SQLite file, a new in-memory database
// and, when SWITCHBOARD_TEST_POSTGRES holds a DSN, a fresh PostgreSQL schema.
func backends(t *testing.T, test func(t *testing.T, db *DB)) {
	t.Run("sqlite", func(t *testing.T) { test(t, openSQLite(t)) })
	t.Run("memory", func(t *testing.T) { test(t, openMemoryDB(t, "memory")) })
	if dsn := os.Getenv("SWITCHBOARD_TEST_POSTGRES"); dsn != "" {
		t.Run("postgres", func(t *testing.T) { test(t, openPostgres(t, dsn)) })
	}
}

func openSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "test.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openPostgres opens a schema of its own, dropped when the test ends, so
// that test runs never see each other's data.
func openPostgres(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), postgresSchemaDSN(t, dsn), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// postgresSchemaDSN creates a schema of the test's own, dropped when the
// test ends (after the databases opened on it close), and returns a DSN
// that uses it.
func postgresSchemaDSN(t *testing.T, dsn string) string {
	t.Helper()
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

var ctx = context.Background()

func newPartner(t *testing.T, db *DB, name string) sb.Caller {
	t.Helper()
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: name, Scopes: sb.Scopes{sb.ScopeManage, sb.ScopeManageAuthRequired}}
	if err := db.CreatePartner(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	return sb.Caller{PartnerSID: p.PartnerSID, PartnerName: p.Name, Scopes: p.Scopes}
}

func newEndpoint(t *testing.T, c sb.Caller, body sb.Body) *sb.Endpoint {
	t.Helper()
	e, err := sb.NewEndpoint(c, body, sb.NewEndpointParams{PublicURL: "http://sb.test"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func thirdParty(name, ip string, port int, authRequired bool) sb.Body {
	return sb.Body{"type": "third_party", "name": name, "auth_required": authRequired,
		"addresses": []any{map[string]any{"ip": ip, "port": fmt.Sprint(port)}}}
}

func mustStore(t *testing.T, db *DB, c sb.Caller, body sb.Body) *sb.Endpoint {
	t.Helper()
	e := newEndpoint(t, c, body)
	if err := sb.CreateEndpoint(ctx, db, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEndpointLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		e := mustStore(t, db, a, sb.Body{"type": "third_party", "name": "trunk", "attributes": map[string]any{"k": "v"},
			"addresses": []any{map[string]any{"ip": "10.0.0.1", "sip_password": "pw"}}, "transformations": []any{map[string]any{"action": "strip_plus"}}})

		got, err := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID)
		if err != nil {
			t.Fatal(err)
		}
		if want := *e; !sameJSON(got, &want) {
			t.Fatalf("read back differs:\n got %+v\nwant %+v", got, e)
		}
		if _, err := db.Endpoint(ctx, b.PartnerSID, e.EndpointSID); sb.ErrorKindOf(err) != sb.KindNotFound {
			t.Fatalf("another partner's endpoint must be not found, got %v", err)
		}
		if _, err := db.UpdateEndpoint(ctx, b.PartnerSID, e.EndpointSID, nil); sb.ErrorKindOf(err) != sb.KindNotFound {
			t.Fatalf("another partner cannot update it, got %v", err)
		}
		if err := db.DeleteEndpoint(ctx, b.PartnerSID, e.EndpointSID); sb.ErrorKindOf(err) != sb.KindNotFound {
			t.Fatalf("another partner cannot delete it, got %v", err)
		}

		upd, err := db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
			return cur.Update(a, sb.Body{"name": "renamed", "attributes": map[string]any{"k": nil, "n": "1"}}, sb.Merge)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = db.Endpoint(ctx, a.PartnerSID, e.EndpointSID)
		if got.Name != "renamed" || !sameJSON(got.Attributes, map[string]string{"n": "1"}) || !sameJSON(got, upd) {
			t.Fatalf("after update: %+v", got)
		}

		// A failing change writes nothing.
		_, err = db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
			return cur.Update(a, sb.Body{"name": "", "capacity": 3}, sb.Merge)
		})
		if sb.ErrorKindOf(err) != sb.KindInvalid {
			t.Fatalf("expected a validation error, got %v", err)
		}
		if again, _ := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID); !sameJSON(again, got) {
			t.Fatal("a refused update changed the endpoint")
		}

		if err := db.DeleteEndpoint(ctx, a.PartnerSID, e.EndpointSID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID); sb.ErrorKindOf(err) != sb.KindNotFound {
			t.Fatalf("deleted endpoint: %v", err)
		}
		var rows int
		db.read.QueryRow(`SELECT (SELECT count(*) FROM endpoint_addresses) + (SELECT count(*) FROM endpoint_attributes) + (SELECT count(*) FROM ip_claims)`).Scan(&rows)
		if rows != 0 {
			t.Fatalf("a deleted endpoint left %d search rows", rows)
		}
	})
}

// The duplicate-IP rule is the database's: of many concurrent creates of
// one ip:port with auth_required=false exactly one succeeds.
func TestDuplicateIPUnderConcurrency(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			c := a
			if i%2 == 1 {
				c = b
			}
			e := newEndpoint(t, c, thirdParty(fmt.Sprint("race-", i), "192.0.2.7", 5060, false))
			wg.Go(func() { errs[i] = db.CreateEndpoint(ctx, e) })
		}
		wg.Wait()
		ok, dup := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, sb.ErrDuplicateIP):
				dup++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 || dup != n-1 {
			t.Fatalf("%d concurrent creates: %d succeeded, %d conflicted; want 1 and %d", n, ok, dup, n-1)
		}

		// Updates race too: of many endpoints switched to auth_required=false
		// on one address at once, exactly one wins.
		var sids []string
		for i := range 10 {
			sids = append(sids, mustStore(t, db, a, thirdParty(fmt.Sprint("upd-", i), "192.0.2.8", 5060, true)).EndpointSID)
		}
		errs = make([]error, len(sids))
		for i, sid := range sids {
			wg.Go(func() {
				_, errs[i] = db.UpdateEndpoint(ctx, a.PartnerSID, sid, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
					return cur.Update(a, sb.Body{"auth_required": false}, sb.Merge)
				})
			})
		}
		wg.Wait()
		ok = 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, sb.ErrDuplicateIP) {
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent updates to auth_required=false on one address: %d succeeded, want 1", len(sids), ok)
		}
	})
}

// Concurrent PATCHes of one endpoint each apply in full: none is lost.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a := newPartner(t, db, "a")
		tp := mustStore(t, db, a, thirdParty("t", "10.1.1.1", 5060, true))
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := db.UpdateEndpoint(ctx, a.PartnerSID, tp.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
					return cur.Update(a, sb.Body{"attributes": map[string]any{fmt.Sprint("k", i): "v"}}, sb.Merge)
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := db.Endpoint(ctx, a.PartnerSID, tp.EndpointSID)
		if len(got.Attributes) != n {
			t.Fatalf("after %d concurrent merges of one attribute each, %d attributes remain: an update was lost", n, len(got.Attributes))
		}
	})
}

func TestLoginTakenIsRetried(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a := newPartner(t, db, "a")
		first := mustStore(t, db, a, sb.Body{"type": "conference", "name": "same"})
		second := newEndpoint(t, a, sb.Body{"type": "conference", "name": "same"})
		second.Properties["login"] = first.Properties["login"]
		if err := db.CreateEndpoint(ctx, second); !errors.Is(err, sb.ErrLoginTaken) {
			t.Fatalf("a taken login must be refused by the database, got %v", err)
		}
		if err := sb.CreateEndpoint(ctx, db, second); err != nil {
			t.Fatal(err)
		}
		if second.Properties.Login() == first.Properties.Login() {
			t.Fatal("the retry must generate a new login")
		}
	})
}

func TestListOrdersAndCursors(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		mustStore(t, db, b, sb.Body{"type": "conference", "name": "other partner"})
		var created []*sb.Endpoint
		for i, name := range []string{"m", "B", "a", "z", "b", "a"} {
			created = append(created, mustStore(t, db, a, sb.Body{"type": "flexml", "name": name, "capacity": json.Number(fmt.Sprint(i % 3))}))
		}
		sidsOf := func(items []*sb.Endpoint) []string {
			var out []string
			for _, e := range items {
				out = append(out, e.Name+fmt.Sprint(e.Capacity))
			}
			return out
		}
		list := func(q sb.ListQuery) *sb.EndpointPage {
			t.Helper()
			p, err := db.ListEndpoints(ctx, a.PartnerSID, q)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		all := list(sb.ListQuery{Limit: 100})
		if all.Total != 6 || sidsOf(all.Items)[0] != "m0" || all.HasMore {
			t.Fatalf("creation order, own endpoints only: %v total %d", sidsOf(all.Items), all.Total)
		}
		// Byte order ("B" < "a"), ties by creation order.
		byName := list(sb.ListQuery{Limit: 100, Order: []sb.OrderKey{{Field: "name"}}})
		if got, want := sidsOf(byName.Items), []string{"B1", "a2", "a2", "b1", "m0", "z0"}; !slices.Equal(got, want) {
			t.Fatalf("order by name: %v, want %v", got, want)
		}
		if byName.Items[1].ID > byName.Items[2].ID {
			t.Fatal("ties must follow creation order")
		}
		multi := list(sb.ListQuery{Limit: 100, Order: []sb.OrderKey{{Field: "capacity", Desc: true}, {Field: "name"}}})
		if got, want := sidsOf(multi.Items), []string{"a2", "a2", "B1", "b1", "m0", "z0"}; !slices.Equal(got, want) {
			t.Fatalf("order capacity desc, name: %v, want %v", got, want)
		}
		// Walking with after, then back with before, in that order.
		order := []sb.OrderKey{{Field: "capacity", Desc: true}, {Field: "name"}}
		var walked []*sb.Endpoint
		q := sb.ListQuery{Limit: 4, Order: order}
		for {
			p := list(q)
			walked = append(walked, p.Items...)
			if !p.HasMore {
				break
			}
			q.After = p.Items[len(p.Items)-1].EndpointSID
		}
		if !sameJSON(walked, multi.Items) {
			t.Fatalf("after walk: %v", sidsOf(walked))
		}
		back := list(sb.ListQuery{Limit: 2, Order: order, Before: multi.Items[3].EndpointSID})
		if !sameJSON(back.Items, multi.Items[1:3]) || !back.HasMore {
			t.Fatalf("before: %v has_more %v", sidsOf(back.Items), back.HasMore)
		}
		if _, err := db.ListEndpoints(ctx, b.PartnerSID, sb.ListQuery{Limit: 2, After: created[0].EndpointSID}); sb.ErrorKindOf(err) != sb.KindBadRequest {
			t.Fatalf("a cursor the caller cannot see must be a 400, got %v", err)
		}
		offset := list(sb.ListQuery{Limit: 4, Offset: 4})
		if len(offset.Items) != 2 || offset.HasMore || offset.Total != 6 {
			t.Fatalf("offset page: %d items, has_more %v", len(offset.Items), offset.HasMore)
		}
	})
}

func TestSystemGateways(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a := newPartner(t, db, "a")
		gw := []sb.IPPort{{IP: "192.0.2.50", Port: 5060}}
		if err := db.SetSystemGateways(ctx, gw); err != nil {
			t.Fatal(err)
		}
		b := newPartner(t, db, "b") // created later: gets one with the partner
		gatewayOf := func(c sb.Caller) *sb.Endpoint {
			t.Helper()
			p, err := db.ListEndpoints(ctx, c.PartnerSID, sb.ListQuery{Limit: 10})
			if err != nil || len(p.Items) != 1 || p.Items[0].Type != sb.TypeSystemGateway {
				t.Fatalf("partner %s: want exactly one system_gateway endpoint, got %v %v", c.PartnerName, p, err)
			}
			return p.Items[0]
		}
		ga, gb := gatewayOf(a), gatewayOf(b)
		if ga.Addresses[0].IP != "192.0.2.50" || gb.AuthRequired {
			t.Fatalf("gateway endpoint: %+v", ga)
		}
		// Restarting with the same configuration keeps the SIDs.
		if err := db.SetSystemGateways(ctx, gw); err != nil {
			t.Fatal(err)
		}
		if gatewayOf(a).EndpointSID != ga.EndpointSID {
			t.Fatal("a restart must keep the gateway's SID")
		}
		if err := db.DeleteEndpoint(ctx, a.PartnerSID, ga.EndpointSID); sb.ErrorKindOf(err) != sb.KindForbidden {
			t.Fatalf("deleting a gateway: want 403, got %v", err)
		}
		e := newEndpoint(t, a, thirdParty("near", "192.0.2.50", 5060, false))
		if err := db.CreateEndpoint(ctx, e); !errors.Is(err, sb.ErrDuplicateIP) {
			t.Fatalf("a gateway's address is taken for auth_required=false endpoints, got %v", err)
		}
		// A new address list moves every gateway.
		if err := db.SetSystemGateways(ctx, []sb.IPPort{{IP: "192.0.2.51", Port: 5080}}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateEndpoint(ctx, e); err != nil {
			t.Fatalf("the old gateway address must be free again: %v", err)
		}
		if g := gatewayOf(b); g.Addresses[0].IP != "192.0.2.51" || g.Addresses[0].Port != 5080 {
			t.Fatalf("gateway addresses not updated: %+v", g.Addresses)
		}
	})
}

func TestCredentials(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		p := sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Login: "login-1", Scopes: sb.Scopes{sb.ScopeManage}}
		if err := db.CreatePartner(ctx, p, "hash"); err != nil {
			t.Fatal(err)
		}
		if err := db.CreatePartner(ctx, sb.Partner{PartnerSID: sb.NewSID(), Name: "q", Login: "login-1", Scopes: p.Scopes}, "h"); !errors.Is(err, sb.ErrPartnerExists) {
			t.Fatalf("a second partner with the same login: %v", err)
		}
		if got, hash, err := db.PartnerByLogin(ctx, "login-1"); err != nil || hash != "hash" || got.PartnerSID != p.PartnerSID {
			t.Fatalf("PartnerByLogin: %+v %q %v", got, hash, err)
		}
		if _, _, err := db.PartnerByLogin(ctx, "nobody"); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("unknown login: %v", err)
		}
		if err := db.CreateToken(ctx, "tokenhash", p.PartnerSID, sb.Scopes{sb.ScopeRead}); err != nil {
			t.Fatal(err)
		}
		c, err := db.TokenCaller(ctx, "tokenhash")
		if err != nil || c.PartnerSID != p.PartnerSID || !slices.Equal(c.Scopes, sb.Scopes{sb.ScopeRead}) || c.PartnerName != "p" {
			t.Fatalf("TokenCaller: %+v %v", c, err)
		}
		if _, err := db.TokenCaller(ctx, "other"); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("unknown token: %v", err)
		}
	})
}

// SQLite runs at full durability: WAL with a sync at every commit.
func TestSQLiteDurabilitySettings(t *testing.T) {
	db := openSQLite(t)
	var mode string
	var sync int
	if err := db.write.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.write.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 {
		t.Fatalf("journal_mode %q synchronous %d; want wal and 2 (FULL)", mode, sync)
	}
	var limit int64
	if err := db.write.QueryRow(`PRAGMA journal_size_limit`).Scan(&limit); err != nil || limit != 64<<20 {
		t.Fatalf("journal_size_limit %d (%v); want 64 MiB", limit, err)
	}
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	for _, dsn := range []string{"mysql://x", "sqlite:", "postgres-ish"} {
		if _, err := Open(ctx, dsn, Options{}); err == nil {
			t.Errorf("Open(%q) must fail", dsn)
		}
	}
}

func TestRebind(t *testing.T) {
	got := postgresDialect{}.rebind(`SELECT '?', "a?" FROM t WHERE a = ? AND b IN (?, ?)`)
	if want := `SELECT '?', "a?" FROM t WHERE a = $1 AND b IN ($2, $3)`; got != want {
		t.Fatalf("rebind: %s", got)
	}
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// Connections PostgreSQL drops (a restart, a failover, an idle timeout) are
// replaced: the next operations succeed without the caller seeing an error.
func TestPostgresDroppedConnections(t *testing.T) {
	dsn := os.Getenv("SWITCHBOARD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SWITCHBOARD_TEST_POSTGRES is not set")
	}
	db := openPostgres(t, dsn)
	a := newPartner(t, db, "a")
	e := mustStore(t, db, a, sb.Body{"type": "conference", "name": "c"})
	kill := func() {
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		var n int
		// Every connection of this test's pool (they all use its schema).
		if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'
			AND query NOT ILIKE '%pg_terminate_backend%' AND state = 'idle'`).Scan(&n); err != nil {
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

func TestTokenAdministration(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a := newPartner(t, db, "a")
		id, err := db.CreateTokenWithID(ctx, "hash-1", a.PartnerSID, sb.Scopes{sb.ScopeRead})
		if err != nil {
			t.Fatal(err)
		}
		list, err := db.ListTokens(ctx, a.PartnerSID)
		if err != nil || len(list) != 1 || list[0].TokenID != id || list[0].RevokedAt != nil || list[0].CreatedAt.IsZero() {
			t.Fatalf("ListTokens: %+v %v", list, err)
		}
		if err := db.RevokeToken(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.TokenCaller(ctx, "hash-1"); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("a revoked token must not authenticate: %v", err)
		}
		if err := db.RevokeToken(ctx, id); !errors.Is(err, sb.ErrNoCredential) {
			t.Fatalf("revoking twice: %v", err)
		}
		if list, _ := db.ListTokens(ctx, ""); len(list) != 1 || list[0].RevokedAt == nil {
			t.Fatalf("all tokens: %+v", list)
		}
		partners, err := db.ListPartners(ctx)
		if err != nil || len(partners) != 1 || partners[0].Name != "a" {
			t.Fatalf("ListPartners: %+v %v", partners, err)
		}
	})
}

// PATCH racing DELETE: the PATCH either lands before the delete (and is
// deleted with it) or finds nothing (404); it never brings the endpoint back.
// PUT racing PATCH: each applies whole, one after the other.
func TestUpdateRaces(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a := newPartner(t, db, "a")
		for round := range 20 {
			e := mustStore(t, db, a, thirdParty(fmt.Sprint("race-", round), "10.3.3.3", 5060, true))
			var wg sync.WaitGroup
			var patchErr, delErr error
			wg.Go(func() {
				_, patchErr = db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
					return cur.Update(a, sb.Body{"name": "patched"}, sb.Merge)
				})
			})
			wg.Go(func() { delErr = db.DeleteEndpoint(ctx, a.PartnerSID, e.EndpointSID) })
			wg.Wait()
			if delErr != nil {
				t.Fatalf("delete: %v", delErr)
			}
			if patchErr != nil && sb.ErrorKindOf(patchErr) != sb.KindNotFound {
				t.Fatalf("a PATCH racing a DELETE: %v", patchErr)
			}
			if _, err := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID); sb.ErrorKindOf(err) != sb.KindNotFound {
				t.Fatalf("round %d: the deleted endpoint came back (%v)", round, err)
			}
		}

		e := mustStore(t, db, a, thirdParty("put-vs-patch", "10.4.4.4", 5060, true))
		put := sb.Body{"name": "put", "capacity": json.Number("1"), "attributes": map[string]any{"p": "1"},
			"addresses": []any{map[string]any{"ip": "10.4.4.5"}}, "transformations": []any{}, "out_sip_username": "pu", "out_sip_password": nil}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				var err error
				if i%2 == 0 {
					_, err = db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) { return cur.Update(a, put, sb.Put) })
				} else {
					_, err = db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
						return cur.Update(a, sb.Body{"attributes": map[string]any{fmt.Sprint("k", i): "v"}, "capacity": json.Number(fmt.Sprint(100 + i))}, sb.Merge)
					})
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID)
		// Whatever ran last, the result is a whole PUT plus whole PATCHes after
		// it: the PUT's fields are all there, and every attribute a PATCH
		// added after the last PUT carries with it that PATCH's capacity or a
		// later one's.
		if got.Name != "put" || got.Attributes["p"] != "1" || len(got.Addresses) != 1 || got.Addresses[0].IP != "10.4.4.5" || *got.OutSIPUsername != "pu" {
			t.Fatalf("PUT fields lost: %+v", got)
		}
		if len(got.Attributes) > 1 && got.Capacity < 100 {
			t.Fatalf("attributes of a PATCH without its capacity: half-applied: %+v", got)
		}
	})
}
