package sqlstore_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// misplacedSearchRows counts the search rows whose partner_sid is not their
// endpoint's.
func misplacedSearchRows(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	var n int
	err := sqlstore.ReadPool(db).QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM endpoint_addresses a JOIN endpoints e ON e.id = a.endpoint_id WHERE a.partner_sid <> e.partner_sid) +
		(SELECT count(*) FROM endpoint_attributes a JOIN endpoints e ON e.id = a.endpoint_id WHERE a.partner_sid <> e.partner_sid)`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The search rows carry their endpoint's partner on every write path, the
// database refuses a row that names another partner, and a filter on them
// answers the caller's own endpoints only, on both backends.
func TestSearchRowsAreScopedToTheirPartner(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		if err := db.SetSystemGateways(ctx, []sb.IPPort{{IP: "192.0.2.250", Port: 5060}}); err != nil {
			t.Fatal(err)
		}
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		body := func(name string) sb.Body {
			return sb.Body{"type": "third_party", "name": name, "attributes": map[string]any{"region": "eu"},
				"addresses": []any{map[string]any{"ip": "10.7.7.7"}}}
		}
		ea := mustStore(t, db, a, body("a"))
		eb := mustStore(t, db, b, body("b"))
		if _, err := db.UpdateEndpoint(ctx, a.PartnerSID, ea.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
			return cur.Update(a, sb.Body{"attributes": map[string]any{"region": "us", "tier": "gold"},
				"addresses": []any{map[string]any{"ip": "10.7.7.7"}, map[string]any{"ip": "10.7.7.8"}}}, sb.Merge)
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetSystemGateways(ctx, []sb.IPPort{{IP: "192.0.2.251", Port: 5060}}); err != nil {
			t.Fatal(err)
		}
		if n := misplacedSearchRows(t, db); n != 0 {
			t.Fatalf("%d search rows name another partner than their endpoint's", n)
		}
		// The composite foreign key: a row of a's endpoint that names b.
		if _, err := sqlstore.WritePool(db).ExecContext(ctx, sqlstore.Rebind(db, `INSERT INTO endpoint_attributes (endpoint_id, partner_sid, key, value)
			SELECT id, ?, 'forged', 'x' FROM endpoints WHERE endpoint_sid = ?`), b.PartnerSID, ea.EndpointSID); err == nil {
			t.Fatal("the database took an attribute row of a's endpoint under b's partner_sid")
		}
		for _, text := range []string{`addresses.ip eq 10.7.7.7`, `addresses.ip ne 10.9.9.9 and type eq third_party`, `attributes.region ge a`, `attributes.region like "%"`} {
			x, err := sb.ParseFilter(text)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				caller sb.Caller
				want   string
			}{{a, ea.EndpointSID}, {b, eb.EndpointSID}} {
				page, err := sb.ListPage(ctx, db, c.caller.PartnerSID, sb.ListQuery{Limit: 100, Filter: x})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range page.Items {
					got = append(got, e.EndpointSID)
				}
				if !slices.Equal(got, []string{c.want}) || page.Total != 1 {
					t.Errorf("%s for partner %s: %v (total %d), want only %s", text, c.caller.PartnerName, got, page.Total, c.want)
				}
			}
		}
	})
}

// Databases written before 00006 have search rows without partner_sid;
// the migration fills it in from their endpoints.
func TestMigrationScopesSearchRows(t *testing.T) {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "old.db")}
	if os.Getenv(sqlstoretest.PostgresEnv) != "" {
		dsns["postgres"] = sqlstoretest.PostgresDSN(t)
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			old, err := sqlstore.OpenMigratedTo(ctx, dsn, 5)
			if err != nil {
				t.Fatal(err)
			}
			exec := func(query string, args ...any) {
				t.Helper()
				if _, err := sqlstore.WritePool(old).ExecContext(ctx, sqlstore.Rebind(old, query), args...); err != nil {
					t.Fatalf("%s: %v", query, err)
				}
			}
			partners := []string{sb.NewSID(), sb.NewSID()}
			for i, p := range partners {
				exec(`INSERT INTO partners (partner_sid, name, scopes, created_at) VALUES (?, ?, ?, ?)`, p, "p", "endpoints.manage", time.Now().UTC())
				var id int64
				if err := sqlstore.WritePool(old).QueryRowContext(ctx, sqlstore.Rebind(old, `INSERT INTO endpoints (endpoint_sid, partner_sid, type, name, capacity, auth_required,
					addresses, attributes, properties, transformations) VALUES (?, ?, 'third_party', 'old', 0, ?, ?, ?, '{}', '[]') RETURNING id`),
					sb.NewSID(), p, true, `[{"direction":"any","dst_port":5060,"ip":"10.1.1.1","location_sid":null,"port":5060,"priority":0,"sip_password":null,"sip_username":null,"srtp":false,"transport":"udp"}]`,
					`{"region":"eu"}`).Scan(&id); err != nil {
					t.Fatal(err)
				}
				exec(`INSERT INTO endpoint_addresses (endpoint_id, position, direction, dst_port, ip, port, priority, srtp, transport)
					VALUES (?, 0, 'any', 5060, '10.1.1.1', 5060, 0, ?, 'udp')`, id, i == 2)
				exec(`INSERT INTO endpoint_attributes (endpoint_id, key, value) VALUES (?, 'region', 'eu')`, id)
			}
			old.Close()

			db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if n := misplacedSearchRows(t, db); n != 0 {
				t.Fatalf("%d search rows name another partner than their endpoint's", n)
			}
			for _, p := range partners {
				for _, text := range []string{`addresses.ip eq 10.1.1.1`, `attributes.region eq eu`} {
					x, _ := sb.ParseFilter(text)
					page, err := sb.ListPage(ctx, db, p, sb.ListQuery{Limit: 10, Filter: x})
					if err != nil || page.Total != 1 {
						t.Errorf("%s after the migration: total %d, %v; want the partner's one endpoint", text, page.Total, err)
					}
				}
			}
		})
	}
}
