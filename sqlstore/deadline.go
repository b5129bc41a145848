package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

// Every read has a deadline (Options.StatementTimeout): a statement that
// passes it is interrupted through its context (modernc's SQLite interrupts
// the running statement; pgx cancels it on the server and drops the
// connection), its connection goes back to the pool, and the caller gets
// sb.ErrStatementTimeout. Writes are left alone: once started a write runs
// to its end (inTx), and each is a handful of index-driven statements.

// deadlineRow is a one-row read whose deadline ends when it is scanned.
type deadlineRow struct {
	row             *sql.Row
	parent, bounded context.Context
	cancel          context.CancelFunc
}

func (r *deadlineRow) Scan(dest ...any) error {
	defer r.cancel()
	err := r.row.Scan(dest...)
	if err != nil && errors.Is(r.bounded.Err(), context.DeadlineExceeded) && r.parent.Err() == nil {
		return sb.ErrStatementTimeout
	}
	return err
}

// listDeadline bounds a list's statements until its answer begins, never
// after: a slow client reading a long answer is bounded by the server's
// write timeout, not by this one.
type listDeadline struct {
	state  atomic.Int32 // listRunning, listBegun or listTimedOut
	start  time.Time
	limit  time.Duration
	cancel context.CancelCauseFunc
	timer  interface{ Stop() bool }
}

const (
	listRunning int32 = iota
	listBegun
	listTimedOut
)

// afterFunc starts a list's timer; tests replace it to fire it at will.
var afterFunc = func(d time.Duration, f func()) interface{ Stop() bool } { return time.AfterFunc(d, f) }

// startList returns the context a list's statements run in, cancelled
// when the deadline passes before the answer begins.
func (db *DB) startList(ctx context.Context) (context.Context, *listDeadline) {
	bounded, cancel := context.WithCancelCause(ctx)
	d := &listDeadline{start: time.Now(), limit: db.statementTimeout, cancel: cancel}
	d.timer = afterFunc(d.limit, d.expire)
	return bounded, d
}

func (d *listDeadline) expire() {
	if d.state.CompareAndSwap(listRunning, listTimedOut) {
		d.cancel(sb.ErrStatementTimeout)
	}
}

// begin marks the answer begun (its first row read, or an empty page's
// figures known): from now on the list has no deadline. It reports false
// when the deadline passed first, also when the timer has not fired yet,
// so that a list that took longer always fails, however the timer ran.
func (d *listDeadline) begin() bool {
	if d.state.Load() == listBegun {
		return true
	}
	d.timer.Stop()
	if time.Since(d.start) >= d.limit {
		d.expire()
	}
	return d.state.CompareAndSwap(listRunning, listBegun)
}

// end releases the list's context.
func (d *listDeadline) end() {
	d.timer.Stop()
	d.cancel(nil)
}

// timedOut reports whether the list failed because its deadline passed
// (rather than because its caller went away).
func (d *listDeadline) timedOut(parent context.Context) bool {
	return d.state.Load() == listTimedOut && parent.Err() == nil
}
