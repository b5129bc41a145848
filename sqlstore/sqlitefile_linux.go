package sqlstore

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// minFreeBytes is the free space below which the disk counts as full: a
// write appends a few pages to the WAL, and a checkpoint may grow the file.
const minFreeBytes = 1 << 20

// checkWritableFile: the process may write the file, and its file system
// is neither mounted read-only nor full.
func checkWritableFile(path string) error {
	if err := unix.Access(path, unix.W_OK); err != nil {
		return fmt.Errorf("the database file %s is read-only: %w", path, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return fmt.Errorf("the file system of %s: %w", path, err)
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return fmt.Errorf("the file system holding %s is mounted read-only", path)
	}
	free := st.Bavail // blocks reserved for root are not ours...
	if os.Geteuid() == 0 {
		free = st.Bfree // ...unless we are root
	}
	if bytes := free * uint64(st.Bsize); bytes < minFreeBytes {
		return fmt.Errorf("the disk holding %s is full (%d bytes free)", path, bytes)
	}
	return nil
}
