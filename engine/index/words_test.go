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
		UnionWordsTo(got, scratch, []*roaring.Bitmap{a, b, c})
		check("union", got, roaring.FastOr(a, b, c))
	}
}

// TestCountAllSets checks ranges counted inside an intersection given as
// word sets (ANDed, AND-NOTed and unions of groups, of different
// lengths) against the rows: the intersection built as a bitmap, the
// ranges' result ANDed with it.
func TestCountAllSets(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	xs := []*BSI{NewBSI(0, 1000), NewBSI(-50, 1<<16)}
	for _, x := range xs {
		for range 150_000 {
			x.Set(uint32(r.IntN(300_000)), x.lo+r.Int64N(x.hi-x.lo+1))
		}
	}
	tried := 0
	for trial := 0; tried < 30; trial++ {
		conds, want := randomConds(r, xs)
		if want == nil {
			continue
		}
		tried++
		rows := func() *roaring.Bitmap { return randomRows(r, 100_000+r.IntN(300_000), 1+r.IntN(4)) }
		var sets WordSets
		inter := roaring.New()
		inter.AddRange(0, 1<<32-1)
		for range 1 + r.IntN(2) {
			b := rows()
			sets.And = append(sets.And, wordsOf(b, int(b.Maximum())/64+1))
			inter.And(b)
		}
		if r.IntN(2) == 0 {
			b := rows()
			sets.AndNot = append(sets.AndNot, wordsOf(b, int(b.Maximum())/64+1))
			inter.AndNot(b)
		}
		if r.IntN(2) == 0 {
			var group [][]uint64
			u := roaring.New()
			for range 1 + r.IntN(3) {
				b := randomRows(r, 100_000+r.IntN(300_000), 5+r.IntN(20))
				group = append(group, wordsOf(b, int(b.Maximum())/64+1))
				u.Or(b)
			}
			sets.AnyOf = append(sets.AnyOf, group)
			inter.And(u)
		}
		wantN := roaring.And(want, inter).GetCardinality()
		for _, procs := range []int{1, 3} {
			if n := countAllSetsOn(nil, sets, conds, procs, 1); n != wantN {
				t.Fatalf("trial %d on %d goroutines: %d conditions count %d, want %d", trial, procs, len(conds), n, wantN)
			}
		}
	}
}

// TestCountSets: an intersection of word sets (ANDs, AND-NOTs, OR
// groups, of different lengths) counted a block at a time is roaring's
// count, over words covering more or fewer rows than the sets; without a
// positive set it declines.
func TestCountSets(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for trial := range 30 {
		rows := func(per int) *roaring.Bitmap { return randomRows(r, 100_000+r.IntN(300_000), per) }
		var sets WordSets
		inter := roaring.New()
		inter.AddRange(0, 1<<32-1)
		if trial%3 != 2 {
			for range 1 + r.IntN(2) {
				b := rows(1 + r.IntN(4))
				sets.And = append(sets.And, wordsOf(b, int(b.Maximum())/64+1))
				inter.And(b)
			}
		}
		if r.IntN(2) == 0 {
			b := rows(1 + r.IntN(4))
			sets.AndNot = append(sets.AndNot, wordsOf(b, int(b.Maximum())/64+1))
			inter.AndNot(b)
		}
		if trial%3 != 0 {
			var group [][]uint64
			u := roaring.New()
			for range 1 + r.IntN(3) {
				b := rows(5 + r.IntN(20))
				group = append(group, wordsOf(b, int(b.Maximum())/64+1))
				u.Or(b)
			}
			sets.AnyOf = append(sets.AnyOf, group)
			inter.And(u)
		}
		words := 3_000 + r.IntN(4_000) // 192K–448K rows
		cut := roaring.New()
		cut.AddRange(0, uint64(words)*64)
		want := roaring.And(inter, cut).GetCardinality()
		n, ok := CountSets(sets, words)
		if !ok || n != want {
			t.Fatalf("trial %d: counted %d (%v), want %d", trial, n, ok, want)
		}
	}
	if _, ok := CountSets(WordSets{AndNot: [][]uint64{make([]uint64, 10)}}, 10); ok {
		t.Fatal("counted an intersection of subtractions only")
	}
}
