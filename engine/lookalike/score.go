package lookalike

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/internal/parallel"
	"github.com/cohortdb/cohort/internal/radix"
	"github.com/cohortdb/cohort/internal/wordops"
)

// entry is a scored row, packed so that a better entry is a larger
// number: the score, its sign bit flipped (int32 order becomes uint32
// order), above the row's complement (the lower row wins a tie). The
// result's order is then that of plain integers, which a radix sort puts
// best first in a few linear passes: a comparison sort of 10,000 entries
// took 0.5 ms of every call.
type entry uint64

func newEntry(score int32, row uint32) entry {
	return entry(uint64(uint32(score)^1<<31)<<32 | uint64(^row))
}

func (e entry) score() int32 { return int32(uint32(e>>32) ^ 1<<31) }

func (e entry) row() uint32 { return ^uint32(e) }

// better orders entries best first: higher score, then lower row id, so
// the order is total and results are deterministic.
func better(a, b entry) bool { return a > b }

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
	// bar, shared by the workers' tops, is the highest worst score any
	// of them has kept n entries above (math.MinInt64: none yet). A row
	// scoring below it cannot be among the n best of all, whichever
	// worker scores it: that worker skips it before offer, where its own
	// top, still filling or with a lower worst, would take it in.
	bar *atomic.Int64
}

// raise lifts the shared bar to score if that is higher.
func (t *topN) raise(score int32) {
	if t.bar == nil {
		return
	}
	for {
		old := t.bar.Load()
		if int64(score) <= old || t.bar.CompareAndSwap(old, int64(score)) {
			return
		}
	}
}

