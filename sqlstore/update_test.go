package sqlstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	sb "switchboard"
)

// An update writes only the side-table rows whose data changed; whatever it
// skips or rewrites, the rows must end as a fresh write of the endpoint
// would leave them.
func TestUpdateKeepsSideRowsExact(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a := newPartner(t, db, "a")
		cases := []struct {
			name   string
			change sb.Body
		}{
			{"name only", sb.Body{"name": "renamed"}},
			{"attributes", sb.Body{"attributes": map[string]any{"k": nil, "region": "eu"}}},
			{"address port", sb.Body{"addresses": []any{map[string]any{"ip": "10.9.0.1", "port": "5070"}}}},
			{"second address", sb.Body{"addresses": []any{map[string]any{"ip": "10.9.0.1"}, map[string]any{"ip": "10.9.0.2", "transport": "tcp"}}}},
			{"auth required on", sb.Body{"auth_required": true}},
			{"auth required off", sb.Body{"auth_required": false}},
			{"name and attributes", sb.Body{"name": "again", "attributes": map[string]any{"x": "1"}}},
		}
		e := mustStore(t, db, a, sb.Body{"type": "third_party", "name": "trunk", "auth_required": false,
			"attributes": map[string]any{"k": "v"}, "addresses": []any{map[string]any{"ip": "10.9.0.1"}}})
		for _, c := range cases {
			next, err := db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
				return cur.Update(a, c.change, sb.Merge)
			})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got, want := storedSideRows(t, db, next.ID), expectedSideRows(next); got != want {
				t.Fatalf("%s: side rows\n got %s\nwant %s", c.name, got, want)
			}
		}
	})
}

func storedSideRows(t *testing.T, db *DB, id int64) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT 'address ' || position || ' ' || ip || ':' || port || ' ' || transport FROM endpoint_addresses WHERE endpoint_id = ? ORDER BY position`,
		`SELECT 'attribute ' || key || '=' || value FROM endpoint_attributes WHERE endpoint_id = ? ORDER BY key`,
		`SELECT 'claim ' || ip || ':' || port FROM ip_claims WHERE endpoint_id = ? ORDER BY ip, port`,
	} {
		rows, err := db.read.Query(db.q(q), id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		rows.Close()
	}
	return strings.Join(out, "; ")
}

func expectedSideRows(e *sb.Endpoint) string {
	var out []string
	for i, a := range e.Addresses {
		out = append(out, fmt.Sprintf("address %d %s:%d %s", i, a.IP, a.Port, a.Transport))
	}
	var attrs []string
	for k, v := range e.Attributes {
		attrs = append(attrs, "attribute "+k+"="+v)
	}
	slices.Sort(attrs)
	out = append(out, attrs...)
	for _, c := range e.SIPClaims() {
		out = append(out, fmt.Sprintf("claim %s:%d", c.IP, c.Port))
	}
	return strings.Join(out, "; ")
}
