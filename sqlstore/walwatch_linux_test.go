package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A write of the WAL file, also one made after the watch began and after
// the file was removed and made again, is reported; writes of other files
// in the directory are not.
func TestWatchWALReportsWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	path := filepath.Join(dir, "feed.db")
	written := watchWAL(ctx, path)
	if written == nil {
		t.Fatal("no watch")
	}
	write := func(name string) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("frame")
		f.Close()
	}
	for _, step := range []string{"first write", "after removal"} {
		write("feed.db-shm") // not the WAL
		write("other.db-wal")
		select {
		case <-written:
			t.Fatalf("%s: a write of another file was reported", step)
		case <-time.After(50 * time.Millisecond): // long enough for the watch to see it
		}
		write("feed.db-wal")
		select {
		case <-written:
		case <-time.After(10 * time.Second): // a guard against hanging, not a speed bound
			t.Fatalf("%s: the WAL's write was not reported", step)
		}
		os.Remove(path + "-wal")
		drain(written)
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}
