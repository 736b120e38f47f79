//go:build linux

package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// releaseMapped takes the pages of the store's memory-mapped files (Badger
// maps its value logs and tables) out of the process's resident set and
// returns how many bytes of mappings it went over. Recovery reads a whole
// checkpoint through those maps, which left ~40 % of a server's resident
// memory as file pages it would not touch again (5.9 of 14.2 GiB at 100M
// profiles). MADV_DONTNEED on a shared file mapping only drops the
// process's page-table entries: the data stays in the page cache (dirty
// pages are written back as usual) and the next read faults it in, so
// this changes what the process pins, not what the files hold. Private
// mappings are left alone (dropping those would discard their changes).
func releaseMapped(dir string) (int64, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	var released int64
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := bytes.Fields(sc.Bytes())
		if len(f) < 6 || len(f[1]) < 4 || f[1][3] != 's' || filepath.Dir(string(f[5])) != abs {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("madvise %s: %w", f[5], errno)
		}
		released += int64(end - start)
	}
	return released, sc.Err()
}
