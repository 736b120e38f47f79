package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestDenseComparisons checks the dense comparison kernels against a
// plain row-by-row evaluation: every operator and BETWEEN, constants
// inside, at and beyond the stored values, restricted to nothing, to a
// dense and to a sparse set of rows, counted and materialised, on one
// goroutine and split across several; and after updates, that a view
// reusing the previous view's words answers for its own data.
func TestDenseComparisons(t *testing.T) {
	for _, bounds := range [][2]int64{{0, 1 << 20}, {-5000, 5000}, {0, 1000}, {7, 7}, {-3, 300}} {
		lo, hi := bounds[0], bounds[1]
		t.Run(fmt.Sprintf("%d..%d", lo, hi), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(lo+7), uint64(hi+11)))
			x := NewBSI(lo, hi)
			vals := map[uint32]int64{}
			const rows = 140_000 // three blocks, the last one partial
			set := func(n int) {
				for range n {
					row := uint32(r.IntN(rows))
					if r.IntN(10) == 0 {
						x.Unset(row)
						delete(vals, row)
						continue
					}
					// Skewed values: most small, a few large, so high
					// slices have empty blocks.
					v := lo + r.Int64N(min(hi-lo+1, 1<<r.IntN(21)+1))
					x.Set(row, v)
					vals[row] = v
				}
			}
			set(30_000)
			check := func(v *BSIView) {
				t.Helper()
				withins := []*roaring.Bitmap{nil, randomRows(r, rows, 2), randomRows(r, rows, 200), roaring.New()}
				consts := []int64{lo - 1, hi + 1, lo + (hi-lo)/2, lo + r.Int64N(hi-lo+1)}
				if mn, mx, ok := v.Range(); ok {
					// Bounds at and next to the stored extremes, which
					// drop a walk (storedRange).
					consts = append(consts, mn, mx, mn+1, mx-1)
				}
				for _, within := range withins {
					for _, c := range consts {
						for _, op := range []Op{EQ, NE, LT, LE, GT, GE} {
							want := naive(vals, within, func(x int64) bool { return op.holds(x, c) })
							got := v.CompareWithin(op, c, within)
							if !got.Equals(want) {
								t.Fatalf("%s %d within %v: %d rows, want %d", op, c, card(within), got.GetCardinality(), want.GetCardinality())
							}
							if n := v.CountCompareWithin(op, c, within); n != want.GetCardinality() {
								t.Fatalf("count %s %d: %d, want %d", op, c, n, want.GetCardinality())
							}
						}
					}
					for range 6 {
						a, b := consts[r.IntN(len(consts))], consts[r.IntN(len(consts))]
						want := naive(vals, within, func(x int64) bool { return x >= a && x <= b })
						if got := v.BetweenWithin(a, b, within); !got.Equals(want) {
							t.Fatalf("between %d and %d: %d rows, want %d", a, b, got.GetCardinality(), want.GetCardinality())
						}
						if n := v.CountBetweenWithin(a, b, within); n != want.GetCardinality() {
							t.Fatalf("count between %d and %d: %d, want %d", a, b, n, want.GetCardinality())
						}
						if within == nil {
							// As words, over windows inside, across and past
							// the rows with a value; dst starts dirty.
							all := make([]uint64, rows/64+8)
							writeWords(all, want)
							for _, w := range [][2]int{{0, len(all)}, {1000, 1100}, {len(all) - 20, 20}, {5, 0}} {
								dst := make([]uint64, w[1])
								for i := range dst {
									dst[i] = ^uint64(0)
								}
								v.BetweenWords(dst, w[0], a, b)
								if !slices.Equal(dst, all[w[0]:w[0]+w[1]]) {
									t.Fatalf("words between %d and %d from word %d (%d words): wrong", a, b, w[0], w[1])
								}
							}
						}
					}
				}
				// The split across goroutines gives what one gives.
				d := v.dense()
				if d.words > 0 {
					rg := betweenRange(uint64(r.IntN(1<<max(v.depth-1, 0))), 1<<v.depth-1)
					one := d.runOn(&rg, nil, nil, 1, 0)
					for _, procs := range []int{2, 3, 8} {
						out := make([]uint64, d.words)
						if n := d.runOn(&rg, nil, out, procs, 1); n != one {
							t.Fatalf("%d goroutines count %d, one %d", procs, n, one)
						}
					}
				}
			}
			check(x.View())
			checkKernels(t, r, x.View(), rows)
			for range 2 {
				set(3_000)
				check(x.View())
			}
		})
	}
}

