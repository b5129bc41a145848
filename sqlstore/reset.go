package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	sb "github.com/switchboard-sip/switchboard"
)

// What the fixtures loader (fixtures/) needs beyond the Store: who owns a
// SID or a token it is about to create, and a reset of one partner's
// endpoints in one transaction.

// EndpointOwner returns the partner_sid of the endpoint with that SID,
// whichever partner it belongs to, or sb.NotFound.
func (db *DB) EndpointOwner(ctx context.Context, endpointSID string) (string, error) {
	var partner string
	err := db.readRetrying(ctx, func() error {
		return db.read.QueryRowContext(ctx, db.q(`SELECT partner_sid FROM endpoints WHERE endpoint_sid = ?`), endpointSID).Scan(&partner)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", sb.NotFound(endpointSID)
	}
	return partner, err
}

// TokenOwner returns the partner a token hash belongs to and whether the
// token was revoked, or sb.ErrNoCredential when no token has that hash.
func (db *DB) TokenOwner(ctx context.Context, tokenHash string) (partnerSID string, revoked bool, err error) {
	var revokedAt sql.NullString
	err = db.readRetrying(ctx, func() error {
		return db.read.QueryRowContext(ctx, db.q(`SELECT partner_sid, CAST(revoked_at AS TEXT) FROM tokens WHERE token_hash = ?`), tokenHash).Scan(&partnerSID, &revokedAt)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, sb.ErrNoCredential
	}
	return partnerSID, revokedAt.Valid, err
}

// ResetEndpoints deletes every endpoint of the partner but its system
// gateway and stores endpoints in their place, in one transaction: a
// failure (a duplicate IP against another partner, sb.ErrLoginTaken) leaves
// everything as it was. It returns how many endpoints it deleted.
func (db *DB) ResetEndpoints(ctx context.Context, partnerSID string, endpoints []*sb.Endpoint) (deleted int, err error) {
	err = db.changeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		deleted = 0 // the transaction may run again
		rows, err := tx.QueryContext(ctx, db.q(`SELECT `+endpointColumns+` FROM endpoints e WHERE partner_sid = ? AND type <> ? ORDER BY id`+db.dialect.forUpdate()),
			partnerSID, string(sb.TypeSystemGateway))
		if err != nil {
			return err
		}
		var gone []*sb.Endpoint
		for rows.Next() {
			e, err := scanEndpoint(rows)
			if err != nil {
				rows.Close()
				return err
			}
			gone = append(gone, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		changes := make([]pendingChange, 0, len(gone)+len(endpoints))
		for _, e := range gone {
			if err := db.deleteSearchRows(ctx, tx, e.ID); err != nil {
				return err
			}
			if _, err := db.exec(ctx, tx, deleteEndpointRow, e.ID); err != nil {
				return err
			}
			changes = append(changes, pendingChange{operation: sb.ChangeDeleted, endpoint: e})
		}
		deleted = len(gone)
		for _, e := range endpoints {
			if err := db.insertEndpoint(ctx, tx, e); err != nil {
				return err
			}
			changes = append(changes, pendingChange{operation: sb.ChangeCreated, endpoint: e})
		}
		return db.recordChanges(ctx, tx, changes...)
	})
	return deleted, err
}
