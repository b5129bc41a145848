package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

// CreatePartner stores a partner and, when the operator configured system
// gateways, its system_gateway endpoint, in one transaction.
func (db *DB) CreatePartner(ctx context.Context, p sb.Partner, passwordHash string) error {
	return db.changeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
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
		g := sb.NewSystemGateway(p.PartnerSID, gateways)
		if err := db.insertEndpoint(ctx, tx, g); err != nil {
			return err
		}
		return db.recordChanges(ctx, tx, pendingChange{operation: sb.ChangeCreated, endpoint: g})
	})
}

const partnerColumns = `partner_sid, name, login, scopes, disabled_at`

func (db *DB) Partner(ctx context.Context, partnerSID string) (p sb.Partner, err error) {
	err = db.readRetrying(ctx, func() error {
		p, err = scanPartner(db.read.QueryRowContext(ctx, db.q(`SELECT `+partnerColumns+` FROM partners WHERE partner_sid = ?`), partnerSID))
		return err
	})
	return p, err
}

// PartnerByLogin never returns a disabled partner: its login is as good as
// unknown.
func (db *DB) PartnerByLogin(ctx context.Context, login string) (sb.Partner, string, error) {
	var hash sql.NullString
	var p sb.Partner
	err := db.readRetrying(ctx, func() (err error) {
		p, err = scanPartner(db.authRow(ctx, selectPartnerByLogin, login), &hash)
		return err
	})
	if errors.Is(err, sb.ErrNoPartner) || (err == nil && !hash.Valid) {
		return sb.Partner{}, "", sb.ErrNoCredential
	}
	return p, hash.String, err
}

// scanPartner reads partnerColumns and then extra.
func scanPartner(row interface{ Scan(...any) error }, extra ...any) (sb.Partner, error) {
	var p sb.Partner
	var login sql.NullString
	var scopes string
	var disabled timestamp
	if err := row.Scan(append([]any{&p.PartnerSID, &p.Name, &login, &scopes, &disabled}, extra...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, sb.ErrNoPartner
		}
		return p, err
	}
	p.Login, p.DisabledAt = login.String, disabled.t
	var err error
	p.Scopes, err = sb.ParseScopes(scopes)
	return p, err
}

// SetPartnerPassword replaces a partner's Basic password, and its login
// unless login is "". It returns ErrNoPartner, ErrPartnerExists when another
// partner has the login, and ErrNoCredential when the partner has no login
// and none is given. Running servers stop accepting the old password within
// a second (they recheck the stored hash of a cached credential every
// second).
func (db *DB) SetPartnerPassword(ctx context.Context, partnerSID, login, passwordHash string) (sb.Partner, error) {
	var p sb.Partner
	return p, db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if p, err = scanPartner(tx.QueryRowContext(ctx, db.q(`SELECT `+partnerColumns+` FROM partners WHERE partner_sid = ?`), partnerSID)); err != nil {
			return err
		}
		if login != "" {
			p.Login = login
		}
		if p.Login == "" {
			return sb.ErrNoCredential
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE partners SET login = ?, password_hash = ? WHERE partner_sid = ?`), p.Login, passwordHash, partnerSID)
		if _, unique := db.dialect.uniqueViolation(err); unique {
			return sb.ErrPartnerExists
		}
		return err
	})
}

// DisablePartner makes every credential of a partner (tokens and Basic
// login) stop working on every server within a second; its endpoints stay.
// Disabling a disabled partner keeps the first time. ErrNoPartner when no
// partner has that SID.
func (db *DB) DisablePartner(ctx context.Context, partnerSID string) (sb.Partner, error) {
	var p sb.Partner
	return p, db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE partners SET disabled_at = ? WHERE partner_sid = ? AND disabled_at IS NULL`), now(), partnerSID); err != nil {
			return err
		}
		var err error
		p, err = scanPartner(tx.QueryRowContext(ctx, db.q(`SELECT `+partnerColumns+` FROM partners WHERE partner_sid = ?`), partnerSID))
		return err
	})
}

func (db *DB) CreateToken(ctx context.Context, tokenHash, partnerSID string, scopes sb.Scopes) error {
	_, err := db.CreateTokenWithID(ctx, tokenHash, partnerSID, scopes)
	return err
}

// CreateTokenWithID stores a token and returns its public id.
func (db *DB) CreateTokenWithID(ctx context.Context, tokenHash, partnerSID string, scopes sb.Scopes) (string, error) {
	id := sb.NewSID()
	return id, db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO tokens (token_id, token_hash, partner_sid, scopes, created_at) VALUES (?, ?, ?, ?, ?)`),
			id, tokenHash, partnerSID, scopes.String(), now())
		return err
	})
}

// TokenInfo describes a token without its value.
type TokenInfo struct {
	TokenID    string     `json:"token_id"`
	PartnerSID string     `json:"partner_sid"`
	Scopes     sb.Scopes  `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// ListTokens lists the tokens of one partner, or of all when partnerSID is "".
func (db *DB) ListTokens(ctx context.Context, partnerSID string) ([]TokenInfo, error) {
	out := []TokenInfo{}
	err := db.readRetrying(ctx, func() error {
		out = out[:0]
		rows, err := db.read.QueryContext(ctx, db.q(`SELECT token_id, partner_sid, scopes, created_at, revoked_at FROM tokens
			WHERE ? = '' OR partner_sid = ? ORDER BY created_at, token_id`), partnerSID, partnerSID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t TokenInfo
			var scopes string
			var created, revoked timestamp
			if err := rows.Scan(&t.TokenID, &t.PartnerSID, &scopes, &created, &revoked); err != nil {
				return err
			}
			if t.Scopes, err = sb.ParseScopes(scopes); err != nil {
				return err
			}
			t.CreatedAt = created.t
			if !revoked.t.IsZero() {
				t.RevokedAt = &revoked.t
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

// RevokeToken makes a token stop working (within the servers' one-second
// token cache); ErrNoCredential when no unrevoked token has that id.
func (db *DB) RevokeToken(ctx context.Context, tokenID string) error {
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL`), now(), tokenID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sb.ErrNoCredential
		}
		return nil
	})
}

// ListPartners lists every partner, oldest first.
func (db *DB) ListPartners(ctx context.Context) ([]sb.Partner, error) {
	out := []sb.Partner{}
	err := db.readRetrying(ctx, func() error {
		out = out[:0]
		rows, err := db.read.QueryContext(ctx, `SELECT `+partnerColumns+` FROM partners ORDER BY created_at, partner_sid`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanPartner(rows)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

func (db *DB) TokenCaller(ctx context.Context, tokenHash string) (sb.Caller, error) {
	var c sb.Caller
	var scopes string
	err := db.readRetrying(ctx, func() error {
		return db.authRow(ctx, selectTokenCaller, tokenHash).Scan(&c.PartnerSID, &c.PartnerName, &scopes)
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

// timestamp scans a time that PostgreSQL returns as time.Time and SQLite
// (TEXT column) as the text the driver wrote.
type timestamp struct{ t time.Time }

func (ts *timestamp) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		ts.t = time.Time{}
	case time.Time:
		ts.t = x
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999 -0700 MST"} {
			if t, err := time.Parse(layout, x); err == nil {
				ts.t = t
				return nil
			}
		}
		return fmt.Errorf("unreadable time %q", x)
	default:
		return fmt.Errorf("unreadable time of type %T", v)
	}
	return nil
}
