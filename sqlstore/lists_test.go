package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

func TestListOrdersAndCursors(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
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
			p, err := sb.ListPage(ctx, db, a.PartnerSID, q)
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
		if _, err := sb.ListPage(ctx, db, b.PartnerSID, sb.ListQuery{Limit: 2, After: created[0].EndpointSID}); sb.ErrorKindOf(err) != sb.KindBadRequest {
			t.Fatalf("a cursor the caller cannot see must be a 400, got %v", err)
		}
		offset := list(sb.ListQuery{Limit: 4, Offset: 4})
		if len(offset.Items) != 2 || offset.HasMore || offset.Total != 6 {
			t.Fatalf("offset page: %d items, has_more %v", len(offset.Items), offset.HasMore)
		}
	})
}

// Past its bound the list statement cache stops growing, and lists of new
// shapes still answer (unprepared) with the same results.
func TestListStatementCacheIsBounded(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		mustStore(t, db, a, thirdParty("trunk", "10.1.0.1", 5060, true))
		list := func(text string) int {
			t.Helper()
			x, err := sb.ParseFilter(text)
			if err != nil {
				t.Fatal(err)
			}
			p, err := sb.ListPage(ctx, db, a.PartnerSID, sb.ListQuery{Limit: 10, Filter: x})
			if err != nil {
				t.Fatal(err)
			}
			return p.Total
		}
		if list(`name eq trunk`) != 1 {
			t.Fatal("the first list shape found nothing")
		}
		if !sqlstore.CachesListStatements(db) {
			// PostgreSQL: pgx's connections cache the statements (bounded
			// by pgx); the store keeps none of its own.
			if n := sqlstore.ListStatements(db); n != 0 {
				t.Fatalf("the store keeps %d list statements beside pgx's cache", n)
			}
			return
		}
		for i := 0; sqlstore.ListStatements(db) < sqlstore.MaxListStatements; i++ {
			if !sqlstore.PrepareListStatement(db, fmt.Sprintf("SELECT %d", i)) {
				t.Fatalf("statement %d was not cached below the bound", i)
			}
		}
		if list(`name eq trunk and capacity ge 0`) != 1 || list(`name eq trunk`) != 1 {
			t.Fatal("a list past the bound answered differently")
		}
		if n := sqlstore.ListStatements(db); n != sqlstore.MaxListStatements {
			t.Fatalf("the cache holds %d statements, want the bound %d", n, sqlstore.MaxListStatements)
		}
	})
}

// A filter that is one condition on addresses.ip or an attribute is counted
// from the search rows (listCount): each endpoint once, though it has the
// address twice, and only the caller's; its pages, by offset (read from the
// search rows' index) and by cursor, are in id order.
func TestListCountedFromSearchRows(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		var sids []string
		for i := range 7 {
			body := thirdParty(fmt.Sprint("twice-", i), "192.0.2.77", 5060+i, true)
			body["addresses"] = append(body["addresses"].([]any), map[string]any{"ip": "192.0.2.77", "port": "6060"})
			body["attributes"] = map[string]any{"region": []string{"eu", "us"}[i%2]}
			sids = append(sids, mustStore(t, db, a, body).EndpointSID)
		}
		mustStore(t, db, b, sb.Body{"type": "third_party", "name": "other", "attributes": map[string]any{"region": "eu"},
			"addresses": []any{map[string]any{"ip": "192.0.2.77", "port": "5060"}}})
		for _, tc := range []struct {
			filter string
			want   []string
		}{
			{`addresses.ip eq "192.0.2.77"`, sids},
			{`attributes.region eq "eu"`, []string{sids[0], sids[2], sids[4], sids[6]}},
			{`attributes.region in ("eu", "us")`, sids},
			{`attributes.region eq "apac"`, nil},
		} {
			f, err := sb.ParseFilter(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			after := ""
			for {
				p, err := sb.ListPage(ctx, db, a.PartnerSID, sb.ListQuery{Limit: 3, Filter: f, After: after})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Items {
					got = append(got, e.EndpointSID)
				}
				if !p.HasMore {
					break
				}
				after = p.Items[len(p.Items)-1].EndpointSID
			}
			first, err := sb.ListPage(ctx, db, a.PartnerSID, sb.ListQuery{Limit: 3, Filter: f, Offset: 1})
			if err != nil {
				t.Fatal(err)
			}
			var offsetPage []string
			for _, e := range first.Items {
				offsetPage = append(offsetPage, e.EndpointSID)
			}
			wantOffset := tc.want[min(1, len(tc.want)):min(4, len(tc.want))]
			if !slices.Equal(got, tc.want) || first.Total != len(tc.want) || !slices.Equal(offsetPage, wantOffset) || first.HasMore != (len(tc.want) > 4) {
				t.Errorf("%s: total %d, cursor pages %v, offset page %v (has_more %v); want %d, %v, %v", tc.filter, first.Total, got, offsetPage, first.HasMore, len(tc.want), tc.want, wantOffset)
			}
		}
	})
}
