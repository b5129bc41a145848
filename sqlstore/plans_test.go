package sqlstore_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// filterPlanShapes are the conditions on the search rows and nested
// documents (issue 11), each with the partner-leading index its plan must
// use: a subquery on a side table that is not correlated with the caller's
// endpoints must start from the side table's (partner_sid, ...) index; a
// correlated one is bounded by the caller's endpoints, read through
// endpoints (partner_sid, ...).
var filterPlanShapes = []struct{ filter, index string }{
	{`addresses.ip eq 10.0.0.1`, "endpoint_addresses_partner_ip"},
	{`addresses.ip ne 10.0.0.1`, "endpoint_addresses_partner_ip"},
	{`addresses.ip gt 10.0.0.1`, "endpoint_addresses_partner_ip"},
	{`addresses.ip le 10.0.0.1`, "endpoint_addresses_partner_ip"},
	{`addresses.ip like "10.0.%"`, "endpoint_addresses_partner_ip"},
	{`addresses.ip like "%.1"`, "endpoint_addresses_partner_ip"},
	{`addresses.ip in (10.0.0.1, 10.0.0.2)`, "endpoint_addresses_partner_ip"},
	{`addresses.ip notin (10.0.0.1, 10.0.0.2)`, "endpoint_addresses_partner_ip"},
	{`addresses.port eq 5060`, "endpoints_partner_"},
	{`addresses.port ge 5070`, "endpoints_partner_"},
	{`addresses.transport ne udp`, "endpoints_partner_"},
	{`addresses.location_sid eq null`, "endpoints_partner_"},
	{`addresses.sip_username like "a%"`, "endpoints_partner_"},
	{`addresses.direction notin (inbound, outbound)`, "endpoints_partner_"},
	{`attributes.region eq eu`, "endpoint_attributes_partner_key_value"},
	{`attributes.region gt eu`, "endpoint_attributes_partner_key_value"},
	{`attributes.tier ge t100 and attributes.tier lt t900`, "endpoint_attributes_partner_key_value"},
	{`attributes.region like "e%"`, "endpoint_attributes_partner_key_value"},
	{`attributes.region like "%u"`, "endpoint_attributes_partner_key_value"},
	{`attributes.region in (eu, us)`, "endpoint_attributes_partner_key_value"},
	{`attributes.region ne eu`, "endpoints_partner_"},
	{`attributes.region notin (eu, us)`, "endpoints_partner_"},
	{`attributes.region eq null`, "endpoints_partner_"},
	{`attributes.region ne null`, "endpoints_partner_"},
	{`transformations.action eq strip_plus`, "endpoints_partner_"},
	{`transformations.direction ne any`, "endpoints_partner_"},
	{`transformations.operands like "+%"`, "endpoints_partner_"},
	{`transformations.operands in ("+1", "1")`, "endpoints_partner_"},
	{`addresses.ip ne 10.0.0.1 and attributes.region ge apac and transformations.action eq strip_plus`, "endpoint_addresses_partner_ip"},
	{`addresses.ip notin (10.0.0.1) and attributes.tier like "t1%" and addresses.port gt 5000`, "endpoint_attributes_partner_key_value"},
}

// keptCountPlan is the count's plan for a filter of one condition that the
// kept attribute counts answer (migration 00014): their primary key, from
// the partner and the key on.
const keptCountPlan = "SEARCH a USING PRIMARY KEY (partner_sid=? AND key=?"

// countedFromKeptCounts are the shapes whose totals the kept counts answer.
var countedFromKeptCounts = map[string]bool{
	`attributes.region eq eu`: true, `attributes.region gt eu`: true, `attributes.region like "e%"`: true,
	`attributes.region like "%u"`: true, `attributes.region in (eu, us)`: true,
}

// fullScan is a plan step that reads a whole table or index (SQLite writes
// "SCAN <alias>" for those; "SCAN t"/"SCAN o" are json_each over the one
// endpoint's own document, which the pattern leaves out).
var fullScan = regexp.MustCompile(`^SCAN (e|a|endpoints|endpoint_addresses|endpoint_attributes)\b`)

