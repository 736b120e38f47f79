package storage

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrDiskFull is returned for writes refused because the data directory's
// file system has less free space than Options.MinFreeBytes. Nothing of a
// refused write reaches the disk or the engine, and writes are accepted
// again as soon as space returns. The error also matches syscall.ENOSPC.
var ErrDiskFull = errors.New("the disk holding the data directory is full")

// checkSpace refuses a write while free space is under the reserve.
func (s *Store) checkSpace() error {
	if s.opts.MinFreeBytes < 0 {
		return nil
	}
	free, err := freeBytes(s.dir)
	if err != nil {
		return nil // cannot tell; the write itself will say
	}
	if free < s.opts.MinFreeBytes {
		return fmt.Errorf("%w: %d MiB free, writes need at least %d MiB; nothing was written (%w)",
			ErrDiskFull, free>>20, s.opts.MinFreeBytes>>20, syscall.ENOSPC)
	}
	return nil
}
