package index

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// wordsBitmap returns a bitmap over rows whose density varies by
// 65536-row chunk, so that it holds array, bitmap and run containers.
func wordsBitmap(r *rand.Rand, rows int) *roaring.Bitmap {
	b := roaring.New()
	for chunk := 0; chunk < rows; chunk += 1 << 16 {
		end := min(chunk+1<<16, rows)
		switch r.IntN(4) {
		case 0: // sparse: an array container
			for range 100 {
				b.Add(uint32(chunk + r.IntN(end-chunk)))
			}
		case 1: // dense: a bitmap container
			for row := chunk; row < end; row++ {
				if r.IntN(3) == 0 {
					b.Add(uint32(row))
				}
			}
		case 2: // runs
			from := chunk + r.IntN(end-chunk)
			b.AddRange(uint64(from), uint64(min(from+5000, end)))
		}
	}
	b.RunOptimize()
	return b
}

// TestWordsHelpers checks the word-space helpers against the rows,
// including bitmaps reaching past dst and unions of values holding bitmap
// containers in the same chunks (which roaring's dense write would
// overwrite).
func TestWordsHelpers(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const rows = 6 << 16
	for round := range 20 {
		words := rows/64 - r.IntN(2)*500 // sometimes shorter than the rows
		a, b, c := wordsBitmap(r, rows), wordsBitmap(r, rows), wordsBitmap(r, rows)
		scratch := make([]uint64, words)
		check := func(what string, got []uint64, want *roaring.Bitmap) {
			t.Helper()
			w := wordsOf(want, words)
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("round %d %s: word %d = %x, want %x", round, what, i, got[i], w[i])
				}
			}
		}
		got := make([]uint64, words)
		for i := range got {
			got[i] = r.Uint64() // WriteWordsTo overwrites whatever is there
		}
		WriteWordsTo(got, a)
		check("write", got, a)
		AndWords(got, scratch, b)
		check("and", got, roaring.And(a, b))
		AndNotWords(got, scratch, c)
		check("and not", got, roaring.AndNot(roaring.And(a, b), c))
		UnionWordsTo(got, scratch, []*roaring.Bitmap{a, b, c})
		check("union", got, roaring.FastOr(a, b, c))
	}
}
