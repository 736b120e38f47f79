package storage

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

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