// threshold returns the score a row needs to be offered, and whether
// there is one yet: the higher of the top's own worst and the shared bar.
func (t *topN) threshold() (int32, bool) {
	th, ok := int32(math.MinInt32), false
	if t.full {
		th, ok = t.worst.score(), true
	}
	if t.bar != nil {
		if b := t.bar.Load(); b != math.MinInt64 {
			th, ok = max(th, int32(b)), true
		}
	}
	return th, ok
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
	t.worst = slices.Min(t.buf)
	t.full = true
	t.raise(t.worst.score())
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

// tileRows is the row range whose sums are added up at a time: 16 KiB of
// int32, which stays in the first-level cache while every feature's
// weight is added to it.
const tileRows = 4096

// score ranks the rows of cand by the summed weights of the features they
// have and returns the best n, best first. Shards of shardRows rows (a
// multiple of 64) are handed to GOMAXPROCS workers; each keeps its own
// top n, and the tops are merged at the end.
func score(ctx context.Context, feats []candidate, cand *roaring.Bitmap, n uint64, sc scoring) ([]uint32, []float64, error) {
	if n == 0 || cand.IsEmpty() {
		return nil, nil, nil
	}
	shardRows := sc.shardRows
	if shardRows == 0 || shardRows%64 != 0 {
		return nil, nil, fmt.Errorf("lookalike: shards of %d rows are not whole words", shardRows)
	}
	ws := make([]float64, len(feats))
	for i := range feats {
		ws[i] = feats[i].Weight
	}
	q, shift := quantize(ws)
	// Whether each feature's bitmap and minus are mostly bitmap
	// containers (see cutWords): read once, shared by the workers.
	dense := make([][2]bool, len(feats))
	for i, f := range feats {
		dense[i] = [2]bool{mostlyBitmaps(f.bm), mostlyBitmaps(f.minus)}
	}
	whole, kept := writeWhole(feats, dense, uint64(cand.Maximum())/64+1, sc)
	defer func() {
		for i, w := range whole {
			if !kept[i] {
				sc.pool.Put(w)
			}
		}
	}()
	first, last := uint64(cand.Minimum())/shardRows, uint64(cand.Maximum())/shardRows
	shards := int(last - first + 1)
	workers := min(runtime.GOMAXPROCS(0), shards)
	tops := make([]topN, workers)
	var bar atomic.Int64
	bar.Store(math.MinInt64)
	for w := range tops {
		tops[w] = topN{n: int(n), bar: &bar, buf: make([]entry, 0, int(n)+max(int(n), 4096))}
	}
	scorers := make([]*shardScorer, workers)
	errs := make([]error, workers)
	// parallel.Each hands a worker its shards in increasing order, as walk
	// needs.
	parallel.Each(workers, shards, func(w, k int) {
		if errs[w] != nil {
			return
		}
		if err := ctx.Err(); err != nil {
			errs[w] = fmt.Errorf("lookalike: %w", err)
			return
		}
		if scorers[w] == nil {
			scorers[w] = newShardScorer(feats, q, dense, whole, &tops[w], shardRows, cand, sc.pool)
		}
		scorers[w].run(cand, (first+uint64(k))*shardRows)
	})
	for _, s := range scorers {
		if s != nil {
			sc.pool.Put(s.full)
		}
	}
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
	radix.Sort(all, nil)
	slices.Reverse(all) // best first
	rows := make([]uint32, len(all))
	scores := make([]float64, len(all))
	for i, e := range all {
		rows[i], scores[i] = e.row(), math.Ldexp(float64(e.score()), -shift)
	}
	return rows, scores, nil
}

// scoring says how score works through the rows.
type scoring struct {
	// shardRows is the rows a worker scores at a time (a multiple of 64).
	shardRows uint64
	// wholeBytes bounds the words of the features written whole, once
	// per call, before the shards are scored (see writeWhole).
	wholeBytes uint64
	// pool lends the arrays of the features written whole (nil: allocated).
	pool *index.WordPool
}

// wholeBytes is the most a call writes its features whole into: all 64
// features at 10M profiles (80 MB), the first few at 100M.
const wholeBytes = 96 << 20

// writeWhole writes the words of bitmap features (row r is bit r%64 of
// word r/64, words words each) while they fit in sc.wholeBytes, mostly
// dense ones first, on every core; it returns them by feature, nil for
// the features left to be cut shard by shard. Cutting a feature to a
// shard costs an AND with the shard's range and three passes over its
// words, for every shard (a third of a call's CPU at 10M profiles); a
// feature written whole is one pass, and the shards read their part of
// it where it stands. A feature with rows past the words, or none, is
// left to the cuts (roaring's writer does not clip).
//
// A window the view keeps as words too (index.EventsView.KeptWindowWords)
// is read there, not written: kept[i] tells that whole[i] is the view's,
// read-only and not the pool's.
func writeWhole(feats []candidate, dense [][2]bool, words uint64, sc scoring) (whole [][]uint64, kept []bool) {
	whole, kept = make([][]uint64, len(feats)), make([]bool, len(feats))
	for i, f := range feats {
		if w := f.window; w != nil && f.bm != nil && f.minus == nil {
			if kw := w.ev.KeptWindowWords(w.values, w.from, w.to); uint64(len(kw)) >= words {
				whole[i], kept[i] = kw[:words], true
			}
		}
	}
	// Windows to fill have no bitmap to cut: they are written whole
	// whatever the budget (their words cost what their unions would).
	var order []int
	for i, f := range feats {
		if f.fill {
			order = append(order, i)
		}
	}
	for pass := range 2 {
		for i, f := range feats {
			if kept[i] || f.fill || f.bm == nil || f.bm.IsEmpty() || dense[i][0] != (pass == 0) {
				continue
			}
			if uint64(f.bm.Maximum())/64 >= words || f.minus != nil && !f.minus.IsEmpty() && uint64(f.minus.Maximum())/64 >= words {
				continue
			}
			if uint64(len(order)+1)*words*8 > sc.wholeBytes {
				break
			}
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return whole, kept
	}
	procs := runtime.GOMAXPROCS(0)
	scratch := make([][]uint64, procs)
	parallel.Each(procs, len(order), func(w, k int) {
		f := &feats[order[k]]
		dst := sc.pool.Get(int(words))
		if f.fill {
			win := f.window
			whole[order[k]] = win.ev.WindowWordsFromDays(dst, win.values, win.from, win.to)
			return
		}
		index.WriteWordsTo(dst, f.bm)
		if f.minus != nil && !f.minus.IsEmpty() {
			if scratch[w] == nil {
				scratch[w] = sc.pool.Get(int(words))
			}
			index.WriteWordsTo(scratch[w], f.minus)
			wordops.AndNot(dst, scratch[w])
		}
		whole[order[k]] = dst
	})
	for _, s := range scratch {
		if s != nil {
			sc.pool.Put(s)
		}
	}
	return whole, kept
}

// quantize returns the weights rounded to whole multiples of 2^-shift,
// as integers, with shift as large as keeps every sum of them within
// int32 (about 2^25 for 64 weights of typical size: steps of 3·10^-8 in
// log-odds). Summing integers rather than floats makes a score exact
// whatever the order its weights are added in (the vector adds of
// wordops.AddMasked), and reporting it as sum·2^-shift loses nothing.
func quantize(ws []float64) ([]int32, int) {
	var total float64
	for _, w := range ws {
		total += math.Abs(w)
	}
	// Each rounded weight is within 1/2 of w·2^shift, so every partial
	// sum is at most total·2^shift + len(ws)/2 in size.
	shift := 40
	for shift > -1000 && math.Ldexp(total, shift)+float64(len(ws)) > math.MaxInt32 {
		shift--
	}
	q := make([]int32, len(ws))
	for i, w := range ws {
		q[i] = int32(math.Round(math.Ldexp(w, shift)))
	}
	return q, shift
}

// shardScorer scores one shard at a time. A feature's members in the
// shard are read as words (row r of the shard is bit r%64 of word r/64:
// from the feature written whole, or cut to the shard here), then the
// shard is summed a tile at a time: every feature's weight is added to
// the tile's rows that have it (wordops.AddMaskedMany),
// and the candidates whose sum reaches the worst kept score are offered
// to the top (wordops.AtLeast).
type shardScorer struct {
	feats []candidate
	q     []int32
	top   *topN
	size  uint64 // rows per shard, a multiple of 64
	// full covers every row up to the last candidate: roaring writes a
	// bitmap's words at their rows' places only, so a shard's words are
	// written there, copied out and cleared.
	full  []uint64
	words [][]uint64 // a feature's words in the shard
	// whole holds the features written whole (writeWhole; nil for the
	// others), whose words in a shard are read where they stand.
	whole [][]uint64
	cand  []uint64        // the candidates' words in the shard
	minus []uint64        // a "false" feature's minus's words in the shard
	x     *roaring.Bitmap // scratch for cutWords
	// walks[i] reads feature i's bitmap and minus when sparse (see walk).
	walks [][2]walk
	// dense[i] tells whether feature i's bitmap and its minus are
	// mostly bitmap containers (see cutWords).
	dense        [][2]bool
	cut          *roaring.Bitmap // the rows [cutLo, cutHi)
	cutLo, cutHi uint64
	sums         []int32  // a tile's scores
	hits         []uint64 // a tile's rows at or above the threshold
}

// newShardScorer returns a worker's scorer; its full array comes from
// pool (a bit per row: 12.5 MB a worker a call at 100M profiles, garbage
// when allocated), and goes back there once the shards are scored.
func newShardScorer(feats []candidate, q []int32, dense [][2]bool, whole [][]uint64, top *topN, size uint64, cand *roaring.Bitmap, pool *index.WordPool) *shardScorer {
	full := pool.Get(int(cand.Maximum()/64 + 1))
	clear(full)
	s := &shardScorer{feats: feats, q: q, dense: dense, whole: whole, top: top, size: size,
		full:  full,
		words: make([][]uint64, len(feats)),
		cand:  make([]uint64, size/64),
		minus: make([]uint64, size/64),
		walks: make([][2]walk, len(feats)),
		sums:  make([]int32, tileRows),
		hits:  make([]uint64, tileRows/64)}
	for i := range s.words {
		if whole[i] == nil {
			s.words[i] = make([]uint64, size/64)
		}
	}
	return s
}

// cutWords sets dst to the words of b's rows in the shard [lo, hi).
//
// The rows are cut out by an in-place AND of a scratch bitmap that holds
// exactly the shard: roaring ANDs a bitmap container into another's words
// where it stands, so once the scratch holds a bitmap container for the
// shard, a dense feature is cut without allocating, where roaring.And
// would clone a container per feature per shard (80 MB a call at 10M
// profiles, and the collections that come with it). Correctness does not
// depend on that: the scratch is refilled and checked every time.
func (s *shardScorer) cutWords(dst []uint64, b *roaring.Bitmap, lo, hi uint64, dense bool, w *walk) {
	if !dense {
		// A sparse bitmap is read by its walk: ANDed into the scratch
		// it would turn the scratch's bitmap container into an array,
		// and the next refill would allocate a bitmap container again;
		// cut by roaring.And, its kept containers would be cloned.
		w.words(dst, b, lo, hi)
		return
	}
	x := s.x
	if x == nil || !x.IsEmpty() && (uint64(x.Minimum()) < lo || uint64(x.Maximum()) >= hi) {
		x = roaring.New()
		s.x = x
	}
	x.AddRange(lo, hi)
	x.And(b)
	s.writeCut(dst, x, lo)
}

// writeCut sets dst to the words of c, whose rows lie in the shard
// starting at row lo.
func (s *shardScorer) writeCut(dst []uint64, c *roaring.Bitmap, lo uint64) {
	clear(dst)
	if c.IsEmpty() {
		return
	}
	win := s.full[lo/64 : lo/64+uint64(len(dst))]
	c.WriteDenseTo(s.full)
	copy(dst, win)
	clear(win)
}

// walk reads a sparse bitmap's members shard after shard. A worker's
// shards come in increasing order, so one pass of an iterator over the
// bitmap serves all of them (the members of shards other workers score
// are read and skipped), where cutting the bitmap to each shard with
// roaring.And cloned the containers it kept: at 100M profiles about 2
// bytes per member of every sparse feature, most of a call's garbage.
type walk struct {
	it       roaring.ManyIntIterable
	buf      []uint32
	pos, n   int    // buf[pos:n] are read but not yet placed
	lo       uint64 // the shard served last
	finished bool   // the iterator has no more members
}

// words sets dst to b's rows in the shard [lo, hi) (row lo is bit 0 of
// dst[0]).
func (w *walk) words(dst []uint64, b *roaring.Bitmap, lo, hi uint64) {
	clear(dst)
	if w.it == nil || lo < w.lo {
		// First use, or a shard before the last (not how workers
		// take them, but then the walk starts over).
		w.it, w.pos, w.n, w.finished = b.ManyIterator(), 0, 0, false
		if w.buf == nil {
			w.buf = make([]uint32, 512)
		}
	}
	w.lo = lo
	for {
		if w.pos < w.n && uint64(w.buf[w.n-1]) < lo {
			w.pos = w.n // all in earlier shards (another worker's)
		}
		for ; w.pos < w.n; w.pos++ {
			r := uint64(w.buf[w.pos])
			if r >= hi {
				return
			}
			if r >= lo {
				d := r - lo
				dst[d>>6] |= 1 << (d & 63)
			}
		}
		if w.finished {
			return
		}
		w.n, w.pos = w.it.NextMany(w.buf), 0
		w.finished = w.n == 0
	}
}

// rangeOf returns a bitmap of the rows [lo, hi), kept for the shard.
func (s *shardScorer) rangeOf(lo, hi uint64) *roaring.Bitmap {
	if s.cut == nil || s.cutLo != lo || s.cutHi != hi {
		s.cut = roaring.New()
		s.cut.AddRange(lo, hi)
		s.cutLo, s.cutHi = lo, hi
	}
	return s.cut
}

func (s *shardScorer) run(cand *roaring.Bitmap, lo uint64) {
	// The last shard ends at the last candidate, so no scan runs past it.
	hi := min(lo+s.size, uint64(cand.Maximum())+1)
	part := roaring.And(cand, s.rangeOf(lo, hi))
	if part.IsEmpty() {
		return
	}
	nw := (hi - lo + 63) / 64
	s.writeCut(s.cand[:nw], part, lo)
	for i := range s.feats {
		f := &s.feats[i]
		if s.whole[i] != nil {
			s.words[i] = s.whole[i][lo/64 : lo/64+nw]
			continue
		}
		w := s.words[i][:nw]
		if f.rng != nil {
			// A numeric bucket: one pass over the field's dense
			// slices where the index keeps them, no bitmap cut.
			rlo, rhi := f.rng.bounds()
			f.rng.v.BetweenWords(w, int(lo/64), rlo, rhi)
			continue
		}
		s.cutWords(w, f.bm, lo, hi, s.dense[i][0], &s.walks[i][0])
		if f.minus != nil {
			// "false": the rows of bm outside minus.
			s.cutWords(s.minus[:nw], f.minus, lo, hi, s.dense[i][1], &s.walks[i][1])
			wordops.AndNot(w, s.minus[:nw])
		}
	}
	t := s.top
	for t0 := uint64(0); t0 < nw; t0 += tileRows / 64 {
		tw := min(tileRows/64, nw-t0)
		sums := s.sums[:64*tw]
		clear(sums)
		wordops.AddMaskedMany(sums, s.words, s.q, int(t0))
		hits := s.hits[:tw]
		if th, ok := t.threshold(); ok {
			// Once a top holds n entries nearly every row fails
			// against its worst: the compare is made sixteen rows an
			// instruction here, and exactly (ties included) by offer.
			wordops.AtLeast(hits, sums, th)
			wordops.And(hits, s.cand[t0:t0+tw])
		} else {
			copy(hits, s.cand[t0:t0+tw])
		}
		for j, x := range hits {
			for x != 0 {
				b := uint64(bits.TrailingZeros64(x))
				x &= x - 1
				r := 64*uint64(j) + b
				t.offer(newEntry(sums[r], uint32(lo+64*t0+r)))
			}
		}
	}
}

// mostlyBitmaps reports whether most of b's containers are roaring
// bitmap containers (false for nil).
func mostlyBitmaps(b *roaring.Bitmap) bool {
	if b == nil {
		return false
	}
	st := b.Stats()
	return st.BitmapContainers*2 > st.Containers
}
