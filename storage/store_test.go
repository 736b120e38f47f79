package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/cohortdb/cohort/engine"
)

func TestAppendThenReplayInOrder(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	// The same id three times: replay must end on the last value.
	next := uint64(1)
	for i, batch := range [][][]byte{
		{line("a", 10), line("b", 20)},
		{line("a", 11)},
		{line("c", 30), line("a", 12), line("b", 21)},
	} {
		seq, err := s.Append(ctx, "shop", batch)
		if err != nil {
			t.Fatal(err)
		}
		if seq != next {
			t.Fatalf("batch %d: first sequence %d, want %d", i, seq, next)
		}
		next += uint64(len(batch))
	}
	if d, _ := s.Dataset("shop"); d.NextSeq != next {
		t.Fatalf("next sequence %d, want %d", d.NextSeq, next)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	e, rec := recovered(t, dir)
	if rec.Records() != 6 || rec.Datasets[0].Applied != 6 {
		t.Fatalf("recovery %+v", rec)
	}
	ds, err := e.Dataset("shop")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Snapshot().Rows() != 3 {
		t.Fatalf("rows %d, want 3", ds.Snapshot().Rows())
	}
	for id, want := range map[string]int64{"a": 12, "b": 21, "c": 30} {
		if got, ok := ageOf(t, ds, id); !ok || got != want {
			t.Errorf("age of %s = %d (%v), want %d", id, got, ok, want)
		}
	}
	// Sequences go on after a restart.
	s = openStore(t, dir)
	defer s.Close()
	if seq, err := s.Append(ctx, "shop", [][]byte{line("d", 1)}); err != nil || seq != next {
		t.Fatalf("append after reopen: seq %d, err %v; want %d", seq, err, next)
	}
}

func TestAppendRefusesBadInput(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, "nope", [][]byte{line("a", 1)}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("append to a missing dataset: %v", err)
	}
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if err := s.CreateDataset(ctx, "Bad Name", parseSchema(t, testSchema)); err == nil {
		t.Fatal("bad dataset name accepted")
	}
	for name, lines := range map[string][][]byte{
		"no lines":   nil,
		"empty line": {line("a", 1), {}},
		"newline":    {[]byte("{\"id\":\"a\"}\n{\"id\":\"b\"}")},
	} {
		if _, err := s.Append(ctx, "shop", lines); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Nothing was written by the refusals.
	if d, _ := s.Dataset("shop"); d.NextSeq != 1 {
		t.Fatalf("next sequence %d after refused appends", d.NextSeq)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	_, err := Open(dir, smallOptions())
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v", err)
	}
	want := fmt.Sprintf("data directory %s is in use by another cohort process", dir)
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

func TestOpenRefusesForeignBadger(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("x"), []byte("y")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, smallOptions()); err == nil || !strings.Contains(err.Error(), "not Cohort's") {
		t.Fatalf("open of a foreign database: %v", err)
	}
}

func TestIsStore(t *testing.T) {
	dir := t.TempDir()
	if IsStore(dir) {
		t.Fatal("empty directory taken for a store")
	}
	s := openStore(t, dir)
	s.Close()
	if !IsStore(dir) {
		t.Fatal("store not recognised")
	}
	gen := t.TempDir()
	if err := os.WriteFile(filepath.Join(gen, "schema.json"), []byte(testSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	if IsStore(gen) {
		t.Fatal("a gen directory taken for a store")
	}
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "shop", [][]byte{line("a", 1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestAppendHonoursContextBeforeItIsTaken(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	cancel()
	// With the context already ended, the request is either refused at
	// the queue or withdrawn before the committer takes it, or (if the
	// committer was quicker) written: in every case the result is
	// consistent with the metadata.
	seq, err := s.Append(ctx, "shop", [][]byte{line("a", 1)})
	d, _ := s.Dataset("shop")
	switch {
	case err != nil && d.NextSeq != 1:
		t.Fatalf("error %v but the entry was written (next %d)", err, d.NextSeq)
	case err == nil && (seq != 1 || d.NextSeq != 2):
		t.Fatalf("written at %d, next %d", seq, d.NextSeq)
	}
}
