// Package sqlstore implements switchboard.Store on SQL databases: embedded
// SQLite (modernc.org/sqlite, no cgo) and PostgreSQL (jackc/pgx/v5). Both
// run the same queries through database/sql; dialect.go holds what differs.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	sb "github.com/switchboard-sip/switchboard"
)

//go:embed migrations
var migrations embed.FS

var _ sb.Store = (*DB)(nil)

// DB is a Switchboard database.
type DB struct {
	dialect dialect
	// write runs every transaction that changes data. On SQLite it holds a
	// single connection (SQLite has one writer at a time; queueing in Go is
	// cheaper than spinning on SQLITE_BUSY); on PostgreSQL it is the same
	// pool as read.
	write *sql.DB
	read  *sql.DB
	// auth runs the authentication look-ups (TokenCaller, PartnerByLogin)
	// on AuthConns connections of their own, so that they never wait
	// behind list queries holding every connection of read. In memory it
	// is the one connection of read and write.
	auth *sql.DB
	// statementTimeout is the deadline of every read (deadline.go).
	statementTimeout time.Duration
	// committer batches SQLite's write transactions (group commit); nil
	// on PostgreSQL, where every transaction commits on its own connection.
	committer *committer
	// reads and writes are the hot queries prepared on each pool
	// (statements.go).
	reads, writes, authReads statements
	lists                    *statementCache
	// memoryKeeper holds an in-memory database open (memory.go); nil for
	// a file or a server.
	memoryKeeper *sql.DB
	// file is the SQLite file; nil on PostgreSQL and in memory. fileDSN
	// is how its connections open it.
	file    *sqliteFile
	fileDSN string
	// revisions answers PartnerRevision while nothing commits (SQLite
	// file only; walindex.go).
	revisions *revisionMemo
	// signal wakes the change feed's followers (notify.go).
	signal changeSignal
	// dsn is PostgreSQL's address, for the feed's LISTEN connection.
	dsn string
}

// Options tune Open.
type Options struct {
	// MaxConns bounds the PostgreSQL pool and the SQLite read pool (0: 16).
	MaxConns int
	// NoGroupCommit gives every SQLite write transaction its own commit
	// (for comparison; group commit is the default).
	NoGroupCommit bool
	// MustExist refuses a database that does not exist yet (a missing
	// SQLite file, or no Switchboard schema) with ErrNoDatabase instead of
	// creating it; an existing schema is still brought up to date.
	MustExist bool
	// StatementTimeout is the deadline of every read statement: a get, an
	// authentication look-up, and a list until its answer begins (0:
	// DefaultStatementTimeout). Past it the read is interrupted, its
	// connection freed, and sb.ErrStatementTimeout returned.
	StatementTimeout time.Duration
}

// DefaultStatementTimeout is the deadline of a read when Options names none.
const DefaultStatementTimeout = 5 * time.Second

// AuthConns is the size of the authentication look-ups' own pool.
const AuthConns = 4

// Open connects to the database a DSN names (operations.md: sqlite:PATH,
// postgres://..., postgresql://...; or memory, also spelled sqlite::memory:,
// for a new in-memory database that lives until Close) and brings its schema
// up to date.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	if opt.MaxConns <= 0 {
		opt.MaxConns = 16
	}
	if opt.StatementTimeout <= 0 {
		opt.StatementTimeout = DefaultStatementTimeout
	}
	db, err := open(dsn, opt)
	if err != nil {
		return nil, err
	}
	db.statementTimeout = opt.StatementTimeout
	if err := db.start(ctx, opt); err != nil {
		db.Close()
		if db.file != nil {
			db.file.removeCreated()
			return nil, fmt.Errorf("sqlite database %s: %w", db.file.path, err)
		}
		if errors.Is(err, ErrNoDatabase) {
			return nil, fmt.Errorf("database %s: %w", redactDSN(dsn), err)
		}
		return nil, err
	}
	return db, nil
}

// start checks and migrates the schema and prepares the hot statements.
func (db *DB) start(ctx context.Context, opt Options) error {
	if opt.MustExist {
		has, err := db.hasSchema(ctx)
		if err != nil {
			return err
		}
		if !has {
			return fmt.Errorf("%w: it has no Switchboard schema", ErrNoDatabase)
		}
	}
	if err := db.migrate(ctx); err != nil {
		return err
	}
	if db.file != nil {
		if err := db.file.opened(); err != nil {
			return err
		}
	}
	if err := db.prepare(ctx); err != nil {
		return fmt.Errorf("preparing statements: %w", err)
	}
	if db.file != nil {
		// Without it every PartnerRevision runs its statement: slower,
		// as exact.
		db.revisions, _ = startRevisionMemo(ctx, db.fileDSN, db.file.path)
	}
	if db.committer != nil {
		db.committer.stmts = db.writes
		db.committer.record = func(tx *sql.Tx, changes []pendingChange) error {
			return db.writeChanges(context.Background(), tx, changes)
		}
		if db.isPostgres() {
			// Batches on several connections can deadlock on the rows
			// their jobs lock (two PATCHes of the same two endpoints);
			// PostgreSQL would find out only after deadlock_timeout (1 s).
			// A job waiting longer than this on a lock gives up instead
			// (rolled back to its savepoint, it runs again in a later
			// batch). The records wait for their turn without a limit.
			db.committer.jobLocks = `SET LOCAL lock_timeout = '50ms'`
			db.committer.joined = true
			db.committer.recordAndCommit = db.recordAndCommitPostgres
		}
	}
	if db.isPostgres() {
		db.startNotifier()
	}
	return nil
}

