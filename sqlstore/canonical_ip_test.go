package sqlstore_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// The duplicate-IP rule sees addresses, not spellings: an IPv4 address
// written IPv4-mapped (in any case, in hex groups, with leading zeros)
// conflicts with its dotted form, across partners, on create and update.
func TestDuplicateIPSpellingsConflict(t *testing.T) {
	spellings := []string{"192.0.2.44", "::ffff:192.0.2.44", "::FFFF:c000:22C", "0:0:0:0:0:ffff:c000:022c"}
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		port := 7000
		// Each case holds the address on a port of its own, so that a
		// wrongly accepted claim cannot hide the next case's outcome.
		hold := func(held string) int {
			port++
			mustStore(t, db, a, thirdParty("holder", held, port, false))
			return port
		}
		update := func(start sb.Body, sent string, port int) error {
			own := mustStore(t, db, b, start)
			_, err := db.UpdateEndpoint(ctx, b.PartnerSID, own.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
				return cur.Update(b, sb.Body{"auth_required": false, "addresses": []any{map[string]any{"ip": sent, "port": fmt.Sprint(port)}}}, sb.Merge)
			})
			return err
		}
		for _, held := range spellings {
			for _, sent := range spellings {
				p := hold(held)
				if err := db.CreateEndpoint(ctx, newEndpoint(t, b, thirdParty("create", sent, p, false))); !errors.Is(err, sb.ErrDuplicateIP) {
					t.Errorf("%s held: create with %s: %v, want the duplicate-IP conflict", held, sent, err)
				}
				// An open endpoint adds the address ...
				p = hold(held)
				if err := update(thirdParty("update", "198.51.100.1", p, false), sent, p); !errors.Is(err, sb.ErrDuplicateIP) {
					t.Errorf("%s held: update adding %s: %v, want the duplicate-IP conflict", held, sent, err)
				}
				// ... or an endpoint that has it switches to auth_required=false.
				p = hold(held)
				if err := update(thirdParty("update", sent, p, true), sent, p); !errors.Is(err, sb.ErrDuplicateIP) {
					t.Errorf("%s held: update to auth_required=false on %s: %v, want the duplicate-IP conflict", held, sent, err)
				}
			}
		}
	})
}

