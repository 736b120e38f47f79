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
			// n: no length asked for, one short of the rows (too short:
			// the rows decide), and longer than the rows.
			for _, n := range []int{0, int(want.Maximum() / 64), int(want.Maximum()/64) + 100} {
				dense := denseUnionOn(bms, procs, 1, n)
				if dense == nil {
					t.Fatalf("trial %d: no dense union", trial)
				}
				if len(dense) != max(n, int(want.Maximum()/64)+1) {
					t.Fatalf("trial %d, n %d: %d words", trial, n, len(dense))
				}
				if got := roaring.FromDense(dense, false); !got.Equals(want) {
					t.Fatalf("trial %d on %d goroutines: %d members, want %d", trial, procs, got.GetCardinality(), want.GetCardinality())
				}
			}
		}
	}
}

// TestUnionCount: a union counted in pooled words (arrays handed back
// dirty, as the pool does), or through roaring when sparse, gives
// roaring's count, for two to forty days, sparse and dense ones, bitmap
// and run containers, with and without a pool.
func TestUnionCount(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const rows = 5*65536 + 77
	day := func(per int) *roaring.Bitmap {
		b := roaring.New()
		for row := r.IntN(per); row < rows; row += 1 + r.IntN(2*per) {
			b.Add(uint32(row))
		}
		return b
	}
	wp := new(WordPool)
	for round := range 40 {
		dirty := wp.Get(rows/64 + 1)
		for i := range dirty {
			dirty[i] = ^uint64(0)
		}
		wp.Put(dirty)
		bms := make([]*roaring.Bitmap, 2+r.IntN(39))
		for i := range bms {
			switch r.IntN(6) {
			case 0:
				bms[i] = roaring.New()
			case 1:
				b := day(50)
				b.AddRange(65535, 65537)
				b.RunOptimize()
				bms[i] = b
			case 2:
				bms[i] = day(3) // bitmap containers
			default:
				bms[i] = day(20 + r.IntN(2000))
			}
		}
		want := roaring.FastOr(bms...).GetCardinality()
		for _, pool := range []*WordPool{wp, nil} {
			if got := unionCount(pool, bms); got != want {
				t.Fatalf("round %d, %d bitmaps, pool %v: counted %d, want %d", round, len(bms), pool != nil, got, want)
			}
		}
	}
}
