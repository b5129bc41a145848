package sqlstore

import (
	"fmt"
	"testing"

	sb "switchboard"
	"switchboard/filter"
)

// Past its bound the list statement cache stops growing, and lists of new
// shapes still answer (unprepared) with the same results.
func TestListStatementCacheIsBounded(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		a := newPartner(t, db, "a")
		mustStore(t, db, a, thirdParty("trunk", "10.1.0.1", 5060, true))
		list := func(text string) int {
			t.Helper()
			x, err := filter.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			p, err := db.ListEndpoints(ctx, a.PartnerSID, sb.ListQuery{Limit: 10, Filter: x})
			if err != nil {
				t.Fatal(err)
			}
			return p.Total
		}
		if list(`name eq trunk`) != 1 {
			t.Fatal("the first list shape found nothing")
		}
		for i := 0; len(db.lists.m) < maxListStatements; i++ {
			if st := db.lists.get(ctx, fmt.Sprintf("SELECT %d", i)); st == nil {
				t.Fatalf("statement %d was not cached below the bound", i)
			}
		}
		if list(`name eq trunk and capacity ge 0`) != 1 || list(`name eq trunk`) != 1 {
			t.Fatal("a list past the bound answered differently")
		}
		if n := len(db.lists.m); n != maxListStatements {
			t.Fatalf("the cache holds %d statements, want the bound %d", n, maxListStatements)
		}
	})
}