func card(b *roaring.Bitmap) any {
	if b == nil {
		return "nil"
	}
	return b.GetCardinality()
}

func (o Op) holds(x, c int64) bool {
	switch o {
	case EQ:
		return x == c
	case NE:
		return x != c
	case LT:
		return x < c
	case LE:
		return x <= c
	case GT:
		return x > c
	}
	return x >= c
}

func naive(vals map[uint32]int64, within *roaring.Bitmap, keep func(int64) bool) *roaring.Bitmap {
	var rows []uint32
	for row, v := range vals {
		if (within == nil || within.Contains(row)) && keep(v) {
			rows = append(rows, row)
		}
	}
	return roaring.BitmapOf(rows...)
}

// randomRows returns about one row in every rows of n.
func randomRows(r *rand.Rand, n, every int) *roaring.Bitmap {
	b := roaring.New()
	for row := range n {
		if r.IntN(every) == 0 {
			b.Add(uint32(row))
		}
	}
	return b
}

// TestCountAll checks the fused count of several ranges on fields that
// end at different rows (so blocks past one field's last value occur)
// against intersecting each range's own answer.
// randomConds draws a random comparison or BETWEEN on about two thirds
// of the indexes, as RangeConds, with the rows that satisfy them all
// computed with roaring's operations (nil: no condition).
func randomConds(r *rand.Rand, xs []*BSI) ([]RangeCond, *roaring.Bitmap) {
	var conds []RangeCond
	var want *roaring.Bitmap
	for _, x := range xs {
		if r.IntN(3) == 0 {
			continue
		}
		v := x.View()
		a := x.lo + r.Int64N(x.hi-x.lo+1)
		b := a + r.Int64N(x.hi-a+1)
		var c RangeCond
		var ok bool
		var got *roaring.Bitmap
		if r.IntN(2) == 0 {
			op := []Op{NE, LT, LE, GT, GE}[r.IntN(5)]
			c, ok = v.CompareCond(op, a)
			got = v.Compare(op, a)
		} else {
			c, ok = v.BetweenCond(a, b)
			got = v.Between(a, b)
		}
		if !ok {
			continue
		}
		conds = append(conds, c)
		if want == nil {
			want = got
		} else {
			want = roaring.And(want, got)
		}
	}
	return conds, want
}

func TestCountAll(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type field struct {
		x    *BSI
		rows int
	}
	fields := []field{{NewBSI(0, 1000), 200_000}, {NewBSI(-50, 1<<16), 70_000}, {NewBSI(0, 1<<24), 140_000}}
	for _, f := range fields {
		for range f.rows / 3 {
			f.x.Set(uint32(r.IntN(f.rows)), f.x.lo+r.Int64N(f.x.hi-f.x.lo+1))
		}
	}
	xs := make([]*BSI, len(fields))
	for i, f := range fields {
		xs[i] = f.x
	}
	for trial := range 60 {
		var conds []RangeCond
		want := (*roaring.Bitmap)(nil)
		var within *roaring.Bitmap
		switch trial % 6 {
		case 1:
			within = randomRows(r, 200_000, 3)
		case 2:
			within = randomRows(r, 200_000, 40)
		case 3, 4:
			// Sparse enough for the word-by-word path (countSparse).
			within = randomRows(r, 200_000, []int{200, 5000}[trial%6-3])
		case 5:
			within = roaring.New()
		}
		conds, want = randomConds(r, xs)
		if want == nil {
			continue
		}
		if within != nil {
			want = roaring.And(want, within)
		}
		if n := CountAll(nil, within, conds); n != want.GetCardinality() {
			t.Fatalf("trial %d: %d conditions count %d, want %d", trial, len(conds), n, want.GetCardinality())
		}
		// From a pool whose arrays hold garbage (Get does not zero).
		pool := new(WordPool)
		for range 3 {
			junk := make([]uint64, 1+r.IntN(5000))
			for i := range junk {
				junk[i] = r.Uint64()
			}
			pool.Put(junk)
		}
		if n := countAllOn(pool, within, conds, 3, 1); n != want.GetCardinality() {
			t.Fatalf("trial %d on 3 goroutines: count %d, want %d", trial, n, want.GetCardinality())
		}
	}
}

