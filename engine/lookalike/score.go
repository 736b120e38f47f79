package lookalike

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// entry is a scored row.
type entry struct {
	score float64
	row   uint32
}

// better orders entries best first: higher score, then lower row id, so
// the order is total and results are deterministic.
func better(a, b entry) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.row < b.row
}

// topN keeps the n best entries offered. Entries collect in a buffer;
// when it holds about 2n, a selection (quickselect) keeps the n best and
// remembers the worst of them, which later entries must beat to get in.
// That is linear in the entries offered, where a heap of n costs log n
// per entry that gets in — measured, the heap was a quarter of the whole
// expansion at N = 100K.
type topN struct {
	n     int
	buf   []entry
	full  bool  // buf has held n entries: worst is meaningful
	worst entry // the worst entry kept at the last compaction
}

func (t *topN) offer(e entry) {
	if t.full && !better(e, t.worst) {
		return
	}
	t.buf = append(t.buf, e)
	if len(t.buf) >= t.n+max(t.n, 4096) {
		t.compact()
	}
}

// compact keeps the n best of the buffer.
func (t *topN) compact() {
	if len(t.buf) < t.n {
		return
	}
	selectBest(t.buf, t.n)
	t.buf = t.buf[:t.n]
	t.worst = t.buf[0]
	for _, e := range t.buf[1:] {
		if better(t.worst, e) {
			t.worst = e
		}
	}
	t.full = true
}

// selectBest reorders a so that a[:k] holds its k best entries (in no
// particular order): Hoare's quickselect with a median-of-three pivot.
// better is a total order on entries (rows are distinct), so the kept set
// does not depend on the order entries came in.
func selectBest(a []entry, k int) {
	if k <= 0 || k >= len(a) {
		return
	}
	lo, hi, nth := 0, len(a)-1, k-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		p := median3(a[lo], a[mid], a[hi])
		i, j := lo, hi
		for i <= j {
			for better(a[i], p) {
				i++
			}
			for better(p, a[j]) {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case nth <= j:
			hi = j
		case nth >= i:
			lo = i
		default:
			return
		}
	}
}

func median3(a, b, c entry) entry {
	if better(b, a) {
		a, b = b, a
	}
	if better(c, b) {
		b = c
		if better(b, a) {
			b = a
		}
	}
	return b
}

// score ranks the rows of cand by the summed weights of the features they
// have and returns the best n, best first. Shards of shardRows rows are
// handed to GOMAXPROCS workers; each keeps its own score array (one
// shard's worth) and its own top n, and the tops are merged at the end.
func score(ctx context.Context, feats []candidate, cand *roaring.Bitmap, n, shardRows uint64) ([]uint32, []float64, error) {
	if n == 0 || cand.IsEmpty() {
		return nil, nil, nil
	}
	first, last := uint64(cand.Minimum())/shardRows, uint64(cand.Maximum())/shardRows
	shards := make(chan uint64)
	workers := min(runtime.GOMAXPROCS(0), int(last-first+1))
	tops := make([]topN, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tops[w].n = int(n)
			s := shardScorer{feats: feats, top: &tops[w], size: shardRows}
			for sh := range shards {
				if errs[w] != nil {
					continue
				}
				if err := ctx.Err(); err != nil {
					errs[w] = fmt.Errorf("lookalike: %w", err)
					continue
				}
				s.run(cand, sh*shardRows)
			}
		}()
	}
	for sh := first; sh <= last; sh++ {
		shards <- sh
	}
	close(shards)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	var all []entry
	for i := range tops {
		tops[i].compact()
		all = append(all, tops[i].buf[:min(len(tops[i].buf), int(n))]...)
	}
	// Cut to the n best before sorting: the workers together may hold
	// up to GOMAXPROCS·n entries.
	selectBest(all, int(min(uint64(len(all)), n)))
	all = all[:min(uint64(len(all)), n)]
	slices.SortFunc(all, func(a, b entry) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	rows := make([]uint32, len(all))
	scores := make([]float64, len(all))
	for i, e := range all {
		rows[i], scores[i] = e.row, e.score
	}
	return rows, scores, nil
}

// shardScorer scores one shard at a time into a reused array.
type shardScorer struct {
	feats  []candidate
	top    *topN
	size   uint64 // rows per shard
	scores []float64
	buf    []uint32
}

func (s *shardScorer) run(cand *roaring.Bitmap, lo uint64) {
	// The last shard ends at the last candidate, so no scan runs past it.
	hi := min(lo+s.size, uint64(cand.Maximum())+1)
	part := roaring.New()
	part.AddRange(lo, hi)
	part.And(cand)
	if part.IsEmpty() {
		return
	}
	if s.scores == nil {
		s.scores = make([]float64, s.size)
		s.buf = make([]uint32, 4096)
	}
	// Only candidates' scores are read back (the others are marked
	// first), so clearing the whole array is simpler than tracking what
	// was written and costs well under a millisecond.
	scores, base := s.scores[:hi-lo], uint32(lo)
	clear(scores)
	// Where most rows are candidates (the seed is small, the universe
	// wide), every row of the shard is scored and the others are marked
	// afterwards: cutting a feature to the shard's range is then a copy
	// of its containers, where cutting it to the candidates would be an
	// intersection.
	dense := part.GetCardinality()*2 >= hi-lo
	cut := part
	if dense {
		cut = roaring.New()
		cut.AddRange(lo, hi)
	}
	for i := range s.feats {
		f := &s.feats[i]
		w := f.Weight
		it := f.within(cut).ManyIterator()
		for k := it.NextMany(s.buf); k > 0; k = it.NextMany(s.buf) {
			for _, r := range s.buf[:k] {
				scores[r-base] += w
			}
		}
	}
	if !dense {
		s.offerRows(part, scores, base)
		return
	}
	// Mark the few rows that are not candidates -Inf and read the array
	// straight through, which is cheaper than decoding every candidate
	// row. No real score is -Inf: weights are finite, and so are sums of
	// at most MaxFeaturesLimit of them.
	others := cut
	others.AndNot(part)
	it := others.ManyIterator()
	for k := it.NextMany(s.buf); k > 0; k = it.NextMany(s.buf) {
		for _, r := range s.buf[:k] {
			scores[r-base] = math.Inf(-1)
		}
	}
	// Once the top holds n entries, nearly every row fails against its
	// worst: test that here rather than in a call per row (offer tests
	// it again, exactly, ties included).
	t := s.top
	for i, sc := range scores {
		if t.full && sc < t.worst.score || math.IsInf(sc, -1) {
			continue
		}
		t.offer(entry{score: sc, row: base + uint32(i)})
	}
}

// offerRows offers the rows of part, which are few for the shard: their
// scores are read by row.
func (s *shardScorer) offerRows(part *roaring.Bitmap, scores []float64, base uint32) {
	t := s.top
	it := part.ManyIterator()
	for k := it.NextMany(s.buf); k > 0; k = it.NextMany(s.buf) {
		for _, r := range s.buf[:k] {
			sc := scores[r-base]
			if t.full && sc < t.worst.score {
				continue
			}
			t.offer(entry{score: sc, row: r})
		}
	}
}
