package sqlstore

import (
	"context"
	"database/sql"
)

// What a cache of endpoints' answers (httpapi/answers.go) needs to stay
// exact while other processes write the same database: the partner's
// revision now (PartnerRevision, prepared with the hot reads) and which
// endpoints changed since a revision.

const selectChangedEndpoints = `SELECT revision, endpoint_sid FROM endpoint_changes WHERE partner_sid = ? AND revision > ? AND revision <= ? ORDER BY revision LIMIT ?`

// EndpointsChangedSince returns the SIDs of the partner's endpoints changed
// above revision since, up to the revision current it also returns, read
// on one snapshot. complete is false when it cannot name them all: more
// than limit changes, or some of them pruned.
func (db *DB) EndpointsChangedSince(ctx context.Context, partnerSID string, since int64, limit int) (sids []string, current int64, complete bool, err error) {
	err = db.readTx(ctx, func(tx *sql.Tx) error {
		sids, complete = nil, false
		if err := tx.QueryRowContext(ctx, db.q(selectPartnerRevision), partnerSID).Scan(&current); err != nil {
			return err
		}
		if current <= since {
			complete = true
			return nil
		}
		if current-since > int64(limit) {
			return nil
		}
		rows, err := tx.QueryContext(ctx, db.q(selectChangedEndpoints), partnerSID, since, current, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		next := since + 1
		complete = true
		for rows.Next() {
			var rev int64
			var sid string
			if err := rows.Scan(&rev, &sid); err != nil {
				return err
			}
			// Revisions are dense and only pruning removes changes, oldest
			// first: a missing one was pruned.
			if rev != next {
				complete = false
			}
			next = rev + 1
			sids = append(sids, sid)
		}
		if next != current+1 {
			complete = false
		}
		return rows.Err()
	})
	return sids, current, complete, err
}
