package sqlstore

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// watchWAL returns a channel that receives when a process writes the
// database's WAL file (inotify on its directory, so that the WAL may be
// removed and made again), or nil when the watch cannot start. A write
// precedes its commit's visibility (SQLite syncs the file, then publishes
// the commit in the -shm index): the receiver looks more than once.
func watchWAL(ctx context.Context, path string) <-chan struct{} {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a Read
	wal := filepath.Base(path) + "-wal"
	out := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				nameLen := int(binary.NativeEndian.Uint32(buf[off+12 : off+16]))
				name := buf[off+unix.SizeofInotifyEvent : min(n, off+unix.SizeofInotifyEvent+nameLen)]
				if i := indexNUL(name); i >= 0 {
					name = name[:i]
				}
				if string(name) == wal {
					select {
					case out <- struct{}{}:
					default:
					}
				}
				off += unix.SizeofInotifyEvent + nameLen
			}
		}
	}()
	return out
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
