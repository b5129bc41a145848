package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNoDatabase is the error Open returns (wrapped, naming the database)
// when Options.MustExist is set and the database does not exist: a SQLite
// file that is missing, or a database without Switchboard's schema.
var ErrNoDatabase = errors.New("no such database")

// sqliteFile is the SQLite file a DB opened, so that readiness can tell
// whether it is still the file at that path.
type sqliteFile struct {
	path    string
	info    os.FileInfo // of the file once open: its device and inode
	created bool        // Open created it
}

// sidecars are the files SQLite keeps beside a database while it is in use
// (or after a crash): any of them without the database means the database
// existed and was removed.
var sidecars = []string{"-wal", "-shm", "-journal"}

// prepareSQLiteFile makes sure the file at path is there before SQLite opens
// it, so that no connection ever creates a database by itself (they all open
// with mode=rw): a missing file is created empty, readable by its owner only
// (SQLite gives -wal and -shm the database's permissions), unless mustExist
// is set or a sidecar shows that a database was there.
func prepareSQLiteFile(path string, mustExist bool) (*sqliteFile, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("sqlite database %s: is a directory", path)
	case err == nil && fi.Size() == 0 && mustExist:
		// Opening would write a header (WAL mode) into it.
		return nil, fmt.Errorf("sqlite database %s: %w: the file is empty, it has no Switchboard schema", path, ErrNoDatabase)
	case err == nil:
		return &sqliteFile{path: path}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("sqlite database %s: %w", path, unwrapPath(err))
	case mustExist:
		return nil, fmt.Errorf("sqlite database %s: %w: the file does not exist", path, ErrNoDatabase)
	}
	for _, s := range sidecars {
		if _, err := os.Stat(path + s); err == nil {
			return nil, fmt.Errorf("sqlite database %s: the file is missing but %s exists, so the database was removed; refusing to create a new one (restore the file, or remove %s to start afresh)", path, path+s, path+s)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return &sqliteFile{path: path}, nil // created meanwhile by another process
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite database %s: cannot create it: %w", path, unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite database %s: cannot create it: %w", path, err)
	}
	return &sqliteFile{path: path, created: true}, nil
}

// unwrapPath drops the *fs.PathError around a cause whose path the message
// already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// opened records the identity of the file SQLite now holds open.
func (f *sqliteFile) opened() error {
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("sqlite database %s: %w", f.path, unwrapPath(err))
	}
	f.info = fi
	return nil
}

// removeCreated undoes the creation of a database whose opening failed.
func (f *sqliteFile) removeCreated() {
	if f.created {
		os.Remove(f.path)
		for _, s := range sidecars {
			os.Remove(f.path + s)
		}
	}
}

// check reports why a write to the file could not succeed now: it was
// removed or replaced (the open file is no longer the one at the path, so
// writes would go to a file nobody will read again), it is not writable, or
// its file system is read-only or full.
func (f *sqliteFile) check() error {
	fi, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the database file %s was removed", f.path)
	}
	if err != nil {
		return fmt.Errorf("the database file %s: %w", f.path, unwrapPath(err))
	}
	if !os.SameFile(f.info, fi) {
		return fmt.Errorf("the database file %s was replaced by another file", f.path)
	}
	return checkWritableFile(f.path)
}

// CheckWritable reports why a write could not succeed now, or nil when it
// can: the database does not answer, or (SQLite) the file it opened was
// removed or replaced, is read-only, or sits on a read-only or full file
// system. It writes nothing, but pings the database: callers that run it
// for every request should cache its answer.
func (db *DB) CheckWritable(ctx context.Context) error {
	if db.file != nil {
		if err := db.file.check(); err != nil {
			return err
		}
	}
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("the database does not answer: %w", err)
	}
	return nil
}

// CreatedFile is the path of the SQLite file Open created (a new database),
// or "" when it opened one that existed (or PostgreSQL).
func (db *DB) CreatedFile() string {
	if db.file != nil && db.file.created {
		return db.file.path
	}
	return ""
}
