package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	sb "github.com/switchboard-sip/switchboard"
)

func (db *DB) CreateEndpoint(ctx context.Context, e *sb.Endpoint) error {
	// The change's record is encoded here, before the write's turn: the
	// writer (SQLite's one, a PostgreSQL batch's) runs its requests one
	// after another.
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return db.changeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return db.createIn(ctx, tx, e, doc)
	})
}

// createIn stores e and its change record (doc, e encoded) in tx.
func (db *DB) createIn(ctx context.Context, tx *sql.Tx, e *sb.Endpoint, doc []byte) error {
	if err := db.insertEndpoint(ctx, tx, e); err != nil {
		return err
	}
	return db.recordChanges(ctx, tx, pendingChange{operation: sb.ChangeCreated, endpoint: e, doc: doc})
}

func (db *DB) insertEndpoint(ctx context.Context, tx *sql.Tx, e *sb.Endpoint) error {
	values, err := endpointValues(e, insertedColumn)
	if err != nil {
		return err
	}
	err = db.queryRow(ctx, tx, insertEndpointRow, values...).Scan(&e.ID)
	if table, unique := db.dialect.uniqueViolation(err); unique && table == "endpoints" {
		return sb.ErrLoginTaken
	}
	if err != nil {
		return err
	}
	return db.writeSearchRows(ctx, tx, e)
}

// writeSearchRows writes the rows that repeat an endpoint's nested data for
// filters, and its claims under the duplicate-IP rule. The search rows carry
// the endpoint's partner_sid, which every filter subquery is scoped by.
func (db *DB) writeSearchRows(ctx context.Context, tx *sql.Tx, e *sb.Endpoint) error {
	if err := db.writeAddresses(ctx, tx, e); err != nil {
		return err
	}
	if err := db.writeAttributes(ctx, tx, e); err != nil {
		return err
	}
	return db.writeClaims(ctx, tx, e)
}