// checkKernels checks that a block counted by one vector pass over its
// slices (wordops.Between) gives the words and count of the walk a pass
// per slice, for every operator, bounds inside and at the depth's ends,
// over all rows, a dense and a sparse set of them.
func checkKernels(t *testing.T, r *rand.Rand, v *BSIView, rows int) {
	t.Helper()
	d := v.dense()
	if d.words == 0 {
		return
	}
	top := uint64(1)<<v.depth - 1
	for _, within := range []*roaring.Bitmap{nil, randomRows(r, rows, 2), randomRows(r, rows, 200)} {
		w := rowWords(within, d.words)
		for _, c := range []uint64{0, top, r.Uint64N(top + 1), r.Uint64N(top + 1)} {
			for _, f := range []gtForm{rangeFor(EQ, c), rangeFor(NE, c), rangeFor(LT, c), rangeFor(LE, c), rangeFor(GT, c), rangeFor(GE, c), betweenRange(c/2, c)} {
				walked, fused := make([]uint64, d.words), make([]uint64, d.words)
				for blk := range d.blocksLen {
					want := d.block(&f, blk, w, walked, &scratch{walkOnly: true})
					got := d.block(&f, blk, w, fused, new(scratch))
					if got != want {
						t.Fatalf("form %+v block %d within %v: count %d, walk %d", f, blk, card(within), got, want)
					}
				}
				for i := range walked {
					if walked[i] != fused[i] {
						t.Fatalf("form %+v within %v: word %d = %x, walk %x", f, card(within), i, fused[i], walked[i])
					}
				}
			}
		}
	}
}