// hasSchema reports whether migrations ever ran on the database.
func (db *DB) hasSchema(ctx context.Context) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`
	if _, ok := db.dialect.(postgresDialect); ok {
		q = `SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version' AND schemaname = current_schema()`
	}
	var n int
	err := db.read.QueryRowContext(ctx, q).Scan(&n)
	return n > 0, err
}

func open(dsn string, opt Options) (*DB, error) {
	switch {
	case isMemoryDSN(dsn):
		return openMemory(opt)
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		path = strings.TrimPrefix(path, "//") // sqlite:///abs/path
		if path == "" {
			return nil, errors.New("sqlite DSN without a file path (want sqlite:PATH)")
		}
		file, err := prepareSQLiteFile(path, opt.MustExist)
		if err != nil {
			return nil, err
		}
		// Full durability: WAL with a sync at every commit, so a write that
		// was answered survives a crash or power loss.
		pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)" +
			// After a checkpoint, the WAL file shrinks back to this size
			// rather than keeping its largest size on disk for good.
			"&_pragma=journal_size_limit(67108864)" +
			// No connection creates the file (prepareSQLiteFile did, or
			// refused): one opened after the file was removed fails
			// instead of starting an empty database.
			"&mode=rw"
		base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
		// The writer keeps its savepoints' sub-journal in memory: each
		// request of a group commit batch is a savepoint, and as a file
		// the sub-journal cost a write system call for every page a
		// request first touched (under a create load a twelfth of the
		// writer's time). Only the writer: a reader's large sort may still
		// spill to a temporary file rather than grow the process.
		write, err := sql.Open("sqlite", base+"&_txlock=immediate&_pragma=temp_store(MEMORY)")
		if err != nil {
			return nil, err
		}
		write.SetMaxOpenConns(1)
		write.SetConnMaxIdleTime(0)
		read, err := sql.Open("sqlite", base)
		if err != nil {
			write.Close()
			return nil, err
		}
		read.SetMaxOpenConns(opt.MaxConns)
		read.SetMaxIdleConns(opt.MaxConns)
		auth, err := sql.Open("sqlite", base)
		if err != nil {
			write.Close()
			read.Close()
			return nil, err
		}
		auth.SetMaxOpenConns(AuthConns)
		auth.SetMaxIdleConns(AuthConns)
		db := &DB{dialect: sqliteDialect{}, write: write, read: read, auth: auth, file: file, fileDSN: base}
		if !opt.NoGroupCommit {
			db.committer = newCommitter(write, 1) // one writer
		}
		return db, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		pool, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		pool.SetMaxOpenConns(opt.MaxConns)
		pool.SetMaxIdleConns(opt.MaxConns)
		pool.SetConnMaxIdleTime(5 * time.Minute)
		auth, err := sql.Open("pgx", dsn)
		if err != nil {
			pool.Close()
			return nil, err
		}
		auth.SetMaxOpenConns(AuthConns)
		auth.SetMaxIdleConns(AuthConns)
		auth.SetConnMaxIdleTime(5 * time.Minute)
		db := &DB{dialect: postgresDialect{}, write: pool, read: pool, auth: auth, dsn: dsn}
		if !opt.NoGroupCommit {
			// The change feed serialises a process's write transactions
			// through their commits (docs/change-feed.md): group commit
			// shares one commit, and its disk flush, among those waiting.
			db.committer = newCommitter(pool, pgCommitters)
		}
		return db, nil
	}
	return nil, fmt.Errorf("unsupported database address %q (want sqlite:PATH, memory or postgres://...)", redactDSN(dsn))
}

// IsUnavailable reports whether Open failed because the database server
// could not be reached or is not accepting connections yet (worth
// retrying), rather than for a lasting reason: a refused login or a
// database that does not exist come back the same however often one tries.
func IsUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 53: insufficient resources (too many
		// connections); 57P01-03: shutting down, crashed, starting up.
		// Everything else (28: authentication, 3D000: no such database,
		// 42501: no privilege, ...) is the server's lasting answer.
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || c == "57P01" || c == "57P02" || c == "57P03"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr)
}

// redactDSN hides a password in a DSN for messages.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

