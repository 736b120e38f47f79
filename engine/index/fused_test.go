package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// wordsOf is b cut to the rows words words cover, as words.
func wordsOf(b *roaring.Bitmap, words int) []uint64 {
	b = b.Clone()
	b.RemoveRange(uint64(words)*64, 1<<32)
	out := make([]uint64, words)
	b.WriteDenseTo(out)
	return out
}

// TestWindowWords checks the word form of a window against the roaring
// one (WindowWithin) cut to the words asked for: windows inside, across
// and outside the days held, values without events on some days or
// unknown, running results of every density (empty, a few rows, most
// rows, reaching past the words), word counts short of and beyond the
// rows, on one goroutine and split across several.
func TestWindowWords(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const rows = 150_000
	x := NewEvents("e")
	vals := []string{"a", "b", "c"}
	type valueDay struct {
		v   string
		day Day
	}
	held := map[valueDay]map[uint32]bool{}
	for day := Day(100); day < 160; day++ {
		for i, v := range vals {
			// Value c skips most days: its window holds nil days.
			if i == 2 && day%5 != 0 {
				continue
			}
			// Some days are heavy (dense containers), most light.
			n := 20 + r.IntN(400)
			if r.IntN(8) == 0 {
				n = 20_000
			}
			held[valueDay{v, day}] = map[uint32]bool{}
			for range n {
				row := uint32(r.IntN(rows))
				x.Add(row, v, day)
				held[valueDay{v, day}][row] = true
			}
		}
	}
	v := x.View()
	withins := []*roaring.Bitmap{nil, roaring.New(), randomRows(r, rows, 2), randomRows(r, rows, 500), randomRows(r, rows+70_000, 3)}
	windows := [][2]Day{{100, 159}, {90, 105}, {150, 200}, {10, 20}, {300, 400}, {130, 130}, {0, 1000}}
	picks := [][]string{nil, {"a"}, {"c"}, {"b", "c"}, {"nope"}}
	for _, w := range windows {
		for _, values := range picks {
			var want uint64
			for vd, rows := range held {
				if vd.day >= w[0] && vd.day <= w[1] && (values == nil || slices.Contains(values, vd.v)) {
					want += uint64(len(rows))
				}
			}
			if values == nil {
				// Every value: the days of any value, a profile once a day.
				want = 0
				for day := w[0]; day <= w[1]; day++ {
					any := map[uint32]bool{}
					for _, v := range vals {
						for row := range held[valueDay{v, day}] {
							any[row] = true
						}
					}
					want += uint64(len(any))
				}
			}
			if got := v.WindowMembers(values, w[0], w[1]); got != want {
				t.Fatalf("%v %v: %d members, want %d", values, w, got, want)
			}
		}
	}
	for _, within := range withins {
		for _, w := range windows {
			for _, values := range picks {
				for _, words := range []int{0, 1, 700, (rows + 63) / 64, 3000, 4000} {
					want := wordsOf(v.WindowWithin(values, w[0], w[1], within), words)
					for _, procs := range []int{1, 3} {
						got := v.windowWordsOn(make([]uint64, words), values, w[0], w[1], within, procs, 1)
						if !slices.Equal(got, want) {
							t.Fatalf("%v %v within %v, %d words on %d: %d rows, want %d",
								values, w, card(within), words, procs, popcount(got), popcount(want))
						}
					}
				}
			}
		}
	}
}

// TestCountAllWords checks the fused count from words against
// intersecting each range's roaring answer, with running results whose
// blocks are empty, sparse (counted word by word) or dense, and word
// arrays shorter and longer than the fields.
func TestCountAllWords(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	type field struct {
		x    *BSI
		rows int
	}
	fields := []field{{NewBSI(0, 120), 200_000}, {NewBSI(-50, 1<<16), 70_000}, {NewBSI(0, 1<<24), 140_000}, {NewBSI(0, 1<<20), 250_000}}
	for i, f := range fields {
		for range f.rows / 2 {
			row, v := uint32(r.IntN(f.rows)), f.x.lo+r.Int64N(f.x.hi-f.x.lo+1)
			if i == 3 && row >= 1<<16 {
				// Small past the first block: high slices have blocks
				// without a bit.
				v = r.Int64N(1000)
			}
			f.x.Set(row, v)
		}
	}
	// mixed has, block by block, no rows, a few, or many.
	mixed := func() *roaring.Bitmap {
		b := roaring.New()
		for blk := range 4 {
			every := []int{0, 1000, 300, 2, 40}[r.IntN(5)]
			for row := blk << 16; every > 0 && row < (blk+1)<<16; row++ {
				if r.IntN(every) == 0 {
					b.Add(uint32(row))
				}
			}
		}
		return b
	}
	xs := make([]*BSI, len(fields))
	for i, f := range fields {
		xs[i] = f.x
	}
	for trial := range 60 {
		var conds []RangeCond
		var want *roaring.Bitmap
		conds, want = randomConds(r, xs)
		if want == nil {
			continue
		}
		within := mixed()
		want.And(within)
		for _, words := range []int{CondWords(conds), 100, 1500, 5000} {
			w := want.Clone()
			w.RemoveRange(uint64(words)*64, 1<<32)
			for _, procs := range []int{1, 3} {
				name := fmt.Sprintf("trial %d: %d conditions, %d words on %d", trial, len(conds), words, procs)
				if n := countAllWordsOn(wordsOf(within, words), conds, procs, 1); n != w.GetCardinality() {
					t.Fatalf("%s: count %d, want %d", name, n, w.GetCardinality())
				}
			}
		}
		if n := CountAll(nil, within, conds); n != want.GetCardinality() {
			t.Fatalf("trial %d: CountAll %d, want %d", trial, n, want.GetCardinality())
		}
	}
	if n := CountAllWords([]uint64{7, 1 << 40}, nil); n != 4 {
		t.Fatalf("no conditions: count %d, want 4", n)
	}
}
