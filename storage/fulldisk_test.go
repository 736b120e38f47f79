package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, or skips
// the test where that is not allowed (not root, no mount). A real full
// disk is the only honest way to see what Badger does when a write
// fails with ENOSPC.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

func resizeTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%d", size), dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
}

// TestFullDisk fills the disk under a store while ingesting: the write
// that does not fit fails with an error that says the disk is full,
// nothing of that batch is applied, everything acknowledged before stays,
// and once space returns ingest goes on without a restart; a restart then
// recovers exactly what was acknowledged.
func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, 96<<20)
	ctx := context.Background()
	// A reserve of 48 MiB (the default for these sizes would be 96 MiB,
	// the whole disk) leaves ~40 MiB to fill.
	s, err := Open(dir, Options{MemTableSize: 4 << 20, ValueLogFileSize: 8 << 20, MinFreeBytes: 48 << 20})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDurable(s, testEngine())
	ds, err := d.Create(ctx, "shop", parseSchema(t, testSchema))
	if err != nil {
		t.Fatal(err)
	}
	batch := func(from int) [][]byte {
		var lines [][]byte
		for i := range 500 {
			lines = append(lines, line(noisyID(fmt.Sprintf("u%07d-", from+i), uint64(from+i), 200), 30))
		}
		return lines
	}
	acked, full := 0, error(nil)
	for i := 0; i < 2000 && full == nil; i++ {
		res, err := d.Ingest(ctx, "shop", batch(acked))
		if err != nil {
			full = err
			break
		}
		acked += res.Applied
	}
	if full == nil {
		t.Fatal("the disk never filled")
	}
	t.Logf("disk full after %d records: %v", acked, full)
	if err := d.Checkpoint(ctx, "shop"); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("a checkpoint on a full disk: %v, want ErrDiskFull", err)
	}
	if !errors.Is(full, syscall.ENOSPC) || !errors.Is(full, ErrDiskFull) {
		t.Fatalf("the error does not say the disk is full: %v", full)
	}
	if got := ds.Snapshot().Rows(); int(got) != acked {
		t.Fatalf("%d profiles visible, %d acknowledged: the failed batch was applied", got, acked)
	}
	// Space returns: ingest goes on in the same process.
	resizeTmpfs(t, dir, 512<<20)
	res, err := d.Ingest(ctx, "shop", batch(acked))
	if err != nil {
		t.Fatalf("ingest after space returned: %v", err)
	}
	acked += res.Applied
	d.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	e, _ := recovered(t, dir)
	rds, err := e.Dataset("shop")
	if err != nil {
		t.Fatal(err)
	}
	if got := rds.Snapshot().Rows(); int(got) != acked {
		t.Fatalf("recovered %d profiles, %d acknowledged", got, acked)
	}
}