func (db *DB) writeAddresses(ctx context.Context, tx *sql.Tx, e *sb.Endpoint) error {
	for i, a := range e.Addresses {
		if _, err := db.exec(ctx, tx, insertAddressRow,
			e.ID, e.PartnerSID, i, a.Direction, a.DstPort, a.IP, toNull(a.LocationSID), a.Port, a.Priority, toNull(a.SIPUsername), a.SRTP, a.Transport); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) writeAttributes(ctx context.Context, tx *sql.Tx, e *sb.Endpoint) error {
	for k, v := range e.Attributes {
		if _, err := db.exec(ctx, tx, insertAttributeRow, e.ID, e.PartnerSID, k, v); err != nil {
			return err
		}
	}
	return nil
}

// writeClaims writes the endpoint's claims; the unique key of ip_claims
// makes the database refuse a second claim on one (ip, port).
func (db *DB) writeClaims(ctx context.Context, tx *sql.Tx, e *sb.Endpoint) error {
	rules, _ := e.Type.Rules()
	for _, c := range e.SIPClaims() {
		if rules.SharedClaims {
			// The gateways share their claims; a partner endpoint already
			// holding the address keeps it (logged at start, not fatal).
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO ip_claims (ip, port, endpoint_id) VALUES (?, ?, NULL) ON CONFLICT (ip, port) DO NOTHING`), c.IP, c.Port); err != nil {
				return err
			}
			continue
		}
		_, err := db.exec(ctx, tx, insertClaimRow, c.IP, c.Port, e.ID)
		if table, unique := db.dialect.uniqueViolation(err); unique && table == "ip_claims" {
			return sb.ErrDuplicateIP
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) deleteSearchRows(ctx context.Context, tx *sql.Tx, id int64) error {
	for _, query := range []string{deleteAddressRows, deleteAttributeRows, deleteClaimRows} {
		if _, err := db.exec(ctx, tx, query, id); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) Endpoint(ctx context.Context, partnerSID, endpointSID string) (*sb.Endpoint, error) {
	var e *sb.Endpoint
	err := db.readRetrying(ctx, func() (err error) {
		e, err = scanEndpoint(db.readRow(ctx, selectEndpoint, partnerSID, endpointSID))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sb.NotFound(endpointSID)
	}
	return e, err
}

func (db *DB) lockedEndpoint(ctx context.Context, tx *sql.Tx, partnerSID, endpointSID string) (*sb.Endpoint, error) {
	e, err := scanEndpoint(db.queryRow(ctx, tx, db.lockedQuery(), partnerSID, endpointSID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sb.NotFound(endpointSID)
	}
	return e, err
}

func (db *DB) UpdateEndpoint(ctx context.Context, partnerSID, endpointSID string, change func(cur *sb.Endpoint) (*sb.Endpoint, error)) (*sb.Endpoint, error) {
	var next *sb.Endpoint
	err := db.changeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		cur, err := db.lockedEndpoint(ctx, tx, partnerSID, endpointSID)
		if err != nil {
			return err
		}
		if next, err = change(cur); err != nil {
			return err
		}
		next.ID = cur.ID
		// An update that stores exactly what was there writes nothing and
		// records no change.
		doc, same, err := sameEndpoint(cur, next)
		if err != nil || same {
			return err
		}
		if err := db.rewrite(ctx, tx, cur, next); err != nil {
			return err
		}
		return db.recordChanges(ctx, tx, pendingChange{operation: sb.ChangeUpdated, endpoint: next, doc: doc, previous: cur})
	})
	if err != nil {
		return nil, err
	}
	return next, nil
}

func (db *DB) DeleteEndpoint(ctx context.Context, partnerSID, endpointSID string) error {
	return db.DeleteEndpointIf(ctx, partnerSID, endpointSID, nil)
}

func (db *DB) DeleteEndpointIf(ctx context.Context, partnerSID, endpointSID string, precondition func(cur *sb.Endpoint) error) error {
	return db.changeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		cur, err := db.lockedEndpoint(ctx, tx, partnerSID, endpointSID)
		if err != nil {
			return err
		}
		if precondition != nil {
			if err := precondition(cur); err != nil {
				return err
			}
		}
		if err := cur.CheckDelete(); err != nil {
			return err
		}
		if err := db.deleteSearchRows(ctx, tx, cur.ID); err != nil {
			return err
		}
		if _, err = db.exec(ctx, tx, deleteEndpointRow, cur.ID); err != nil {
			return err
		}
		return db.recordChanges(ctx, tx, pendingChange{operation: sb.ChangeDeleted, endpoint: cur})
	})
}

// sameEndpoint reports whether two states of an endpoint are the same in
// everything the API shows; bJSON is b as the change feed records it.
func sameEndpoint(a, b *sb.Endpoint) (bJSON []byte, same bool, err error) {
	x, err := json.Marshal(a)
	if err != nil {
		return nil, false, err
	}
	y, err := json.Marshal(b)
	return y, bytes.Equal(x, y), err
}

// rewrite stores next over cur: the row, and of the side-table rows only
// those whose data changed (a PATCH of the name writes one row).
func (db *DB) rewrite(ctx context.Context, tx *sql.Tx, cur, next *sb.Endpoint) error {
	values, err := endpointValues(next, updatedColumn)
	if err != nil {
		return err
	}
	if _, err := db.exec(ctx, tx, updateEndpointRow, append(values, cur.ID)...); err != nil {
		return err
	}
	type sideRows struct {
		changed bool
		clear   string
		write   func(context.Context, *sql.Tx, *sb.Endpoint) error
	}
	for _, side := range []sideRows{
		{!slices.EqualFunc(cur.Addresses, next.Addresses, sb.Address.Equal), deleteAddressRows, db.writeAddresses},
		{!maps.Equal(cur.Attributes, next.Attributes), deleteAttributeRows, db.writeAttributes},
		// Claims follow addresses and auth_required; they are released
		// before they are taken again, so keeping one is no conflict.
		{!slices.Equal(cur.SIPClaims(), next.SIPClaims()), deleteClaimRows, db.writeClaims},
	} {
		if !side.changed {
			continue
		}
		if _, err := db.exec(ctx, tx, side.clear, cur.ID); err != nil {
			return err
		}
		if err := side.write(ctx, tx, next); err != nil {
			return err
		}
	}
	return nil
}

// systemGateways reads the configured gateway addresses, for a write that
// makes endpoints of them: it first takes the gateways' lock, so that two
// such writes (one by another process, say) never both find a partner
// without its gateway, or one miss the other's new addresses.
func (db *DB) systemGateways(ctx context.Context, tx *sql.Tx) ([]sb.IPPort, error) {
	if err := db.lockGateways(ctx, tx); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT ip, port FROM system_gateways ORDER BY ip, port`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sb.IPPort
	for rows.Next() {
		var a sb.IPPort
		if err := rows.Scan(&a.IP, &a.Port); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (db *DB) lockGateways(ctx context.Context, tx *sql.Tx) error {
	if lock := db.dialect.gatewaysLock(); lock != "" {
		_, err := tx.ExecContext(ctx, lock)
		return err
	}
	return nil
}

// SetSystemGateways records the gateway addresses and makes every partner's
// system_gateway endpoint hold exactly them: existing ones keep their SID,
// missing ones are created.
func (db *DB) SetSystemGateways(ctx context.Context, addrs []sb.IPPort) error {
	return db.changeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.lockGateways(ctx, tx); err != nil {
			return err
		}
		for _, stmt := range []string{`DELETE FROM system_gateways`, `DELETE FROM ip_claims WHERE endpoint_id IS NULL`} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		for _, a := range addrs {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO system_gateways (ip, port) VALUES (?, ?) ON CONFLICT DO NOTHING`), a.IP, a.Port); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, db.q(`SELECT p.partner_sid, e.id, e.endpoint_sid, e.addresses FROM partners p
			LEFT JOIN endpoints e ON e.partner_sid = p.partner_sid AND e.type = ? ORDER BY p.partner_sid`), string(sb.TypeSystemGateway))
		if err != nil {
			return err
		}
		var gateways []*sb.Endpoint
		var changes []pendingChange
		for rows.Next() {
			var partner string
			var id sql.NullInt64
			var sid, addresses sql.NullString
			if err := rows.Scan(&partner, &id, &sid, &addresses); err != nil {
				rows.Close()
				return err
			}
			g := sb.NewSystemGateway(partner, addrs)
			g.ID, g.EndpointSID = id.Int64, sid.String
			if !sid.Valid {
				g.EndpointSID = sb.NewSID()
				changes = append(changes, pendingChange{operation: sb.ChangeCreated, endpoint: g})
			} else if doc, err := document(g.Addresses); err != nil {
				rows.Close()
				return err
			} else if doc != addresses.String {
				// Only a gateway's addresses change: its attributes,
				// NewSystemGateway's, are its previous ones.
				changes = append(changes, pendingChange{operation: sb.ChangeUpdated, endpoint: g, previous: g})
			}
			gateways = append(gateways, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, g := range gateways {
			if g.ID == 0 {
				if err := db.insertEndpoint(ctx, tx, g); err != nil {
					return err
				}
				continue
			}
			addresses, err := document(g.Addresses)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE endpoints SET addresses = ? WHERE id = ?`), addresses, g.ID); err != nil {
				return err
			}
			if err := db.deleteSearchRows(ctx, tx, g.ID); err != nil {
				return err
			}
			if err := db.writeSearchRows(ctx, tx, g); err != nil {
				return err
			}
		}
		return db.recordChanges(ctx, tx, changes...)
	})
}

// CountEndpointsByType counts the endpoints of every partner by type (for
// metrics).
func (db *DB) CountEndpointsByType(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	err := db.readRetrying(ctx, func() error {
		rows, err := db.read.QueryContext(ctx, `SELECT type, count(*) FROM endpoints GROUP BY type`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t string
			var n int64
			if err := rows.Scan(&t, &n); err != nil {
				return err
			}
			out[t] = n
		}
		return rows.Err()
	})
	return out, err
}
