package sqlstore_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// concurrentMixedWrites runs 8 writers of 40 random writes each through
// the handles dbs (alternately) for the partners: creates (plain and under
// idempotency keys), deletes, updates and system gateway changes. With
// attributes, the creates carry attributes() and most updates replace them
// (the others rename and keep them); without, the updates rename.
func concurrentMixedWrites(t *testing.T, dbs []*sqlstore.DB, partners []sb.Caller, attributes func() map[string]any) {
	t.Helper()
	attrs := func() map[string]string {
		m := map[string]string{}
		if attributes != nil {
			for k, v := range attributes() {
				m[k] = v.(string)
			}
		}
		return m
	}
	const writers, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Go(func() {
			db, c := dbs[w%2], partners[w%len(partners)]
			var mine []string
			for i := range rounds {
				var err error
				switch op := rand.IntN(10); {
				case op < 4 || len(mine) == 0:
					var e *sb.Endpoint
					if e, err = sb.NewEndpoint(c, sb.Body{"type": "conference", "name": fmt.Sprintf("w%d-%d", w, i)}, sb.NewEndpointParams{}); err == nil {
						e.Attributes = attrs()
						if err = sb.CreateEndpoint(ctx, db, e); err == nil {
							mine = append(mine, e.EndpointSID)
						}
					}
				case op < 5:
					req := onceRequest(t, c, fmt.Sprintf("key-%d-%d", w, i), time.Now())
					req.Endpoint.Attributes = attrs()
					var ans sb.Answer
					if ans, _, err = db.CreateEndpointOnce(ctx, req); err == nil {
						mine = append(mine, string(ans.Body))
					}
				case op < 7:
					k := rand.IntN(len(mine))
					err = db.DeleteEndpoint(ctx, c.PartnerSID, mine[k])
					mine = append(mine[:k], mine[k+1:]...)
				case op < 9:
					_, err = db.UpdateEndpoint(ctx, c.PartnerSID, mine[rand.IntN(len(mine))], func(cur *sb.Endpoint) (*sb.Endpoint, error) {
						next := cur.Clone()
						if attributes != nil && rand.IntN(3) > 0 {
							next.Attributes = attrs()
						} else {
							next.Name = fmt.Sprintf("patched %d", i)
						}
						return next, nil
					})
				default:
					err = db.SetSystemGateways(ctx, []sb.IPPort{{IP: fmt.Sprintf("192.0.2.%d", 1+rand.IntN(3)), Port: 5060}})
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d, round %d: %w", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// endpointCounts returns, for each partner, the kept count, COUNT(*) and the
// total of a list without a filter, read through db.
func endpointCounts(t *testing.T, db *sqlstore.DB, partner string) (kept, counted, listed int) {
	t.Helper()
	w := sqlstore.WritePool(db)
	if err := w.QueryRow(sqlstore.Rebind(db, `SELECT COALESCE((SELECT endpoints FROM partner_endpoint_counts WHERE partner_sid = ?), 0)`), partner).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if err := w.QueryRow(sqlstore.Rebind(db, `SELECT count(*) FROM endpoints WHERE partner_sid = ?`), partner).Scan(&counted); err != nil {
		t.Fatal(err)
	}
	page, err := sb.ListPage(ctx, db, partner, sb.ListQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kept, counted, page.Total
}

// The kept count of a partner's endpoints equals COUNT(*) after concurrent
// creates (plain and under idempotency keys), deletes, updates, fixture
// resets and system gateway changes through two independent handles on one
// database (as two processes would), and a list without a filter answers it.
func TestEndpointCountFollowsConcurrentWrites(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		dbs := []*sqlstore.DB{sqlstoretest.Open(t, dsn), sqlstoretest.Open(t, dsn)}
		partners := []sb.Caller{newPartner(t, dbs[0], "one"), newPartner(t, dbs[1], "two")}
		concurrentMixedWrites(t, dbs, partners, nil)
		check := func(when string) {
			t.Helper()
			for _, db := range dbs {
				for _, c := range partners {
					if kept, counted, listed := endpointCounts(t, db, c.PartnerSID); kept != counted || listed != counted || counted == 0 {
						t.Errorf("%s: partner %s: kept %d, COUNT(*) %d, list total %d", when, c.PartnerName, kept, counted, listed)
					}
				}
			}
		}
		check("after the concurrent writes")

		// A fixture reset deletes all but the gateway and creates anew.
		e, err := sb.NewEndpoint(partners[0], sb.Body{"type": "conference", "name": "fixture"}, sb.NewEndpointParams{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dbs[1].ResetEndpoints(ctx, partners[0].PartnerSID, []*sb.Endpoint{e}); err != nil {
			t.Fatal(err)
		}
		check("after a reset")
		if kept, _, _ := endpointCounts(t, dbs[0], partners[0].PartnerSID); kept != 2 {
			t.Errorf("after a reset to one endpoint and the gateway: kept %d", kept)
		}

		// The list's total is the kept count, not a count: a count made
		// wrong on purpose shows in the list without a filter, and only there.
		w := sqlstore.WritePool(dbs[0])
		if _, err := w.Exec(sqlstore.Rebind(dbs[0], `UPDATE partner_endpoint_counts SET endpoints = endpoints + 1000 WHERE partner_sid = ?`), partners[1].PartnerSID); err != nil {
			t.Fatal(err)
		}
		kept, counted, listed := endpointCounts(t, dbs[1], partners[1].PartnerSID)
		if listed != kept || listed != counted+1000 {
			t.Errorf("list total %d, kept %d, COUNT(*) %d: the list without a filter does not answer the kept count", listed, kept, counted)
		}
		f, err := sb.ParseFilter(`name ne "nothing has this name"`)
		if err != nil {
			t.Fatal(err)
		}
		filtered, err := sb.ListPage(ctx, dbs[1], partners[1].PartnerSID, sb.ListQuery{Limit: 1, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		if filtered.Total != counted {
			t.Errorf("a filtered list's total %d, COUNT(*) %d: a filter must count", filtered.Total, counted)
		}
	})
}

// Migration 00011 counts the endpoints a database already has.
func TestEndpointCountMigrationBackfills(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := newPartner(t, db, "before")
		empty := newPartner(t, db, "none")
		for i := range 5 {
			mustStore(t, db, c, sb.Body{"type": "conference", "name": fmt.Sprint("e", i)})
		}
		if err := sqlstore.MigrateDownTo(ctx, db, 10); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db = sqlstoretest.Open(t, dsn) // migrates up again
		for _, p := range []sb.Caller{c, empty} {
			if kept, counted, listed := endpointCounts(t, db, p.PartnerSID); kept != counted || listed != counted {
				t.Errorf("partner %s after the migration: kept %d, COUNT(*) %d, list total %d", p.PartnerName, kept, counted, listed)
			}
		}
		if kept, _, _ := endpointCounts(t, db, c.PartnerSID); kept != 5 {
			t.Errorf("kept %d, want 5", kept)
		}
	})
}

// attributeCounts returns the kept attribute counts and the counts of the
// search rows, each as "partner key=value: n" lines in order.
func attributeCounts(t *testing.T, db *sqlstore.DB) (kept, counted []string) {
	t.Helper()
	read := func(query string) []string {
		rows, err := sqlstore.WritePool(db).Query(query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var p, k, v string
			var n int
			if err := rows.Scan(&p, &k, &v, &n); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s=%s: %d", p, k, v, n))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	return read(`SELECT partner_sid, key, value, endpoints FROM attribute_value_counts ORDER BY 1, 2, 3`),
		read(`SELECT partner_sid, key, value, count(*) FROM endpoint_attributes GROUP BY partner_sid, key, value ORDER BY 1, 2, 3`)
}

// randomAttributes are 0 to 2 attributes from small pools, so that values
// are shared, changed and dropped.
func randomAttributes() map[string]any {
	m := map[string]any{}
	if rand.IntN(4) > 0 {
		m["region"] = []string{"eu", "us", "ap"}[rand.IntN(3)]
	}
	if rand.IntN(2) > 0 {
		m["tier"] = fmt.Sprint("t", rand.IntN(4))
	}
	return m
}

// The kept attribute counts equal the search rows' counts, with no row at
// 0, after concurrent creates (plain and under idempotency keys), deletes,
// updates that change, drop and keep attributes, system gateway changes
// and a fixture reset through two handles on one database; and a list
// filtered on one attribute answers its total from them.
func TestAttributeCountsFollowConcurrentWrites(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		dbs := []*sqlstore.DB{sqlstoretest.Open(t, dsn), sqlstoretest.Open(t, dsn)}
		partners := []sb.Caller{newPartner(t, dbs[0], "one"), newPartner(t, dbs[1], "two")}
		concurrentMixedWrites(t, dbs, partners, randomAttributes)
		check := func(when string) {
			t.Helper()
			kept, counted := attributeCounts(t, dbs[0])
			if !slices.Equal(kept, counted) || len(counted) == 0 {
				t.Errorf("%s:\nkept:\n%s\nsearch rows:\n%s", when, strings.Join(kept, "\n"), strings.Join(counted, "\n"))
			}
		}
		check("after the concurrent writes")

		e, err := sb.NewEndpoint(partners[0], sb.Body{"type": "conference", "name": "fixture", "attributes": map[string]any{"region": "eu"}}, sb.NewEndpointParams{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dbs[1].ResetEndpoints(ctx, partners[0].PartnerSID, []*sb.Endpoint{e}); err != nil {
			t.Fatal(err)
		}
		check("after a reset")

		// Each filter's total is the endpoints it selects; made wrong on
		// purpose, a kept count shows in the totals of the lists filtered
		// on attributes, and only there.
		p := partners[1].PartnerSID
		total := func(expr string) int {
			t.Helper()
			f, err := sb.ParseFilter(expr)
			if err != nil {
				t.Fatal(err)
			}
			page, err := sb.ListPage(ctx, dbs[1], p, sb.ListQuery{Limit: 1, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			return page.Total
		}
		rows := func(cond string) int {
			t.Helper()
			var n int
			if err := sqlstore.WritePool(dbs[0]).QueryRow(sqlstore.Rebind(dbs[0], `SELECT count(*) FROM endpoint_attributes WHERE partner_sid = ? AND `+cond), p).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		filters := []struct{ expr, cond string }{
			{`attributes.region eq eu`, `key = 'region' AND value = 'eu'`},
			{`attributes.region in (eu, us)`, `key = 'region' AND value IN ('eu', 'us')`},
			{`attributes.tier ge t2`, `key = 'tier' AND value >= 't2'`},
			{`attributes.tier eq nothing`, `1 = 0`},
		}
		for _, f := range filters {
			if got, want := total(f.expr), rows(f.cond); got != want {
				t.Errorf("%s: total %d, want %d", f.expr, got, want)
			}
		}
		if _, err := sqlstore.WritePool(dbs[0]).Exec(sqlstore.Rebind(dbs[0], `UPDATE attribute_value_counts SET endpoints = endpoints + 1000 WHERE partner_sid = ? AND key = 'region' AND value = 'eu'`), p); err != nil {
			t.Fatal(err)
		}
		if got, want := total(`attributes.region eq eu`), rows(`key = 'region' AND value = 'eu'`)+1000; got != want {
			t.Errorf("attributes.region eq eu: total %d, want the kept count %d", got, want)
		}
		if got, want := total(`name ne "nothing has this name" and attributes.region eq eu`), rows(`key = 'region' AND value = 'eu'`); got != want {
			t.Errorf("two conditions: total %d, want %d counted", got, want)
		}
	})
}

// Migration 00014 counts the attribute values a database already holds.
func TestAttributeCountMigrationBackfills(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := newPartner(t, db, "before")
		for i := range 7 {
			mustStore(t, db, c, sb.Body{"type": "conference", "name": fmt.Sprint("e", i), "attributes": map[string]any{"region": []string{"eu", "us"}[i%2], "tier": fmt.Sprint("t", i%3)}})
		}
		if err := sqlstore.MigrateDownTo(ctx, db, 13); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db = sqlstoretest.Open(t, dsn) // migrates up again
		kept, counted := attributeCounts(t, db)
		if !slices.Equal(kept, counted) || len(kept) != 5 {
			t.Errorf("after the migration: kept %q, search rows %q", kept, counted)
		}
	})
}
