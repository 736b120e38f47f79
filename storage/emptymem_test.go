package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpenAfterEmptyMemtable: a crash between Badger creating a memtable
// file and its first write leaves an empty .mem file, on which Badger's
// Open fails once (dgraph-io/badger#2207); Open must still open the store.
func TestOpenAfterEmptyMemtable(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00099.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("open with an empty memtable file: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
