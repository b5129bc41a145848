package sqlstore

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the SQL databases.
type dialect interface {
	name() string
	gooseDialect() goose.Dialect
	filterFlavour() flavour
	rebind(query string) string
	// uniqueViolation reports whether err is a unique-constraint failure and
	// on which table.
	uniqueViolation(err error) (table string, ok bool)
	forUpdate() string
	// keyLock is an expression that takes a lock on a 64-bit key until the
	// transaction ends and is whether it got it (without waiting); ""
	// where the write transaction is exclusive.
	keyLock() string
	// gatewaysLock is a statement that makes the transaction the only one
	// writing system gateways until it ends; "" where the write
	// transaction is exclusive.
	gatewaysLock() string
	// idIn is a condition that e.id is one of the ids of its one
	// argument, which idsArg makes.
	idIn() string
	idsArg(ids []int64) any
	// rowPartner is the partner's column for a condition on rows found by
	// id: on SQLite a check only (+), so that each row is one look-up by
	// primary key rather than one in the (partner_sid, id) index first.
	rowPartner() string
	random() string
	// retryable reports whether err aborted a transaction that can simply
	// run again.
	retryable(err error) bool
	// connectionLost reports whether err means the connection broke (the
	// server went away), so that the statement may not have run.
	connectionLost(err error) bool
}

type sqliteDialect struct{}

func (sqliteDialect) name() string                { return "sqlite" }
func (sqliteDialect) gooseDialect() goose.Dialect { return goose.DialectSQLite3 }
func (sqliteDialect) filterFlavour() flavour      { return SQLite }
func (sqliteDialect) rebind(q string) string      { return q }
func (sqliteDialect) forUpdate() string           { return "" } // the write transaction is already exclusive
func (sqliteDialect) random() string              { return "random()" }
func (sqliteDialect) keyLock() string             { return "" } // one writer, even across processes (BEGIN IMMEDIATE)
func (sqliteDialect) gatewaysLock() string        { return "" }
func (sqliteDialect) idIn() string                { return "e.id IN (SELECT value FROM json_each(?))" }
func (sqliteDialect) rowPartner() string          { return "+e.partner_sid" }
func (sqliteDialect) idsArg(ids []int64) any {
	b := make([]byte, 0, 8*len(ids)+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

func (sqliteDialect) retryable(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

func (sqliteDialect) connectionLost(error) bool { return false } // an embedded database has no connection to lose

func (sqliteDialect) uniqueViolation(err error) (string, bool) {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return "", false
	}
	if c := e.Code(); c != sqlite3.SQLITE_CONSTRAINT_UNIQUE && c != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return "", false
	}
	// "UNIQUE constraint failed: ip_claims.ip, ip_claims.port"
	msg := e.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	table, _, _ := strings.Cut(msg, ".")
	return table, true
}

type postgresDialect struct{}

func (postgresDialect) name() string                { return "postgres" }
func (postgresDialect) gooseDialect() goose.Dialect { return goose.DialectPostgres }
func (postgresDialect) filterFlavour() flavour      { return Postgres }
func (postgresDialect) forUpdate() string           { return " FOR UPDATE" }
func (postgresDialect) random() string              { return "random()" }
func (postgresDialect) idIn() string                { return "e.id = ANY(?::bigint[])" }
func (postgresDialect) rowPartner() string          { return "e.partner_sid" }
func (postgresDialect) idsArg(ids []int64) any      { return ids }

// keyLock: a transaction-level advisory lock, released at commit or
// rollback and when the session ends (a crashed process holds none).
func (postgresDialect) keyLock() string { return "pg_try_advisory_xact_lock($1)" }

// gatewaysLock: a lock mode that conflicts with itself and with writes of
// system_gateways, not with reads.
func (postgresDialect) gatewaysLock() string {
	return "LOCK TABLE system_gateways IN SHARE ROW EXCLUSIVE MODE"
}

// retryable: serialization failure and deadlock (the database rolled the
// transaction back; running it again is safe).
func (postgresDialect) retryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01")
}

// lockTimedOut reports whether err is a lock timeout: on PostgreSQL, a
// group commit job that waited on a lock longer than its batch allows
// (rolled back to its savepoint alone).
func lockTimedOut(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "55P03"
}

func (postgresDialect) connectionLost(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-03: the server is shutting down
		// or restarting.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var netErr net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.As(err, &netErr)
}

func (postgresDialect) uniqueViolation(err error) (string, bool) {
	var e *pgconn.PgError
	if errors.As(err, &e) && e.Code == "23505" {
		return e.TableName, true
	}
	return "", false
}

// rebind turns ? placeholders into $1, $2, ... outside quoted text.
func (postgresDialect) rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
