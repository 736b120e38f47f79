//go:build linux

package storage

import (
	"context"
	"testing"
)

// TestRecoveryReleasesMappedPages: after recovery the store's file
// mappings are out of the resident set, and the store reads and writes
// as before (the pages come back from the page cache on use).
func TestRecoveryReleasesMappedPages(t *testing.T) {
	dir, _ := checkpointedStore(t)
	ctx := context.Background()
	s := openStore(t, dir)
	s.releaseEvery = 1 // release after every checkpoint value, too
	e := testEngine()
	rec, err := s.Recover(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Released <= 0 {
		t.Fatalf("released %d bytes of mappings, want some (Badger maps its files)", rec.Released)
	}
	// Reads and writes after the release.
	d := NewDurable(s, e)
	ingestN(t, d, 350, 20)
	if err := d.Checkpoint(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	live, err := e.Dataset("shop")
	if err != nil {
		t.Fatal(err)
	}
	want := live.Snapshot().Profiles()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	e2, _ := recovered(t, dir)
	ds, err := e2.Dataset("shop")
	if err != nil {
		t.Fatal(err)
	}
	if n := ds.Snapshot().Profiles(); n != want || n < 50 {
		t.Fatalf("%d profiles after release, ingest and recovery, want %d", n, want)
	}
}
