package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	sb "switchboard"
)

// CreatePartner stores a partner and, when the operator configured system
// gateways, its system_gateway endpoint, in one transaction.
func (db *DB) CreatePartner(ctx context.Context, p sb.Partner, passwordHash string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO partners (partner_sid, name, login, password_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
			p.PartnerSID, p.Name, nullString(p.Login), nullString(passwordHash), p.Scopes.String(), now())
		if _, unique := db.dialect.uniqueViolation(err); unique {
			return sb.ErrPartnerExists
		}
		if err != nil {
			return err
		}
		gateways, err := db.systemGateways(ctx, tx)
		if err != nil || len(gateways) == 0 {
			return err
		}
		return db.insertEndpoint(ctx, tx, sb.NewSystemGateway(p.PartnerSID, gateways))
	})
}

func (db *DB) Partner(ctx context.Context, partnerSID string) (p sb.Partner, err error) {
	err = db.readRetrying(ctx, func() error {
		p, err = db.scanPartner(db.read.QueryRowContext(ctx, db.q(`SELECT partner_sid, name, login, scopes FROM partners WHERE partner_sid = ?`), partnerSID), nil)
		return err
	})
	return p, err
}

func (db *DB) PartnerByLogin(ctx context.Context, login string) (sb.Partner, string, error) {
	var hash sql.NullString
	var p sb.Partner
	err := db.readRetrying(ctx, func() (err error) {
		p, err = db.scanPartner(db.read.QueryRowContext(ctx, db.q(`SELECT partner_sid, name, login, scopes, password_hash FROM partners WHERE login = ?`), login), &hash)
		return err
	})
	if errors.Is(err, sb.ErrNoPartner) || (err == nil && !hash.Valid) {
		return sb.Partner{}, "", sb.ErrNoCredential
	}
	return p, hash.String, err
}

func (db *DB) scanPartner(row *sql.Row, hash *sql.NullString) (sb.Partner, error) {
	var p sb.Partner
	var login sql.NullString
	var scopes string
	dest := []any{&p.PartnerSID, &p.Name, &login, &scopes}
	if hash != nil {
		dest = append(dest, hash)
	}
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, sb.ErrNoPartner
		}
		return p, err
	}
	p.Login = login.String
	var err error
	p.Scopes, err = sb.ParseScopes(scopes)
	return p, err
}

func (db *DB) CreateToken(ctx context.Context, tokenHash, partnerSID string, scopes sb.Scopes) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO tokens (token_hash, partner_sid, scopes, created_at) VALUES (?, ?, ?, ?)`),
			tokenHash, partnerSID, scopes.String(), now())
		return err
	})
}

func (db *DB) TokenCaller(ctx context.Context, tokenHash string) (sb.Caller, error) {
	var c sb.Caller
	var scopes string
	err := db.readRetrying(ctx, func() error {
		return db.read.QueryRowContext(ctx, db.q(`SELECT t.partner_sid, p.name, t.scopes FROM tokens t JOIN partners p ON p.partner_sid = t.partner_sid
			WHERE t.token_hash = ? AND t.revoked_at IS NULL`), tokenHash).Scan(&c.PartnerSID, &c.PartnerName, &scopes)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return c, sb.ErrNoCredential
	}
	if err != nil {
		return c, err
	}
	c.Scopes, err = sb.ParseScopes(scopes)
	return c, err
}

// CountPartners tells whether the database is new (the sandbox partner is
// created on the first start).
func (db *DB) CountPartners(ctx context.Context) (int, error) {
	var n int
	err := db.readRetrying(ctx, func() error { return db.read.QueryRowContext(ctx, `SELECT count(*) FROM partners`).Scan(&n) })
	return n, err
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func now() time.Time { return time.Now().UTC() }
