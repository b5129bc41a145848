package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"io/fs"
	"slices"

	"github.com/pressly/goose/v3"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/filter"
)

// Hooks into the store's internals for the tests of package sqlstore_test
// (compiled only with the tests).

func ReadPool(db *DB) *sql.DB        { return db.read }
func WritePool(db *DB) *sql.DB       { return db.write }
func Rebind(db *DB, q string) string { return db.q(q) }
func RebindPostgres(q string) string { return postgresDialect{}.rebind(q) }
func GroupCommits(db *DB) bool       { return db.committer != nil }
func MemoryKeeper(db *DB) *sql.DB    { return db.memoryKeeper }

const MaxListStatements = maxListStatements

// ListStatements counts the list statements kept prepared.
func ListStatements(db *DB) int {
	if db.lists == nil {
		return 0
	}
	db.lists.mu.Lock()
	defer db.lists.mu.Unlock()
	return len(db.lists.m)
}

// CachesListStatements reports whether the store keeps list statements
// prepared itself (SQLite; on PostgreSQL pgx does).
func CachesListStatements(db *DB) bool { return db.lists != nil }

// PrepareListStatement puts q in the list statement cache, reporting
// whether it is cached.
func PrepareListStatement(db *DB, q string) bool {
	return db.lists.get(context.Background(), q) != nil
}

// OpenMigratedTo opens the database dsn names with its schema migrated up
// to version only, for tests of the later migrations.
func OpenMigratedTo(ctx context.Context, dsn string, version int64) (*DB, error) {
	db, err := open(dsn, Options{})
	if err != nil {
		return nil, err
	}
	dir, err := fs.Sub(migrations, "migrations/"+db.dialect.name())
	if err == nil {
		var p *goose.Provider
		if p, err = goose.NewProvider(db.dialect.gooseDialect(), db.write, dir); err == nil {
			_, err = p.UpTo(ctx, version)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// ListQueries are the count and first-page queries of a list in creation
// order, written for the dialect, with their arguments, for EXPLAIN.
func ListQueries(db *DB, partnerSID string, f *filter.Expr, limit int) (count, page string, countArgs, pageArgs []any) {
	where, args, set := db.listWhere(partnerSID, f)
	order := orderBy(sortKeys(nil), false)
	count, countArgs = listCount(partnerSID, f, where, args, set)
	page, pageArgs = listPage(partnerSID, endpointColumns, where, order, args, set, true)
	return db.q(count), db.q(page), countArgs, append(slices.Clone(pageArgs), limit, 0)
}

func KeyLockID(partnerSID, key string) int64 { return keyLockID(partnerSID, key) }

// MigrateDownTo rolls the schema back to version (for tests that apply a
// migration again to data already stored).
func MigrateDownTo(ctx context.Context, db *DB, version int64) error {
	dir, err := fs.Sub(migrations, "migrations/"+db.dialect.name())
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(db.dialect.gooseDialect(), db.write, dir, goose.WithAllowOutofOrder(true))
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// CreateInOneBatch runs the creates of es as one group commit batch, in
// order, and returns each one's outcome.
func CreateInOneBatch(db *DB, es ...*sb.Endpoint) []error {
	batch := make([]*writeJob, len(es))
	for i, e := range es {
		doc, err := json.Marshal(e)
		if err != nil {
			panic(err)
		}
		batch[i] = &writeJob{err: make(chan error, 1), fn: func(tx *sql.Tx) error {
			return db.createIn(context.Background(), tx, e, doc)
		}}
	}
	db.committer.commit(batch)
	errs := make([]error, len(es))
	for i, j := range batch {
		errs[i] = <-j.err
	}
	return errs
}

// RevisionsAsked is how many PartnerRevision calls ran their statement;
// -1 when the store has no revision memo.
func RevisionsAsked(db *DB) int64 {
	if db.revisions == nil {
		return -1
	}
	return db.revisions.asked.Load()
}

// HeldReadQuery is the query a list with Held reads the endpoints the
// caller does not hold with.
func HeldReadQuery(db *DB) string { return db.q(selectEndpointsByID(db.dialect)) }
