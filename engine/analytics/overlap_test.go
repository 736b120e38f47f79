package analytics_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/analytics"
)

func TestOverlapAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for trial := range 60 {
		k := 1 + trial%analytics.MaxOverlapSegments
		segs := make([]*roaring.Bitmap, k)
		sets := make([]map[uint32]bool, k)
		for i := range segs {
			segs[i], sets[i] = roaring.New(), map[uint32]bool{}
			density := r.IntN(101)
			if trial%7 == 0 && i == 1 {
				density = 0 // an empty segment among others
			}
			for row := range uint32(2000) {
				if r.IntN(100) < density {
					segs[i].Add(row)
					sets[i][row] = true
				}
			}
			if trial%5 == 0 { // rows far apart: several containers
				segs[i].Add(1 << 20)
				sets[i][1<<20] = true
			}
		}
		got, err := analytics.Overlap(context.Background(), segs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			if got.Sizes[i] != uint64(len(sets[i])) {
				t.Fatalf("trial %d: size %d = %d, want %d", trial, i, got.Sizes[i], len(sets[i]))
			}
			for j := range k {
				var c uint64
				for row := range sets[i] {
					if sets[j][row] {
						c++
					}
				}
				if got.Matrix[i][j] != c {
					t.Fatalf("trial %d: matrix[%d][%d] = %d, want %d", trial, i, j, got.Matrix[i][j], c)
				}
			}
		}
		if k != 2 && k != 3 {
			if got.Venn != nil {
				t.Fatalf("trial %d: Venn for %d segments", trial, k)
			}
			continue
		}
		// Naive Venn: each row of the union falls in exactly one region,
		// named by the segments holding it.
		regions := map[int]uint64{}
		union := map[uint32]bool{}
		for _, s := range sets {
			for row := range s {
				union[row] = true
			}
		}
		for row := range union {
			mask := 0
			for i, s := range sets {
				if s[row] {
					mask |= 1 << i
				}
			}
			regions[mask]++
		}
		if len(got.Venn) != 1<<k-1 {
			t.Fatalf("trial %d: %d regions for %d segments", trial, len(got.Venn), k)
		}
		var total uint64
		for i, v := range got.Venn {
			mask := 0
			for _, s := range v.In {
				mask |= 1 << s
			}
			if v.Count != regions[mask] {
				t.Fatalf("trial %d: region %v = %d, want %d", trial, v.In, v.Count, regions[mask])
			}
			if i > 0 && len(v.In) < len(got.Venn[i-1].In) {
				t.Fatalf("trial %d: regions out of order: %+v", trial, got.Venn)
			}
			total += v.Count
		}
		if total != uint64(len(union)) {
			t.Fatalf("trial %d: regions add to %d, union is %d", trial, total, len(union))
		}
	}
	three, _ := analytics.Overlap(context.Background(), []*roaring.Bitmap{roaring.New(), roaring.New(), roaring.New()})
	var names [][]int
	for _, v := range three.Venn {
		names = append(names, v.In)
	}
	if want := [][]int{{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}}; !slices.EqualFunc(names, want, slices.Equal) {
		t.Fatalf("regions %v, want %v", names, want)
	}
}

func TestOverlapJSON(t *testing.T) {
	res, err := analytics.Overlap(context.Background(), []*roaring.Bitmap{roaring.BitmapOf(1, 2, 3), roaring.BitmapOf(3, 4)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res)
	want := `{"sizes":[3,2],"matrix":[[3,1],[1,2]],"venn":[{"in":[0],"count":2},{"in":[1],"count":1},{"in":[0,1],"count":1}]}`
	if string(got) != want {
		t.Fatalf("JSON\n got  %s\n want %s", got, want)
	}
}

func TestOverlapErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := analytics.Overlap(ctx, nil); err == nil {
		t.Error("no segments accepted")
	}
	many := make([]*roaring.Bitmap, analytics.MaxOverlapSegments+1)
	for i := range many {
		many[i] = roaring.New()
	}
	if _, err := analytics.Overlap(ctx, many); err == nil {
		t.Error("17 segments accepted")
	}
	if _, err := analytics.Overlap(ctx, []*roaring.Bitmap{roaring.New(), nil}); err == nil {
		t.Error("a nil segment accepted")
	}
}
