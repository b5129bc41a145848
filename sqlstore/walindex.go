package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"sync"
	"sync/atomic"
)

// The WAL index: SQLite keeps, at the start of a WAL database's -shm file,
// a 48-byte header that every commit rewrites (its change counter, the
// last frame, the checksums) before the commit returns, in whichever
// process commits. It is written twice, second copy first, so that a
// reader that finds both copies equal has read a whole one. While the
// header reads the same, nothing has committed, so what a statement read
// after the header was read is still what the database holds.
const (
	walHeaderBytes  = 48
	walHeaderIsInit = 12 // the byte that is 1 once the header is built
)

type walHeader [walHeaderBytes]byte

// revisionMemo answers PartnerRevision without a statement while nothing
// has committed since it last asked the database (an answer-cache hit ran
// one statement for it: a fifth of a GET's CPU, issue 17).
type revisionMemo struct {
	shm *os.File
	// pin is a connection of the memo's own that keeps the database open,
	// so that no process removes the -shm file or empties it to start
	// afresh (SQLite does so only when no connection has it open); the
	// file read is then always the one every process writes.
	pin  *sql.DB
	conn *sql.Conn

	mu   sync.Mutex
	at   walHeader        // the header the revisions were read under
	revs map[string]int64 // partner SID to revision, read under at
	// asked counts the statements run for lack of a revision (for tests).
	asked atomic.Int64
}

// memoPartners bounds the memo: past it, it starts again empty.
const memoPartners = 10000

// startRevisionMemo opens the memo for the SQLite database at path, whose
// connections open with dsn; an error means the store runs the statement
// every time.
func startRevisionMemo(ctx context.Context, dsn, path string) (*revisionMemo, error) {
	pin, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	pin.SetMaxOpenConns(1)
	conn, err := pin.Conn(ctx)
	if err == nil {
		// A read opens the WAL and the -shm, which the connection then
		// keeps open until it closes.
		var n int
		err = conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n)
	}
	var shm *os.File
	if err == nil {
		shm, err = os.Open(path + "-shm")
	}
	m := &revisionMemo{shm: shm, pin: pin, conn: conn, revs: map[string]int64{}}
	if err == nil {
		if _, ok := m.header(); !ok {
			err = errors.New("the WAL index header of " + path + " cannot be read")
		}
	}
	if err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// header reads the WAL index header; false when it is not whole (a commit
// was writing it) or not built: then nothing may be taken from the memo.
func (m *revisionMemo) header() (walHeader, bool) {
	var b [2 * walHeaderBytes]byte
	var h walHeader
	if n, err := m.shm.ReadAt(b[:], 0); n != len(b) || (err != nil && n != len(b)) {
		return h, false
	}
	copy(h[:], b[:walHeaderBytes])
	return h, h == walHeader(b[walHeaderBytes:]) && h[walHeaderIsInit] == 1
}

// lookup returns the partner's revision if the memo holds it under the
// header as it reads now, and that header, for remember.
func (m *revisionMemo) lookup(partnerSID string) (walHeader, int64, bool) {
	h, whole := m.header()
	if !whole {
		return walHeader{}, 0, false // which remember ignores
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h != m.at {
		m.at = h
		clear(m.revs)
		return h, 0, false
	}
	rev, ok := m.revs[partnerSID]
	return h, rev, ok
}

// remember keeps a revision that a statement started after the header h
// was read returned: while the header still reads h, nothing committed
// since, so the revision is the current one.
func (m *revisionMemo) remember(h walHeader, partnerSID string, rev int64) {
	if h[walHeaderIsInit] != 1 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if h != m.at {
		return
	}
	if len(m.revs) >= memoPartners {
		clear(m.revs)
	}
	m.revs[partnerSID] = rev
}

func (m *revisionMemo) close() {
	if m.shm != nil {
		m.shm.Close()
	}
	if m.conn != nil {
		m.conn.Close()
	}
	m.pin.Close()
}
