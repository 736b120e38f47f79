package lookalike

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/index"
)

// TestScoreAgainstNaive checks the scorer against a row-by-row ranking of
// synthetic features: weights that tie often (so the threshold's ties and
// the row order decide), buckets with a minus, candidates dense and
// sparse (the seed's rows must never be offered), every size of top from
// one row to all of them, and shards of several sizes with a last shard
// that ends inside a word.
func TestScoreAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for trial := range 12 {
		rows := uint32(1000 + r.IntN(300_000))
		randomBitmap := func(share float64) *roaring.Bitmap {
			b := roaring.New()
			for row := range rows {
				if r.Float64() < share {
					b.Add(row)
				}
			}
			return b
		}
		// A numeric field held by some rows, its last value early in
		// odd trials, so that shards past it read padded slices.
		bsi := index.NewBSI(-50, 1000)
		lastValued := rows
		if trial%2 == 1 {
			lastValued = rows / 5
		}
		for row := range lastValued {
			if r.IntN(4) != 0 {
				bsi.Set(row, int64(r.IntN(1050))-50)
			}
		}
		bv := bsi.View()
		feats := make([]candidate, 1+r.IntN(12))
		for i := range feats {
			f := &feats[i]
			f.Weight = float64(r.IntN(9)-4) / 4
			if trial%3 == 2 {
				f.Weight = r.NormFloat64() * 3
			}
			if r.IntN(3) == 0 {
				vr := &valueRange{v: bv, lo: int64(r.IntN(1100)) - 60, hasLo: r.IntN(4) != 0, hasHi: r.IntN(4) != 0}
				vr.hi = vr.lo + int64(r.IntN(400))
				f.rng = vr // as the candidates give it: no bitmap
				continue
			}
			f.bm = randomBitmap([]float64{0, 0.001, 0.05, 0.5, 0.95}[r.IntN(5)])
			if r.IntN(3) == 0 {
				f.minus = roaring.And(f.bm, randomBitmap(0.5))
			}
		}
		cand := randomBitmap([]float64{0.97, 0.3, 0.01}[trial%3])
		if cand.IsEmpty() {
			cand.Add(rows - 1)
		}
		ws := make([]float64, len(feats))
		for i := range feats {
			ws[i] = feats[i].Weight
		}
		q, shift := quantize(ws)
		var naive []entry
		for _, row := range cand.ToArray() {
			var sum int32
			for i, f := range feats {
				if f.rng != nil {
					v, ok := f.rng.v.Value(row)
					if ok && (!f.rng.hasLo || v >= f.rng.lo) && (!f.rng.hasHi || v < f.rng.hi) {
						sum += q[i]
					}
					continue
				}
				if f.bm.Contains(row) && (f.minus == nil || !f.minus.Contains(row)) {
					sum += q[i]
				}
			}
			naive = append(naive, newEntry(sum, row))
		}
		slices.SortFunc(naive, func(a, b entry) int { // higher score, then lower row
			if a.score() != b.score() {
				return cmp.Compare(b.score(), a.score())
			}
			return cmp.Compare(a.row(), b.row())
		})
		for _, n := range []uint64{1, 7, 500, 5000, uint64(len(naive))} {
			for k, shard := range []uint64{1 << 12, 1 << 16, ShardRows} {
				// Features cut shard by shard, all written whole, or
				// some (a budget of two features' words).
				sc := scoring{shardRows: shard, wholeBytes: []uint64{0, 1 << 30, 2 * (uint64(cand.Maximum())/64 + 1) * 8}[(trial+k)%3]}
				got, scores, err := score(context.Background(), feats, cand, n, sc)
				if err != nil {
					t.Fatal(err)
				}
				want := naive[:min(n, uint64(len(naive)))]
				if len(got) != len(want) {
					t.Fatalf("trial %d n %d shard %d whole %d: %d rows, want %d", trial, n, shard, sc.wholeBytes, len(got), len(want))
				}
				for i, e := range want {
					if got[i] != e.row() || scores[i] != math.Ldexp(float64(e.score()), -shift) {
						t.Fatalf("trial %d n %d shard %d whole %d: rank %d is row %d score %v, want row %d score %v",
							trial, n, shard, sc.wholeBytes, i, got[i], scores[i], e.row(), math.Ldexp(float64(e.score()), -shift))
					}
				}
			}
		}
	}
}