// Databases written before 00005 hold IPv4-mapped addresses as
// "::ffff:a.b.c.d"; the migration rewrites every copy to the IPv4 form and
// resolves claims that were two spellings of one address.
func TestMigrationCanonicalisesIPv4Mapped(t *testing.T) {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "old.db")}
	if os.Getenv(sqlstoretest.PostgresEnv) != "" {
		dsns["postgres"] = sqlstoretest.PostgresDSN(t)
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			old, err := sqlstore.OpenMigratedTo(ctx, dsn, 4)
			if err != nil {
				t.Fatal(err)
			}
			// What the code before 00005 stored.
			exec := func(query string, args ...any) {
				t.Helper()
				if _, err := sqlstore.WritePool(old).ExecContext(ctx, sqlstore.Rebind(old, query), args...); err != nil {
					t.Fatalf("%s: %v", query, err)
				}
			}
			p1, p2 := sb.NewSID(), sb.NewSID()
			for _, sid := range []string{p1, p2} {
				exec(`INSERT INTO partners (partner_sid, name, scopes, created_at) VALUES (?, ?, ?, ?)`, sid, "p", "endpoints.manage", time.Now().UTC())
			}
			secret := `<&> "q"`
			endpoint := func(partner string, ips ...string) int64 {
				e := &sb.Endpoint{EndpointSID: sb.NewSID(), PartnerSID: partner, Type: sb.TypeThirdParty, Name: "old",
					Attributes: map[string]string{}, Properties: sb.Properties{}, Transformations: []sb.Transformation{}}
				for _, ip := range ips {
					e.Addresses = append(e.Addresses, sb.Address{Direction: "any", DstPort: 5060, IP: ip, Port: 5060, SIPPassword: &secret, Transport: "udp"})
				}
				addresses, attributes, properties, transformations := dump(e.Addresses), dump(e.Attributes), dump(e.Properties), dump(e.Transformations)
				var id int64
				if err := sqlstore.WritePool(old).QueryRowContext(ctx, sqlstore.Rebind(old, `INSERT INTO endpoints (endpoint_sid, partner_sid, type, name, capacity, auth_required,
					addresses, attributes, properties, transformations) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?) RETURNING id`),
					e.EndpointSID, partner, e.Type, e.Name, false, addresses, attributes, properties, transformations).Scan(&id); err != nil {
					t.Fatal(err)
				}
				for i, a := range e.Addresses {
					exec(`INSERT INTO endpoint_addresses (endpoint_id, position, direction, dst_port, ip, port, priority, srtp, transport)
						VALUES (?, ?, 'any', 5060, ?, 5060, 0, ?, 'udp')`, id, i, a.IP, false)
				}
				seen := map[string]bool{}
				for _, a := range e.Addresses {
					if !seen[a.IP] {
						seen[a.IP] = true
						exec(`INSERT INTO ip_claims (ip, port, endpoint_id) VALUES (?, 5060, ?)`, a.IP, id)
					}
				}
				return id
			}
			e1 := endpoint(p1, "::ffff:192.0.2.44", "2001:db8::1")
			e2 := endpoint(p2, "192.0.2.44") // the hole: a second claim on one address
			e3 := endpoint(p1, "::ffff:10.0.0.1", "10.0.0.1")
			e4 := endpoint(p1, "::ffff:203.0.113.5")
			e5 := endpoint(p1, "::ffff:1:2:3") // an IPv6 address, not IPv4-mapped
			for _, ip := range []string{"::ffff:198.51.100.7", "198.51.100.7", "::ffff:198.51.100.8", "203.0.113.5"} {
				exec(`INSERT INTO system_gateways (ip, port) VALUES (?, 5060)`, ip)
				exec(`INSERT INTO ip_claims (ip, port, endpoint_id) VALUES (?, 5060, NULL)`, ip)
			}
			old.Close()

			db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows := func(query string) []string {
				t.Helper()
				r, err := sqlstore.ReadPool(db).QueryContext(ctx, query)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var out []string
				for r.Next() {
					var ip string
					var port int64
					var id sql.NullInt64
					if err := r.Scan(&ip, &port, &id); err != nil {
						t.Fatal(err)
					}
					out = append(out, fmt.Sprintf("%s:%d@%d", ip, port, id.Int64))
				}
				return out
			}
			claims := rows(`SELECT ip, port, endpoint_id FROM ip_claims ORDER BY ip, port`)
			want := []string{"10.0.0.1:5060@" + fmt.Sprint(e3), "192.0.2.44:5060@" + fmt.Sprint(e1), "198.51.100.7:5060@0", "198.51.100.8:5060@0",
				"2001:db8::1:5060@" + fmt.Sprint(e1), "203.0.113.5:5060@" + fmt.Sprint(e4), "::ffff:1:2:3:5060@" + fmt.Sprint(e5)}
			slices.Sort(want)
			if !slices.Equal(claims, want) {
				t.Errorf("claims after the migration:\n got %v\nwant %v", claims, want)
			}
			if got := rows(`SELECT ip, port, NULL FROM system_gateways ORDER BY ip`); !slices.Equal(got, []string{"198.51.100.7:5060@0", "198.51.100.8:5060@0", "203.0.113.5:5060@0"}) {
				t.Errorf("system_gateways after the migration: %v", got)
			}
			if got := rows(`SELECT ip, position, endpoint_id FROM endpoint_addresses ORDER BY endpoint_id, position`); !slices.Equal(got, []string{
				"192.0.2.44:0@" + fmt.Sprint(e1), "2001:db8::1:1@" + fmt.Sprint(e1), "192.0.2.44:0@" + fmt.Sprint(e2),
				"10.0.0.1:0@" + fmt.Sprint(e3), "10.0.0.1:1@" + fmt.Sprint(e3), "203.0.113.5:0@" + fmt.Sprint(e4), "::ffff:1:2:3:0@" + fmt.Sprint(e5)}) {
				t.Errorf("endpoint_addresses after the migration: %v", got)
			}
			// The documents: each address rewritten in place, nothing else changed.
			page, err := sb.ListPage(ctx, db, p1, sb.ListQuery{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var docs []string
			for _, e := range page.Items {
				var ips []string
				for _, a := range e.Addresses {
					ips = append(ips, a.IP)
					if a.SIPPassword == nil || *a.SIPPassword != secret || a.Transport != "udp" || a.DstPort != 5060 {
						t.Errorf("address %+v changed beyond its ip", a)
					}
				}
				docs = append(docs, strings.Join(ips, ","))
			}
			if want := []string{"192.0.2.44,2001:db8::1", "10.0.0.1,10.0.0.1", "203.0.113.5", "::ffff:1:2:3"}; !slices.Equal(docs, want) {
				t.Errorf("addresses documents: %v, want %v", docs, want)
			}
			// Filters and the rule now see the one address.
			f, err := sb.ParseFilter(`addresses.ip eq "::ffff:c000:22c"`)
			if err != nil {
				t.Fatal(err)
			}
			if page, err := sb.ListPage(ctx, db, p1, sb.ListQuery{Limit: 10, Filter: f}); err != nil || len(page.Items) != 1 || page.Items[0].ID != e1 {
				t.Errorf("filter on the migrated address: %v %v", page, err)
			}
			c := sb.Caller{PartnerSID: p2, Scopes: sb.Scopes{sb.ScopeManage, sb.ScopeManageAuthRequired}}
			// The endpoint that lost its claim keeps working, but cannot
			// assert the address again.
			var sid2 string
			if err := sqlstore.ReadPool(db).QueryRowContext(ctx, sqlstore.Rebind(db, `SELECT endpoint_sid FROM endpoints WHERE id = ?`), e2).Scan(&sid2); err != nil {
				t.Fatal(err)
			}
			change := func(body sb.Body) error {
				_, err := db.UpdateEndpoint(ctx, p2, sid2, func(cur *sb.Endpoint) (*sb.Endpoint, error) { return cur.Update(c, body, sb.Merge) })
				return err
			}
			if err := change(sb.Body{"name": "renamed"}); err != nil {
				t.Errorf("renaming the endpoint that lost its claim: %v", err)
			}
			if err := change(sb.Body{"addresses": []any{map[string]any{"ip": "198.51.100.99"}}}); !errors.Is(err, sb.ErrDuplicateIP) {
				t.Errorf("changing the addresses of the endpoint that lost its claim: %v, want the duplicate-IP conflict", err)
			}
			for _, ip := range []string{"192.0.2.44", "10.0.0.1", "203.0.113.5"} {
				if err := db.CreateEndpoint(ctx, newEndpoint(t, c, thirdParty("new", ip, 5060, false))); !errors.Is(err, sb.ErrDuplicateIP) {
					t.Errorf("a new claim on migrated %s: %v, want the duplicate-IP conflict", ip, err)
				}
			}
		})
	}
}
