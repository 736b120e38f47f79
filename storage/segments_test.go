package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/dgraph-io/badger/v4"

	"github.com/cohortdb/cohort/engine"
)

func TestSegmentsCRUD(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	vip := Segment{Name: "vip", Query: "vip AND city = '上海'", Description: "VIPs in 上海", Created: created}
	lal := Segment{Name: "lal_vip", Members: []string{"u1", "u2"}}
	for _, g := range []Segment{vip, lal} {
		if err := s.PutSegment(ctx, "shop", g); err != nil {
			t.Fatal(err)
		}
	}
	for name, g := range map[string]Segment{
		"no name":       {Query: "ALL"},
		"bad name":      {Name: "a/b", Query: "ALL"},
		"neither":       {Name: "x"},
		"both":          {Name: "x", Query: "ALL", Members: []string{"u1"}},
		"empty members": {Name: "x", Members: []string{}},
	} {
		if err := s.PutSegment(ctx, "shop", g); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := s.PutSegment(ctx, "nope", vip); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("segment of a missing dataset: %v", err)
	}
	// Replace.
	vip.Description = "changed"
	if err := s.PutSegment(ctx, "shop", vip); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	got, err := s.Segment("shop", "vip")
	if err != nil {
		t.Fatal(err)
	}
	if got.Query != vip.Query || got.Description != "changed" || !got.Created.Equal(created) {
		t.Fatalf("segment %+v", got)
	}
	list, err := s.Segments("shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "lal_vip" || !slices.Equal(list[0].Members, lal.Members) || list[0].Created.IsZero() || list[1].Name != "vip" {
		t.Fatalf("list %+v", list)
	}
	if err := s.DeleteSegment(ctx, "shop", "vip"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSegment(ctx, "shop", "vip"); !errors.Is(err, ErrSegmentNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Segment("shop", "vip"); !errors.Is(err, ErrSegmentNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	// A dropped dataset's segments go with it, and do not come back with
	// a new dataset of the same name.
	if err := s.DropDataset(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	if list, err := s.Segments("shop"); err != nil || len(list) != 0 {
		t.Fatalf("segments after drop and create: %v %v", list, err)
	}
}

// countKeys counts the keys under prefix.
func countKeys(t *testing.T, s *Store, prefix []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLargeSegments stores member lists and row sets far larger than one
// transaction may carry: they are split into parts, read back whole,
// replaced without leaving the old parts behind, checked against their
// checksum, and removed with the segment.
func TestLargeSegments(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	shop, _ := s.Dataset("shop")
	ids := make([]string, 300_000) // ~5 MB of JSON; a transaction carries < 1 MB here
	for i := range ids {
		ids[i] = fmt.Sprintf("member-%09d", i)
	}
	rows := roaring.New()
	for i := uint32(0); i < 3_000_000; i += 3 {
		rows.Add(i * 7)
	}
	if err := s.PutSegment(ctx, "shop", Segment{Name: "big", Members: ids}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSegment(ctx, "shop", Segment{Name: "rows", Rows: rows}); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, segPartPrefix(shop.ID, "big")); n < 5 {
		t.Fatalf("the member list is in %d parts", n)
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	g, err := s.Segment("shop", "big")
	if err != nil || !slices.Equal(g.Members, ids) {
		t.Fatalf("big: %d members, %v", len(g.Members), err)
	}
	g, err = s.Segment("shop", "rows")
	if err != nil || g.Rows == nil || !g.Rows.Equals(rows) {
		t.Fatalf("rows: %v", err)
	}
	// Replacing leaves only the new version's parts.
	if err := s.PutSegment(ctx, "shop", Segment{Name: "big", Members: ids[:10]}); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, segPartPrefix(shop.ID, "big")); n != 1 {
		t.Fatalf("%d parts after replacing with a small list", n)
	}
	// A crash between parts and record leaves parts nothing points at; the
	// next save of the name removes them.
	orphan := segPartKey(shop.ID, "big", 42, 0)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(orphan, seal(orphan, kindSegPart, []byte("x"))) }); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSegment(ctx, "shop", Segment{Name: "big", Query: "ALL"}); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, segPartPrefix(shop.ID, "big")); n != 0 {
		t.Fatalf("%d parts left for a query segment", n)
	}
	// A damaged part is found and named.
	var part []byte
	if err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: segPartPrefix(shop.ID, "rows")})
		defer it.Close()
		it.Rewind()
		part = it.Item().KeyCopy(nil)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(part)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		p, err := openAs(part, v, kindSegPart)
		if err != nil {
			return err
		}
		p = bytes.Clone(p)
		p[len(p)/2] ^= 1
		return txn.Set(part, seal(part, kindSegPart, p))
	}); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := s.Segment("shop", "rows"); !errors.As(err, &ce) {
		t.Fatalf("a damaged part: %v", err)
	}
	if err := s.DeleteSegment(ctx, "shop", "rows"); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, segPartPrefix(shop.ID, "rows")); n != 0 {
		t.Fatalf("%d parts left after delete", n)
	}
}
