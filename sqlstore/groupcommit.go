package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
)

var errGroupCommit = errors.New("group commit failed")

// maxBatch bounds how many write transactions share one commit.
const maxBatch = 128

// committer is SQLite's group commit. SQLite has one writer and, at full
// durability, one fsync per commit: with a transaction per request,
// concurrent writers queue behind each other's syncs. The committer runs the
// write transactions waiting at a time in one database transaction, each in
// its own savepoint, and commits them with one sync. A transaction that
// fails is rolled back to its savepoint alone; its batch-mates commit.
//
// The change feed's records (recordChanges) of a batch's transactions are
// written at the end of the batch, in one statement, just before the
// commit: on PostgreSQL their counter rows' locks, which serialise commits
// (docs/change-feed.md), are then held only through that statement and the
// commit, and batches running on other connections overlap their work.
type committer struct {
	db    *sql.DB
	stmts statements // the savepoint statements, prepared (set by Open)
	jobs  chan *writeJob
	done  sync.WaitGroup
	// record writes a batch's change records (set by Open).
	record func(tx *sql.Tx, changes []pendingChange) error
	// jobLocks, when set, runs before the batch's jobs (PostgreSQL: the
	// jobs' lock timeout).
	jobLocks string
	// joined: the database takes several statements in one round trip
	// (PostgreSQL's simple protocol); the savepoint statements between
	// two jobs are then sent together.
	joined bool
	// recordAndCommit, when set, ends a batch that has changes instead of
	// record and Commit: it runs the statements end, records the changes
	// and commits in one round trip (PostgreSQL), so that no round trip
	// to this process falls while the batch holds the feed's counter
	// locks. It reports whether the commit succeeded; tx is then done
	// with, or to be rolled back if not.
	recordAndCommit func(conn *sql.Conn, tx *sql.Tx, end []string, changes []pendingChange) (committed bool, err error)

	mu       sync.Mutex
	deferred map[*sql.Tx]*[]pendingChange // the changes of each running batch
}

type writeJob struct {
	fn  func(tx *sql.Tx) error
	err chan error
}

// newCommitter runs batches on up to loops connections at once.
func newCommitter(db *sql.DB, loops int) *committer {
	c := &committer{db: db, jobs: make(chan *writeJob), deferred: map[*sql.Tx]*[]pendingChange{}}
	for range max(1, loops) {
		c.done.Go(c.loop)
	}
	return c
}

// defer_ keeps tx's changes for the end of its batch; false when tx is not
// a batch's (it records them itself).
func (c *committer) defer_(tx *sql.Tx, changes []pendingChange) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.deferred[tx]
	if list == nil {
		return false
	}
	*list = append(*list, changes...)
	return true
}

// do runs fn in the next batch and returns its own outcome once the batch
// has committed (or fn's error, which rolled back only fn's work).
func (c *committer) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	j := &writeJob{fn: fn, err: make(chan error, 1)}
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the write runs to its end: the caller learns its outcome
	// even if it stopped waiting, so nothing is left half-known.
	return <-j.err
}

func (c *committer) close() {
	close(c.jobs)
	c.done.Wait()
}

func (c *committer) loop() {
	for first := range c.jobs {
		batch := []*writeJob{first}
	gather:
		for len(batch) < maxBatch {
			select {
			case j, ok := <-c.jobs:
				if !ok {
					break gather
				}
				batch = append(batch, j)
			default:
				break gather
			}
		}
		c.commit(batch)
	}
}

func (c *committer) commit(batch []*writeJob) {
	results := make([]error, len(batch))
	// committing: the batch's COMMIT may have been sent, so a failure from
	// here on leaves its outcome unknown. A failure before it (a dropped
	// connection found by BEGIN, say) rolled everything back, and its jobs
	// may run again.
	committing := false
	err := func() error {
		ctx := context.Background()
		conn, err := c.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		changes := &[]pendingChange{}
		c.mu.Lock()
		c.deferred[tx] = changes
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.deferred, tx)
			c.mu.Unlock()
		}()
		// The statements before the next job: the last job's savepoint
		// is rolled back (it failed) or released, the next one begun.
		var next []string
		if c.jobLocks != "" {
			next = append(next, c.jobLocks)
		}
		for i, j := range batch {
			if err := c.run(tx, append(next, beginSavepoint)...); err != nil {
				tx.Rollback()
				return err
			}
			kept := len(*changes)
			next = next[:0]
			if results[i] = j.fn(tx); results[i] != nil {
				*changes = (*changes)[:kept] // a failed job records nothing
				next = append(next, rollbackSavepoint)
			}
			next = append(next, releaseSavepoint)
		}
		if len(*changes) > 0 && c.recordAndCommit != nil {
			// recordAndCommit's statements may be prepared before any
			// of them runs, and PostgreSQL prepares nothing in a
			// transaction a failed statement aborted: a failed last
			// job is rolled back to its savepoint first.
			if results[len(batch)-1] != nil {
				if err := c.run(tx, next...); err != nil {
					tx.Rollback()
					return err
				}
				next = nil
			}
			committing = true
			committed, err := c.recordAndCommit(conn, tx, next, *changes)
			if !committed {
				tx.Rollback()
			}
			return err
		}
		if err := c.run(tx, next...); err != nil {
			tx.Rollback()
			return err
		}
		if len(*changes) > 0 {
			if err := c.record(tx, *changes); err != nil {
				tx.Rollback()
				return err
			}
		}
		committing = true
		return tx.Commit()
	}()
	for i, j := range batch {
		switch {
		case err != nil && results[i] == nil && committing:
			results[i] = errors.Join(errGroupCommit, err)
		case err != nil && results[i] == nil:
			results[i] = err
		}
		j.err <- results[i]
	}
}

// run runs the statements in tx in order: in one round trip when the
// database takes them joined.
func (c *committer) run(tx *sql.Tx, statements ...string) error {
	if c.joined && len(statements) > 1 {
		return c.exec(tx, strings.Join(statements, "; "))
	}
	for _, st := range statements {
		if err := c.exec(tx, st); err != nil {
			return err
		}
	}
	return nil
}

func (c *committer) exec(tx *sql.Tx, query string) error {
	var err error
	if st := c.stmts[query]; st != nil {
		_, err = tx.Stmt(st).Exec()
	} else {
		_, err = tx.Exec(query)
	}
	return err
}