// TestQuantize checks the rounding's step and range: every sum of the
// rounded weights fits int32, and the step is as fine as that allows.
func TestQuantize(t *testing.T) {
	for _, ws := range [][]float64{
		nil,
		{0, 0},
		{1e-9, -1e-9},
		{0.5, -2.25, 3},
		slices.Repeat([]float64{690, -690}, 2048), // MaxFeaturesLimit weights of ln(1e300)
		{math.MaxInt32 * 4.0},
	} {
		q, shift := quantize(ws)
		var pos, neg int64
		total := 0.0
		for i, w := range ws {
			if d := math.Abs(math.Ldexp(float64(q[i]), -shift) - w); d > math.Ldexp(0.5, -shift) {
				t.Fatalf("%v: weight %d rounded %v away", ws, i, d)
			}
			if q[i] > 0 {
				pos += int64(q[i])
			} else {
				neg += int64(q[i])
			}
			total += math.Abs(w)
		}
		if pos > math.MaxInt32 || neg < math.MinInt32 {
			t.Fatalf("%v: sums reach %d..%d", ws, neg, pos)
		}
		if shift < 40 && math.Ldexp(total, shift+1)+float64(len(ws)) <= math.MaxInt32 {
			t.Fatalf("%v: shift %d could be %d", ws, shift, shift+1)
		}
	}
}

// TestEntryOrder checks the packed entry against the order it stands
// for (higher score first, then lower row), extremes included, and that
// score and row come back out.
func TestEntryOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	scores := []int32{math.MinInt32, math.MinInt32 + 1, -2, -1, 0, 1, 2, math.MaxInt32 - 1, math.MaxInt32}
	rows := []uint32{0, 1, 2, 1 << 31, math.MaxUint32 - 1, math.MaxUint32}
	pick := func() (int32, uint32) {
		if r.IntN(2) == 0 {
			return scores[r.IntN(len(scores))], rows[r.IntN(len(rows))]
		}
		return int32(r.Uint32()), r.Uint32()
	}
	for range 100_000 {
		as, ar := pick()
		bs, br := pick()
		a, b := newEntry(as, ar), newEntry(bs, br)
		if a.score() != as || a.row() != ar {
			t.Fatalf("entry(%d, %d) reads back (%d, %d)", as, ar, a.score(), a.row())
		}
		want := as > bs || as == bs && ar < br
		if better(a, b) != want {
			t.Fatalf("better((%d, %d), (%d, %d)) = %v, want %v", as, ar, bs, br, !want, want)
		}
	}
}

// TestWithout: all minus a subset, row by row from a clone for a small
// subset and by AndNot for a large one, equals roaring's AndNot, for
// sets of runs (every profile), bitmap and array containers.
func TestWithout(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	runs := roaring.New()
	runs.AddRange(0, 5*65536+123)
	runs.RunOptimize()
	dense, sparse := roaring.New(), roaring.New()
	for i := range 5 * 65536 {
		if r.IntN(3) == 0 {
			dense.Add(uint32(i))
		}
		if r.IntN(500) == 0 {
			sparse.Add(uint32(i))
		}
	}
	for _, all := range []*roaring.Bitmap{runs, dense, sparse} {
		for _, share := range []float64{0, 0.001, 0.01, 0.1, 0.9} {
			rows := randomSubset(r, all, share)
			before := all.Clone()
			got, want := without(all, rows), roaring.AndNot(all, rows)
			if !all.Equals(before) {
				t.Fatal("without changed its input")
			}
			if !got.Equals(want) {
				t.Fatalf("share %v of %d rows: %d left, want %d", share, all.GetCardinality(), got.GetCardinality(), want.GetCardinality())
			}
		}
	}
}
