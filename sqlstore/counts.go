package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"maps"
	"slices"

	sb "github.com/switchboard-sip/switchboard"
)

// Each partner's number of endpoints (partner_endpoint_counts), so that a
// list without a filter has its exact total in one row instead of counting
// the partner's index entries (docs/decisions.md, "An O(1) total").
//
// The counts follow the change records: every write that creates or deletes
// an endpoint records a created or deleted change in its transaction, so the
// transaction that writes the records (writeChanges: the transaction's end,
// or a group commit batch's) also adds each partner's difference. Writing it
// there, after the feed's statement, means that on PostgreSQL a count row
// is locked only by a transaction that already holds the feed's counter
// locks (the global position's and the partner revision's): it waits for
// nobody the feed did not already make it wait for, and it is held only
// through the commit, as they are.

const (
	addEndpointCountSQLite = `INSERT INTO partner_endpoint_counts (partner_sid, endpoints) VALUES (?, ?)
ON CONFLICT (partner_sid) DO UPDATE SET endpoints = endpoints + excluded.endpoints`
	addEndpointCountsPostgres = `INSERT INTO partner_endpoint_counts (partner_sid, endpoints)
SELECT partner_sid, n FROM unnest($1::text[], $2::bigint[]) AS t(partner_sid, n) ORDER BY partner_sid
ON CONFLICT (partner_sid) DO UPDATE SET endpoints = partner_endpoint_counts.endpoints + EXCLUDED.endpoints`

	// selectEndpointCount is a list's total without a filter and the
	// partner's revision, the counting query's (countQuery) columns; its
	// arguments are the partner, twice, as the counting query's are.
	selectEndpointCount = `SELECT COALESCE((SELECT endpoints FROM partner_endpoint_counts WHERE partner_sid = ?), 0), ` + partnerRevision
)

// The kept attribute counts (attribute_value_counts, migration 00014): one
// row per partner, key and value held, so that a list filtered on one
// attribute has its exact total from the rows of the values it selects. They
// are kept as the endpoint counts are, and for the same reasons in the same
// place: an update adds its endpoint's new attributes and takes away its
// previous ones. A row that falls to 0 is deleted (a caller cycling through
// values leaves nothing behind); rows are locked in (partner, key, value)
// order.
const (
	addAttributeCountSQLite = `INSERT INTO attribute_value_counts (partner_sid, key, value, endpoints) VALUES (?, ?, ?, ?)
ON CONFLICT (partner_sid, key, value) DO UPDATE SET endpoints = endpoints + excluded.endpoints`
	dropAttributeCountSQLite   = `DELETE FROM attribute_value_counts WHERE partner_sid = ? AND key = ? AND value = ? AND endpoints = 0`
	addAttributeCountsPostgres = `INSERT INTO attribute_value_counts (partner_sid, key, value, endpoints)
SELECT partner_sid, key, value, n FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(partner_sid, key, value, n)
ORDER BY partner_sid, key, value
ON CONFLICT (partner_sid, key, value) DO UPDATE SET endpoints = attribute_value_counts.endpoints + EXCLUDED.endpoints`
	dropAttributeCountsPostgres = `DELETE FROM attribute_value_counts c USING unnest($1::text[], $2::text[], $3::text[]) AS t(partner_sid, key, value)
WHERE c.partner_sid = t.partner_sid AND c.key = t.key AND c.value = t.value AND c.endpoints = 0`
)

func (db *DB) countStatements() []string {
	if db.isPostgres() {
		return []string{addEndpointCountsPostgres, addAttributeCountsPostgres, dropAttributeCountsPostgres}
	}
	return []string{addEndpointCountSQLite, addAttributeCountSQLite, dropAttributeCountSQLite}
}

// keepCounts adds the changes to the kept counts: the partners' endpoints
// and their attribute values.
func (db *DB) keepCounts(ctx context.Context, tx *sql.Tx, changes []pendingChange) error {
	if err := db.countEndpoints(ctx, tx, changes); err != nil {
		return err
	}
	return db.countAttributes(ctx, tx, changes)
}