// TestDenseExtremes: the smallest and largest stored values read from the
// dense form a block at a time (once a view holds it) equal the plain
// extremes of the values and the bitmaps' descent, for skewed values, a
// single row, one value everywhere, extremes in the last block only,
// negative bounds, and no value at all.
func TestDenseExtremes(t *testing.T) {
	const rows = 200_000 // four blocks, the last one partial
	r := rand.New(rand.NewPCG(31, 32))
	for trial := range 24 {
		lo := []int64{0, -5000, 7, -3}[trial%4]
		hi := lo + []int64{1 << 20, 10_000, 0, 303}[trial%4]
		x := NewBSI(lo, hi)
		vals := map[uint32]int64{}
		set := func(row uint32, v int64) { x.Set(row, v); vals[row] = v }
		switch trial / 4 {
		case 0: // skewed, everywhere
			for range 20_000 {
				set(uint32(r.IntN(rows)), lo+r.Int64N(min(hi-lo+1, 1<<r.IntN(21)+1)))
			}
		case 1: // one row
			set(uint32(r.IntN(rows)), lo+r.Int64N(hi-lo+1))
		case 2: // one value everywhere
			v := lo + r.Int64N(hi-lo+1)
			for range 5000 {
				set(uint32(r.IntN(rows)), v)
			}
		case 3: // the extremes in the last block only
			for range 5000 {
				set(uint32(r.IntN(3*blockWords*64)), lo+(hi-lo)/2)
			}
			set(rows-1, hi)
			set(rows-2, lo)
		case 4: // values, then all unset again
			for range 100 {
				row := uint32(r.IntN(rows))
				x.Set(row, hi)
				x.Unset(row)
			}
		case 5: // sparse rows, bits spread over every slice
			for range 300 {
				set(uint32(r.IntN(rows)), lo+r.Int64N(hi-lo+1))
			}
		}
		wantMin, wantMax, wantOK := int64(math.MaxInt64), int64(math.MinInt64), len(vals) > 0
		for _, v := range vals {
			wantMin, wantMax = min(wantMin, v), max(wantMax, v)
		}
		v := x.View()
		// First without the dense form (the bitmaps' descent), then with.
		for _, withDense := range []bool{false, true} {
			if withDense {
				v.dense()
			}
			if got := v.denseForm.Load() != nil; got != withDense {
				t.Fatalf("trial %d: dense form held %v, want %v", trial, got, withDense)
			}
			mn, okMin := v.Min(nil)
			mx, okMax := v.Max(nil)
			if okMin != wantOK || okMax != wantOK || wantOK && (mn != wantMin || mx != wantMax) {
				t.Fatalf("trial %d (dense %v): min %d %v, max %d %v; want %d, %d, %v", trial, withDense, mn, okMin, mx, okMax, wantMin, wantMax, wantOK)
			}
		}
		// Within a filter (always the bitmaps' descent): a random half of
		// the rows, and a filter with no row holding a value.
		for _, filter := range []*roaring.Bitmap{randomRows(r, rows, 2), randomRows(r, rows, 2000), roaring.New()} {
			fMin, fMax, fOK := int64(math.MaxInt64), int64(math.MinInt64), false
			for row, x := range vals {
				if filter.Contains(row) {
					fMin, fMax, fOK = min(fMin, x), max(fMax, x), true
				}
			}
			mn, okMin := v.Min(filter)
			mx, okMax := v.Max(filter)
			if okMin != fOK || okMax != fOK || fOK && (mn != fMin || mx != fMax) {
				t.Fatalf("trial %d within %d rows: min %d %v, max %d %v; want %d, %d, %v", trial, filter.GetCardinality(), mn, okMin, mx, okMax, fMin, fMax, fOK)
			}
		}
	}
}

// TestDenseOfSplit: a dense form written on several goroutines, fresh or
// reusing an earlier view's unchanged slices, equals the one written on
// one goroutine.
func TestDenseOfSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	x := NewBSI(-100, 1<<18)
	const rows = 150_000
	for range 20_000 {
		x.Set(uint32(r.IntN(rows)), -100+r.Int64N(1<<r.IntN(19)))
	}
	v1 := x.View()
	serial1 := denseOfOn(v1, nil, 1, 1<<62)
	// Change a few low slices only: the high slices' words are reused.
	for range 50 {
		x.Set(uint32(r.IntN(rows)), -100+r.Int64N(8))
	}
	v2 := x.View()
	serial2 := denseOfOn(v2, serial1, 1, 1<<62)
	same := func(a, b *denseBSI) bool {
		if a.words != b.words || !slices.Equal(a.exist, b.exist) || len(a.slices) != len(b.slices) || !slices.Equal(a.vers, b.vers) {
			return false
		}
		for i := range a.slices {
			if !slices.Equal(a.slices[i], b.slices[i]) || !slices.Equal(a.nonzero[i], b.nonzero[i]) {
				return false
			}
		}
		return true
	}
	for _, procs := range []int{2, 3, 8, 40} {
		if d := denseOfOn(v1, nil, procs, 1); !same(d, serial1) {
			t.Fatalf("%d goroutines: the dense form differs", procs)
		}
		if d := denseOfOn(v2, serial1, procs, 1); !same(d, serial2) {
			t.Fatalf("%d goroutines, reusing: the dense form differs", procs)
		}
	}
}