// TestFilterPlansStayOnTheCallersRows: on SQLite, the count and page
// queries of a list with each filter shape are index-driven and bounded by
// the caller's rows: no step scans a side table or the endpoints, and the
// partner-leading index the shape needs is used. Checked before and after
// ANALYZE (a new database, and one with statistics).
func TestFilterPlansStayOnTheCallersRows(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	caller := newPartner(t, db, "caller")
	other := newPartner(t, db, "other")
	for i := range 300 {
		owner := other
		if i%10 == 0 {
			owner = caller
		}
		mustStore(t, db, owner, sb.Body{"type": "third_party", "name": fmt.Sprint("e", i),
			"attributes":      map[string]any{"region": []string{"eu", "us", "apac"}[i%3], "tier": fmt.Sprintf("t%03d", i)},
			"addresses":       []any{map[string]any{"ip": fmt.Sprintf("10.0.%d.%d", i/256, i%256)}},
			"transformations": []any{map[string]any{"action": "strip_plus", "operands": []any{}}}})
	}
	check := func(t *testing.T) {
		for _, shape := range filterPlanShapes {
			x, err := sb.ParseFilter(shape.filter)
			if err != nil {
				t.Fatalf("%s: %v", shape.filter, err)
			}
			count, page, countArgs, pageArgs := sqlstore.ListQueries(db, caller.PartnerSID, x, 100)
			countIndex := shape.index
			if countedFromKeptCounts[shape.filter] {
				countIndex = keptCountPlan
			}
			for _, q := range []struct {
				sql, index string
				args       []any
			}{{count, countIndex, countArgs}, {page, shape.index, pageArgs}} {
				steps := explainSteps(t, db, q.sql, q.args)
				plan := details(steps)
				for _, step := range plan {
					if fullScan.MatchString(step) {
						t.Errorf("%s: the plan scans a whole table: %q\nplan: %s\nSQL: %s", shape.filter, step, strings.Join(plan, " | "), q.sql)
					}
				}
				if !strings.Contains(strings.Join(plan, "\n"), q.index) {
					t.Errorf("%s: the plan does not use %s\nplan: %s\nSQL: %s", shape.filter, q.index, strings.Join(plan, " | "), q.sql)
				}
			}
			if strings.HasSuffix(page, ") ORDER BY e.id") {
				checkSetPagePlan(t, shape.filter, page, explainSteps(t, db, page, pageArgs))
			}
		}
	}
	t.Run("no_statistics", check)
	if _, err := sqlstore.WritePool(db).ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	t.Run("analyzed", check)
}

// setPageOuterPlan is how a page of an idSet's endpoints in id order
// (setPageQuery) must read them: by primary key, one look-up per id of the
// set's page, which is already in id order, so with no sort of the rows.
const setPageOuterPlan = "SEARCH e USING INTEGER PRIMARY KEY (rowid=?)"

func checkSetPagePlan(t *testing.T, filter, sql string, steps []planStep) {
	t.Helper()
	var outer []string
	for _, s := range steps {
		if s.parent == 0 {
			outer = append(outer, s.detail)
		}
	}
	if len(outer) == 0 || outer[0] != setPageOuterPlan || slices.ContainsFunc(outer, func(d string) bool { return strings.Contains(d, "TEMP B-TREE") }) {
		t.Errorf("%s: the set page's outer plan is %q, want %q first and no sort\nSQL: %s", filter, outer, setPageOuterPlan, sql)
	}
}

// planStep is one step of SQLite's query plan.
type planStep struct {
	parent int
	detail string
}

func details(steps []planStep) []string {
	var d []string
	for _, s := range steps {
		d = append(d, s.detail)
	}
	return d
}

// explainSteps is SQLite's query plan of a query with each step's parent.
func explainSteps(t *testing.T, db *sqlstore.DB, query string, args []any) []planStep {
	t.Helper()
	rows, err := sqlstore.ReadPool(db).QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	defer rows.Close()
	var plan []planStep
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, planStep{parent, detail})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestHeldReadFindsRowsByPrimaryKey: the read of a page's endpoints that
// the caller does not hold finds each by primary key, the partner's
// condition a check.
func TestHeldReadFindsRowsByPrimaryKey(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	caller := newPartner(t, db, "caller")
	for i := range 50 {
		mustStore(t, db, caller, sb.Body{"type": "conference", "name": fmt.Sprint("e", i)})
	}
	if _, err := sqlstore.WritePool(db).ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	q := sqlstore.HeldReadQuery(db)
	steps := explainSteps(t, db, q, []any{"[1,2,3]", caller.PartnerSID})
	checkSetPagePlan(t, "held read", q, steps)
}