// countEndpoints adds the created and deleted endpoints of changes to their
// partners' counts, in partner order; an update changes no count.
func (db *DB) countEndpoints(ctx context.Context, tx *sql.Tx, changes []pendingChange) error {
	partners, ns := endpointCountDiffs(changes)
	if len(partners) == 0 {
		return nil
	}
	if db.isPostgres() {
		_, err := db.exec(ctx, tx, addEndpointCountsPostgres, partners, ns)
		return err
	}
	for i, p := range partners {
		if _, err := db.exec(ctx, tx, addEndpointCountSQLite, p, ns[i]); err != nil {
			return err
		}
	}
	return nil
}

// endpointCountDiffs are the partners whose counts changes alter, in
// partner order (the order PostgreSQL locks their rows in), with each
// partner's difference.
func endpointCountDiffs(changes []pendingChange) (partners []string, ns []int64) {
	diff := map[string]int64{}
	for _, c := range changes {
		switch c.operation {
		case sb.ChangeCreated:
			diff[c.endpoint.PartnerSID]++
		case sb.ChangeDeleted:
			diff[c.endpoint.PartnerSID]--
		}
	}
	for _, p := range slices.Sorted(maps.Keys(diff)) {
		if diff[p] != 0 {
			partners, ns = append(partners, p), append(ns, diff[p])
		}
	}
	return partners, ns
}

// countAttributes adds the changes' attribute values to their counts.
func (db *DB) countAttributes(ctx context.Context, tx *sql.Tx, changes []pendingChange) error {
	diffs := attributeCountDiffs(changes)
	if len(diffs.n) == 0 {
		return nil
	}
	if db.isPostgres() {
		for _, st := range diffs.postgres() {
			if _, err := db.exec(ctx, tx, st.query, st.args...); err != nil {
				return err
			}
		}
		return nil
	}
	for i, n := range diffs.n {
		if _, err := db.exec(ctx, tx, addAttributeCountSQLite, diffs.partners[i], diffs.keys[i], diffs.values[i], n); err != nil {
			return err
		}
		if n < 0 {
			if _, err := db.exec(ctx, tx, dropAttributeCountSQLite, diffs.partners[i], diffs.keys[i], diffs.values[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// attributeDiffs are differences of attribute counts, a column each, in
// (partner, key, value) order.
type attributeDiffs struct {
	partners, keys, values []string
	n                      []int64
}

// attributeCountDiffs are the attribute counts that changes alter: a
// created endpoint's values are added, a deleted one's taken away, and an
// update takes away its previous values and adds its new ones.
func attributeCountDiffs(changes []pendingChange) attributeDiffs {
	type value struct{ partner, key, value string }
	diff := map[value]int64{}
	add := func(e *sb.Endpoint, n int64) {
		if e == nil {
			return
		}
		for k, v := range e.Attributes {
			diff[value{e.PartnerSID, k, v}] += n
		}
	}
	for _, c := range changes {
		switch c.operation {
		case sb.ChangeCreated:
			add(c.endpoint, 1)
		case sb.ChangeDeleted:
			add(c.endpoint, -1)
		case sb.ChangeUpdated:
			add(c.previous, -1)
			add(c.endpoint, 1)
		}
	}
	keys := slices.SortedFunc(maps.Keys(diff), func(a, b value) int {
		return cmp.Or(cmp.Compare(a.partner, b.partner), cmp.Compare(a.key, b.key), cmp.Compare(a.value, b.value))
	})
	var d attributeDiffs
	for _, k := range keys {
		if n := diff[k]; n != 0 {
			d.partners, d.keys, d.values, d.n = append(d.partners, k.partner), append(d.keys, k.key), append(d.values, k.value), append(d.n, n)
		}
	}
	return d
}

// statement is a query with its arguments.
type statement struct {
	query string
	args  []any
}

// postgres are the statements that apply d on PostgreSQL: the additions,
// then, when a count fell, the deletion of the rows at 0.
func (d attributeDiffs) postgres() []statement {
	if len(d.n) == 0 {
		return nil
	}
	out := []statement{{addAttributeCountsPostgres, []any{d.partners, d.keys, d.values, d.n}}}
	if slices.ContainsFunc(d.n, func(n int64) bool { return n < 0 }) {
		out = append(out, statement{dropAttributeCountsPostgres, []any{d.partners, d.keys, d.values}})
	}
	return out
}
