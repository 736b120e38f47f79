package index

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestBSIAgainstPlainValues checks every comparison, with and without a
// restricting bitmap of every size, against a plain map of values.
func TestBSIAgainstPlainValues(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, bounds := range [][2]int64{{0, 120}, {-50, 50}, {0, 1 << 20}, {7, 7}} {
		lo, hi := bounds[0], bounds[1]
		x := NewBSI(lo, hi)
		vals := map[uint32]int64{}
		const rows = 40_000
		for range 30_000 {
			row := uint32(r.IntN(rows))
			if r.IntN(10) == 0 {
				x.Unset(row)
				delete(vals, row)
				continue
			}
			v := lo + r.Int64N(hi-lo+1)
			x.Set(row, v)
			vals[row] = v
		}
		view := x.View()
		// ValuesOf: the values of rows with one, in the order asked
		// (rows unsorted, repeated, without a value, past the last).
		ask := []uint32{rows + 1000, 1 << 31}
		for range 500 {
			ask = append(ask, uint32(r.IntN(rows+100)))
		}
		var want []int64
		for _, row := range ask {
			if v, ok := vals[row]; ok {
				want = append(want, v)
			}
		}
		if got := view.ValuesOf([]int64{-1}, ask); !slices.Equal(got, append([]int64{-1}, want...)) {
			t.Fatalf("[%d,%d] ValuesOf: %v, want %v", lo, hi, got, want)
		}
		for range 25 {
			c := lo - 2 + r.Int64N(hi-lo+5)
			var within *roaring.Bitmap
			switch r.IntN(3) {
			case 1: // small: a few hundred rows
				within = roaring.New()
				for range 300 {
					within.Add(uint32(r.IntN(rows)))
				}
			case 2: // large: half the rows
				within = roaring.New()
				within.AddRange(0, rows/2)
			}
			for _, op := range []Op{EQ, NE, LT, LE, GT, GE} {
				got := view.CompareWithin(op, c, within)
				want := roaring.New()
				for row, v := range vals {
					if (within == nil || within.Contains(row)) && holds(op, v, c) {
						want.Add(row)
					}
				}
				if !got.Equals(want) {
					t.Fatalf("[%d,%d] value %s %d (within %v): %d rows, want %d", lo, hi, op, c, within != nil, got.GetCardinality(), want.GetCardinality())
				}
			}
			c2 := c + r.Int64N(hi-lo+3)
			got := view.BetweenWithin(c, c2, within)
			want := roaring.New()
			for row, v := range vals {
				if (within == nil || within.Contains(row)) && c <= v && v <= c2 {
					want.Add(row)
				}
			}
			if !got.Equals(want) {
				t.Fatalf("[%d,%d] between %d and %d: %d rows, want %d", lo, hi, c, c2, got.GetCardinality(), want.GetCardinality())
			}
		}
	}
}

func holds(op Op, v, c int64) bool {
	switch op {
	case EQ:
		return v == c
	case NE:
		return v != c
	case LT:
		return v < c
	case LE:
		return v <= c
	case GT:
		return v > c
	case GE:
		return v >= c
	}
	return false
}

// TestBSISample: the sample holds the values of the rows of ranks
// i·n/m among the rows with a value (all of them when there are fewer
// than SampleSize), sorted, and the same slice on every call.
func TestBSISample(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 700, 5000} {
		x := NewBSI(-100, 1000)
		vals := map[uint32]int64{}
		for len(vals) < n {
			row, v := uint32(r.IntN(50_000)), -100+r.Int64N(1101)
			x.Set(row, v)
			vals[row] = v
		}
		rows := slices.Sorted(maps.Keys(vals))
		m := min(n, SampleSize)
		var want []int64
		for i := range m {
			want = append(want, vals[rows[i*n/m]])
		}
		slices.Sort(want)
		view := x.View()
		got := view.Sample()
		if !slices.Equal(got, want) {
			t.Fatalf("n %d: sample %v, want %v", n, got[:min(len(got), 8)], want[:min(len(want), 8)])
		}
		if again := view.Sample(); len(got) > 0 && &again[0] != &got[0] {
			t.Fatalf("n %d: the sample was read again", n)
		}
	}
}
