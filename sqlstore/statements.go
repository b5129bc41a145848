package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// The queries of the hot paths are prepared once, when the database opens:
// under a load of GET by SID, SQLite's parser and planner took a fifth of
// the server's CPU when every query was prepared anew (BENCHMARKS.md).
// database/sql keeps a prepared statement per connection and prepares it on
// a connection's first use; a transaction reuses its connection's
// (Tx.StmtContext). They are prepared at open rather than on first use
// because preparing through a pool from inside a transaction would wait for
// a second connection, and SQLite's writer has only one. The statements on
// the endpoints table itself are written from its column list (columns.go).
const (
	selectTokenCaller    = `SELECT t.partner_sid, p.name, t.scopes FROM tokens t JOIN partners p ON p.partner_sid = t.partner_sid WHERE t.token_hash = ? AND t.revoked_at IS NULL AND p.disabled_at IS NULL`
	selectPartnerByLogin = `SELECT ` + partnerColumns + `, password_hash FROM partners WHERE login = ? AND disabled_at IS NULL`
	insertAddressRow     = `INSERT INTO endpoint_addresses (endpoint_id, partner_sid, position, direction, dst_port, ip, location_sid, port, priority, sip_username, srtp, transport) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertAttributeRow   = `INSERT INTO endpoint_attributes (endpoint_id, partner_sid, key, value) VALUES (?, ?, ?, ?)`
	insertClaimRow       = `INSERT INTO ip_claims (ip, port, endpoint_id) VALUES (?, ?, ?)`
	deleteAddressRows    = `DELETE FROM endpoint_addresses WHERE endpoint_id = ?`
	deleteAttributeRows  = `DELETE FROM endpoint_attributes WHERE endpoint_id = ?`
	deleteClaimRows      = `DELETE FROM ip_claims WHERE endpoint_id = ?`
	deleteEndpointRow    = `DELETE FROM endpoints WHERE id = ?`
	beginSavepoint       = `SAVEPOINT write`
	rollbackSavepoint    = `ROLLBACK TO write`
	releaseSavepoint     = `RELEASE write`
)

// statements maps a query's text, as the code writes it, to its prepared
// statement on one pool.
type statements map[string]*sql.Stmt

func prepareAll(ctx context.Context, pool *sql.DB, rebind func(string) string, queries ...string) (statements, error) {
	out := statements{}
	for _, q := range queries {
		st, err := pool.PrepareContext(ctx, rebind(q))
		if err != nil {
			out.close()
			return nil, err
		}
		out[q] = st
	}
	return out, nil
}

func (s statements) close() {
	for _, st := range s {
		st.Close()
	}
}

// prepare readies the hot queries on both pools. On PostgreSQL it leaves
// them to pgx, whose connections prepare each query text on first use and
// keep it in a bounded cache of their own (QueryExecModeCacheStatement, 512
// statements, least recently used first out); a second cache here would
// only keep each statement twice.
func (db *DB) prepare(ctx context.Context) error {
	if _, ok := db.dialect.(postgresDialect); ok {
		return nil
	}
	var err error
	db.lists = &statementCache{pool: db.read, rebind: db.q}
	db.reads, err = prepareAll(ctx, db.read, db.q, selectEndpoint, selectEndpointAt, selectIdempotencyKey, selectPartnerRevision)
	if err != nil {
		return err
	}
	db.authReads, err = prepareAll(ctx, db.auth, db.q, selectTokenCaller, selectPartnerByLogin)
	if err != nil {
		return err
	}
	writes := []string{insertEndpointRow, insertAddressRow, insertAttributeRow, insertClaimRow, updateEndpointRow,
		deleteAddressRows, deleteAttributeRows, deleteClaimRows, deleteEndpointRow, db.lockedQuery()}
	writes = append(writes, db.idempotencyStatements()...)
	writes = append(writes, db.changeStatements()...)
	writes = append(writes, db.countStatements()...)
	if db.committer != nil {
		writes = append(writes, beginSavepoint, rollbackSavepoint, releaseSavepoint)
	}
	db.writes, err = prepareAll(ctx, db.write, db.q, writes...)
	return err
}

func (db *DB) lockedQuery() string { return selectEndpoint + db.dialect.forUpdate() }

// exec runs a write in tx, prepared when the query is one of the hot ones.
func (db *DB) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := db.writes[query]; st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.q(query), args...)
}

// queryRow runs a one-row query in tx, prepared when it is a hot one.
func (db *DB) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	return db.txRow(ctx, tx, db.writes[query], query, args...)
}

// txRow runs a one-row query in tx, through st when it is prepared (not nil).
func (db *DB) txRow(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query string, args ...any) *sql.Row {
	if st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, db.q(query), args...)
}

// txQuery runs query in tx, through st when it is prepared (not nil).
func (db *DB) txQuery(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query string, args ...any) (*sql.Rows, error) {
	if st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, db.q(query), args...)
}

// readRow runs a one-row query on the read pool, prepared when it is a hot
// one, within the statement timeout.
func (db *DB) readRow(ctx context.Context, query string, args ...any) rowScanner {
	return db.boundedRow(ctx, db.read, db.reads, query, args)
}

// authRow is readRow for the authentication look-ups, on their own pool.
func (db *DB) authRow(ctx context.Context, query string, args ...any) rowScanner {
	return db.boundedRow(ctx, db.auth, db.authReads, query, args)
}

func (db *DB) boundedRow(ctx context.Context, pool *sql.DB, prepared statements, query string, args []any) rowScanner {
	bounded, cancel := context.WithTimeout(ctx, db.statementTimeout)
	var row *sql.Row
	if st := prepared[query]; st != nil {
		row = st.QueryRowContext(bounded, args...)
	} else {
		row = pool.QueryRowContext(bounded, db.q(query), args...)
	}
	return &deadlineRow{row: row, parent: ctx, bounded: bounded, cancel: cancel}
}

// maxListStatements bounds the list statements kept prepared. A list
// query's text depends on the filter's shape and the order, not on the
// values, so a handful of shapes serve most traffic; past the bound a new
// shape runs unprepared rather than evicting (clients choosing shapes
// cannot churn the cache).
const maxListStatements = 256

// statementCache prepares queries of SQLite's read pool on first use (nil
// on PostgreSQL, where pgx does; get then answers nil). Callers
// must hold no connection of the pool while they call get: preparing may
// need one.
type statementCache struct {
	pool   *sql.DB
	rebind func(string) string
	mu     sync.Mutex
	m      map[string]*sql.Stmt
}

// get returns query's prepared statement, or nil when it is not cached and
// cannot be (the cache is full, or preparing failed: the query then runs
// unprepared and reports its own error).
func (c *statementCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil { // PostgreSQL: pgx caches
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m) >= maxListStatements {
		return nil
	}
	st, err := c.pool.PrepareContext(ctx, c.rebind(query))
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

func (c *statementCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	statements(c.m).close()
	c.m = nil
}
