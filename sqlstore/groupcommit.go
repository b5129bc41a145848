package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// maxBatch bounds how many write transactions share one commit.
const maxBatch = 128

// committer is SQLite's group commit. SQLite has one writer and, at full
// durability, one fsync per commit: with a transaction per request,
// concurrent writers queue behind each other's syncs. The committer runs the
// write transactions waiting at a time in one database transaction, each in
// its own savepoint, and commits them with one sync. A transaction that
// fails is rolled back to its savepoint alone; its batch-mates commit.
type committer struct {
	db    *sql.DB
	stmts statements // the savepoint statements, prepared (set by Open)
	jobs  chan *writeJob
	done  chan struct{}
}

type writeJob struct {
	fn  func(tx *sql.Tx) error
	err chan error
}

func newCommitter(db *sql.DB) *committer {
	c := &committer{db: db, jobs: make(chan *writeJob), done: make(chan struct{})}
	go c.loop()
	return c
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
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
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
	err := func() error {
		tx, err := c.db.BeginTx(context.Background(), nil)
		if err != nil {
			return err
		}
		for i, j := range batch {
			if err := c.exec(tx, beginSavepoint); err != nil {
				tx.Rollback()
				return err
			}
			if results[i] = j.fn(tx); results[i] != nil {
				if err := c.exec(tx, rollbackSavepoint); err != nil {
					tx.Rollback()
					return err
				}
			}
			if err := c.exec(tx, releaseSavepoint); err != nil {
				tx.Rollback()
				return err
			}
		}
		return tx.Commit()
	}()
	for i, j := range batch {
		if err != nil && results[i] == nil {
			results[i] = errors.Join(errors.New("group commit failed"), err)
		}
		j.err <- results[i]
	}
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