// Migrate brings the schema of the database dsn names up to date.
func Migrate(ctx context.Context, dsn string) error {
	db, err := Open(ctx, dsn, Options{MaxConns: 2})
	if err != nil {
		return err
	}
	return db.Close()
}

func (db *DB) migrate(ctx context.Context) error {
	dir, err := fs.Sub(migrations, "migrations/"+db.dialect.name())
	if err != nil {
		return err
	}
	// Migrations are numbered by the branch that wrote them and may be merged
	// in any order: a database that has 00008 still gets a 00006 that lands
	// later, so missing lower-numbered migrations are applied, not refused.
	opts := []goose.ProviderOption{goose.WithAllowOutofOrder(true)}
	if _, ok := db.dialect.(postgresDialect); ok {
		// Several processes may start at once on one database: one migrates,
		// the others wait on an advisory lock.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(db.dialect.gooseDialect(), db.write, dir, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating the schema: %w", err)
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.read.PingContext(ctx) }

// Close closes every connection.
func (db *DB) Close() error {
	db.closeSignal()
	if db.committer != nil {
		db.committer.close()
	}
	db.reads.close()
	db.writes.close()
	db.authReads.close()
	if db.lists != nil {
		db.lists.close()
	}
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if db.auth != db.read {
		err = errors.Join(err, db.auth.Close())
	}
	if db.memoryKeeper != nil {
		err = errors.Join(err, db.memoryKeeper.Close())
	}
	if db.revisions != nil {
		db.revisions.close()
	}
	return err
}

// pgCommitters is how many PostgreSQL connections of a process run write
// batches at once. One: the change records serialise the commits anyway
// (docs/change-feed.md), and with more connections each batch is smaller,
// so the same writes cost more commits, more flushes and more turns at the
// counter locks. Measured on 2 cores at 32 clients, one connection made
// about 1.2x the creates and PATCHes of four (BENCHMARKS.md).
const pgCommitters = 1

// maxLockWaits bounds how often a group commit job whose lock wait timed
// out runs again (about maxLockWaits × 50 ms in all).
const maxLockWaits = 200

// maxAttempts bounds how often a transaction the database aborted for
// concurrency (a serialization failure or deadlock) is run again.
const maxAttempts = 5

// inTx runs fn in a write transaction, committing when it returns nil. fn
// gets a context without the caller's cancellation: a write, once started,
// runs to its end, so its outcome is never half-known (and on SQLite an
// interrupted statement would roll back its batch-mates' work too).
//
// The transaction joins the group commit (unless Options.NoGroupCommit).
// It runs again when that is safe: the database aborted it as a concurrency victim,
// or the connection was lost before COMMIT was sent (it then did nothing).
// A connection lost during COMMIT leaves the outcome unknown, so that error
// is returned. fn must have no other effects.
func (db *DB) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	detached := context.WithoutCancel(ctx)
	run := func(tx *sql.Tx) error { return fn(detached, tx) }
	lockWaits := 0
	for attempt := 1; ; attempt++ {
		var err error
		committing := true
		if db.committer != nil {
			// A job of a batch that PostgreSQL chose as a deadlock's
			// victim was rolled back to its savepoint alone: it runs
			// again in a later batch. A failed batch commit is not
			// retried (its outcome may be unknown).
			err = db.committer.do(ctx, run)
			committing = errors.Is(err, errGroupCommit)
		} else {
			err, committing = db.tryTx(detached, run)
		}
		// A job whose lock wait timed out (maybe a deadlock between
		// batches) runs again at once: many writers of one endpoint time
		// out often, each time after only jobLockTimeout.
		if lockTimedOut(err) && lockWaits < maxLockWaits {
			lockWaits++
			attempt--
			continue
		}
		again := db.dialect.retryable(err) || (!committing && db.dialect.connectionLost(err))
		if err == nil || attempt == maxAttempts || !again {
			return err
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error, committing bool) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err, false
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err, false
	}
	return tx.Commit(), true
}

// readRetrying runs a read again when its connection was lost (reads are
// always safe to repeat).
func (db *DB) readRetrying(ctx context.Context, read func() error) error {
	for attempt := 1; ; attempt++ {
		err := read()
		if err == nil || attempt == maxAttempts || !db.dialect.connectionLost(err) {
			return err
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

func backoff(ctx context.Context, attempt int) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		return nil
	}
}

// q rewrites a query written with ? placeholders for the dialect.
func (db *DB) q(query string) string { return db.dialect.rebind(query) }

// Pools returns the connection pools by role, for pool metrics.
func (db *DB) Pools() map[string]*sql.DB {
	pools := map[string]*sql.DB{"write": db.write, "read": db.read}
	if db.read == db.write {
		pools = map[string]*sql.DB{"pool": db.write}
	}
	if db.auth != db.read {
		pools["auth"] = db.auth
	}
	return pools
}
