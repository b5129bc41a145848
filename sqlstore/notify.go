package sqlstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Followers wait for the next change on a channel that the next commit
// closes. A commit of this process closes it at once. On PostgreSQL every
// process that records a change also sends a NOTIFY after its commit, and a
// process with followers LISTENs on a connection of its own; on SQLite,
// whose other processes (the CLI) cannot signal, a follower's process reads
// the feed's position every sqlitePollInterval, and on Linux also as soon as
// a process writes the WAL file (inotify).

// notifyChannel is the PostgreSQL channel of the feed's notifications. It is
// one per database, not per schema: a notification of another schema only
// makes followers read once more for nothing.
const notifyChannel = "switchboard_changes"

// sqlitePollInterval is how often a SQLite process with followers looks for
// changes committed by other processes.
const sqlitePollInterval = 25 * time.Millisecond

type changeSignal struct {
	mu sync.Mutex
	ch chan struct{}

	// The watcher (PostgreSQL's LISTEN, SQLite's poll) starts with the
	// first follower and runs until Close.
	watchOnce  sync.Once
	watchReady chan struct{}
	watchErr   error
	stop       context.CancelFunc
	stopped    chan struct{}

	// notify asks the notifier to send a NOTIFY (PostgreSQL); a pending
	// request covers any number of commits.
	notify   chan struct{}
	notifier chan struct{} // closed when the notifier has ended
	quit     chan struct{}

	// ownCommit is when this process last committed a change (Unix ns).
	ownCommit atomic.Int64
}

// next returns the channel the next change closes.
func (s *changeSignal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *changeSignal) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// changed wakes this process's followers and, on PostgreSQL, asks for a
// NOTIFY to the others.
func (db *DB) changed() {
	db.signal.ownCommit.Store(time.Now().UnixNano())
	db.signal.wake()
	if db.signal.notify != nil {
		select {
		case db.signal.notify <- struct{}{}:
		default:
		}
	}
}

// startNotifier starts PostgreSQL's notifier: one NOTIFY per batch of
// commits, sent after them, outside their transactions (a NOTIFY inside a
// transaction would serialise commits on PostgreSQL's notification queue).
func (db *DB) startNotifier() {
	s := &db.signal
	s.notify, s.notifier, s.quit = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	send := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// The notification only wakes followers; it need not wait for a
		// disk flush.
		_, err := db.write.ExecContext(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify('`+notifyChannel+`', '')`)
		_ = err // a lost notification delays followers until the next one; their own reads are exact
	}
	go func() {
		defer close(s.notifier)
		for {
			select {
			case <-s.notify:
				send()
			case <-s.quit:
				// A change committed just before Close (the CLI's)
				// still reaches the followers of other processes.
				select {
				case <-s.notify:
					send()
				default:
				}
				return
			}
		}
	}()
}

// ChangeNotify returns a channel that is closed when a change is committed
// after the call: by this process, or on PostgreSQL by any process (on
// SQLite, by another process within sqlitePollInterval). Take the channel,
// then read the feed, then wait on it: no change is missed in between. It
// fails when the watch of other processes cannot start.
func (db *DB) ChangeNotify(ctx context.Context) (<-chan struct{}, error) {
	s := &db.signal
	s.watchOnce.Do(func() {
		s.watchReady = make(chan struct{})
		watchCtx, stop := context.WithCancel(context.Background())
		s.stop, s.stopped = stop, make(chan struct{})
		if db.isPostgres() {
			go db.listen(watchCtx)
		} else {
			go db.poll(watchCtx)
		}
	})
	if s.watchReady == nil {
		return nil, errors.New("the database is closed")
	}
	ch := s.next()
	select {
	case <-s.watchReady:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.watchErr != nil {
		return nil, s.watchErr
	}
	return ch, nil
}

// listen holds a connection LISTENing for other processes' changes. When
// it is lost, every follower is woken (a change may have been missed) and
// it connects again.
func (db *DB) listen(ctx context.Context) {
	s := &db.signal
	defer close(s.stopped)
	first := true
	for attempt := 1; ; attempt++ {
		conn, err := pgx.Connect(ctx, db.dsn)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+notifyChannel)
		}
		if first {
			first = false
			s.watchErr = err
			close(s.watchReady)
			if err != nil {
				if conn != nil {
					conn.Close(context.Background())
				}
				return
			}
		}
		if err == nil {
			attempt = 0
			s.wake()
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
				s.wake()
			}
		}
		if conn != nil {
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		if backoff(ctx, min(attempt, 10)) != nil {
			return
		}
	}
}

// poll reads SQLite's feed position for changes of other processes.
func (db *DB) poll(ctx context.Context) {
	s := &db.signal
	defer close(s.stopped)
	var last int64
	s.watchErr = db.read.QueryRowContext(ctx, selectFeedPosition).Scan(&last)
	close(s.watchReady)
	if s.watchErr != nil {
		return
	}
	found := func() bool {
		var position int64
		if err := db.read.QueryRowContext(ctx, selectFeedPosition).Scan(&position); err == nil && position != last {
			last = position
			s.wake()
			return true
		}
		return false
	}
	var written <-chan struct{} // nil in memory: no other process
	if db.file != nil {
		written = watchWAL(ctx, db.file.path)
	}
	t := time.NewTicker(sqlitePollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			found()
		case <-written:
			// A process wrote the WAL: its commit is visible once the
			// file is synced, a few milliseconds later. While this
			// process writes too, the writes are most likely its own
			// (its followers are woken already): the ticker is enough.
			if time.Since(time.Unix(0, s.ownCommit.Load())) < sqlitePollInterval {
				continue
			}
			for _, pause := range walLooks {
				if pause > 0 && sleep(ctx, pause) != nil {
					return
				}
				if found() {
					break
				}
			}
		}
	}
}

// walLooks are the pauses before each look at the feed's position after a
// write of the WAL (the ticker still looks every sqlitePollInterval).
var walLooks = []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// closeSignal ends the watcher and the notifier.
func (db *DB) closeSignal() {
	s := &db.signal
	s.watchOnce.Do(func() {}) // no watcher may start from now on
	if s.stop != nil {
		s.stop()
		<-s.stopped
	}
	if s.quit != nil {
		close(s.quit)
		<-s.notifier
	}
	s.wake()
}
