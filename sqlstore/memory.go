package sqlstore

import (
	"context"
	"database/sql"

	sb "github.com/switchboard-sip/switchboard"
)

// isMemoryDSN reports whether dsn asks for an in-memory database.
func isMemoryDSN(dsn string) bool { return dsn == "memory" || dsn == "sqlite::memory:" }

// openMemory opens a new, empty in-memory SQLite database.
//
// SQLite's ":memory:" belongs to the one connection that opened it, while a
// DB has pools. So the database is a named one in SQLite's memdb VFS
// ("file:/name?vfs=memdb"), which every connection of this process that
// opens the name shares, and it is served through a single connection for
// reads and writes: in memdb a writer's lock turns readers away with
// SQLITE_BUSY (there is no WAL), so several connections would only poll
// each other, while one connection queues them in Go. Group commit still
// batches the writes on it. A second, idle connection (memoryKeeper) keeps
// the database alive should database/sql ever replace the serving one; it
// is freed when the last connection closes. Journal and temporary files
// stay in memory too, so nothing touches the disk.
func openMemory(opt Options) (*DB, error) {
	dsn := memoryDSN("/switchboard-" + sb.NewSID())
	keeper, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	keeper.SetMaxOpenConns(1)
	keeper.SetMaxIdleConns(1)
	keeper.SetConnMaxIdleTime(0)
	if err := keeper.PingContext(context.Background()); err != nil { // opens the connection, creating the database
		keeper.Close()
		return nil, err
	}
	pool, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		keeper.Close()
		return nil, err
	}
	pool.SetMaxOpenConns(1)
	pool.SetMaxIdleConns(1)
	pool.SetConnMaxIdleTime(0)
	db := &DB{dialect: sqliteDialect{}, write: pool, read: pool, memoryKeeper: keeper}
	if !opt.NoGroupCommit {
		db.committer = newCommitter(pool, 1)
	}
	return db, nil
}

// memoryDSN is the driver DSN of the memdb database name (which must start
// with "/" for connections to share it).
func memoryDSN(name string) string {
	return "file:" + name + "?vfs=memdb&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=journal_mode(MEMORY)&_pragma=temp_store(MEMORY)"
}
