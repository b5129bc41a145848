package sqlstore

import (
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

func (db *DB) countStatements() []string {
	if db.isPostgres() {
		return []string{addEndpointCountsPostgres}
	}
	return []string{addEndpointCountSQLite}
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
