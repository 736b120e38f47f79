package index

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestDenseUnionSplit: a union split across goroutines (bitmaps dealt out
// by members, arrays ORed) equals roaring's own union.
func TestDenseUnionSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for trial := range 20 {
		var bms []*roaring.Bitmap
		for range 8 + r.IntN(30) {
			bms = append(bms, randomRows(r, 1+r.IntN(200_000), 1+r.IntN(20)))
		}
		want := roaring.FastOr(bms...)
		for _, procs := range []int{1, 2, 3, 8} {
			dense := denseUnionOn(bms, procs, 1)
			if dense == nil {
				t.Fatalf("trial %d: no dense union", trial)
			}
			if got := roaring.FromDense(dense, false); !got.Equals(want) {
				t.Fatalf("trial %d on %d goroutines: %d members, want %d", trial, procs, got.GetCardinality(), want.GetCardinality())
			}
		}
	}
}
