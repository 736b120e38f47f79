package index

import (
	"math/bits"
	"runtime"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/internal/wordops"
)

// A range over a bit-sliced index done with roaring's operations makes
// one pass over every profile per slice and builds an intermediate bitmap
// per pass: at 10M profiles, a dozen megabytes written and read back per
// slice. The dense form below holds each slice (and the existence bitmap)
// as plain words, and a comparison walks it one block of 1024 words
// (65536 rows, one roaring container) at a time, so that the block's
// working state (a few 8 KiB arrays) stays in the first-level cache and
// every slice is read once from memory:
//
//   - one in-place pass per slice from the least significant (O'Neil–Quass
//     "greater than"), two for a BETWEEN;
//   - a slice with no bit in a block is known from a per-block summary
//     and never read;
//   - blocks are independent, so large comparisons split them across
//     cores.
//
// A slice's words cost what its roaring bitmap containers cost (dense
// slices are bitmap containers), so the dense form doubles the memory of
// the BSI fields that ranges run on. It is built on a view's first range
// query, reusing the words of slices unchanged since the previous view.

const (
	blockWords = 1024 // words per block: one roaring container
	blockShift = 10
)

// denseBSI is the dense form of a BSIView's slices.
type denseBSI struct {
	words  int        // words per slice, covering every row with a value
	slices [][]uint64 // slices[i] is nil when slice i is empty
	exist  []uint64
	// nonzero[i][b] reports whether slice i has a bit in block b.
	nonzero [][]bool
	// vers are the versions of the bitmaps the words came from, so a
	// later view reuses the words of bitmaps that did not change.
	vers      []uint64
	existVer  uint64
	blocksLen int
}

// minParallelWords is the smallest comparison (in words) split across
// cores: below ~4M rows the goroutines cost more than they save.
const minParallelWords = 1 << 16

// denseOf builds the dense form of v, reusing prev's words for slices
// whose version did not change. The slices are written on every core:
// at 100M profiles each is 12.5 MB, and a field's first range count (or
// the first lookalike, for every numeric field) waited ~0.6 s a field on
// one core.
func denseOf(v *BSIView, prev *denseBSI) *denseBSI {
	return denseOfOn(v, prev, runtime.GOMAXPROCS(0), minParallelWords)
}

func denseOfOn(v *BSIView, prev *denseBSI, procs, minWords int) *denseBSI {
	d := &denseBSI{}
	if !v.exist.IsEmpty() {
		d.words = int(v.exist.Maximum())/64 + 1
	}
	d.blocksLen = (d.words + blockWords - 1) >> blockShift
	reuse := prev != nil && prev.words == d.words
	if reuse && prev.existVer == v.existVer {
		d.exist = prev.exist
	} else {
		d.exist = toDense(v.exist, d.words)
	}
	d.existVer = v.existVer
	d.slices = make([][]uint64, v.depth)
	d.nonzero = make([][]bool, v.depth)
	d.vers = make([]uint64, v.depth)
	copy(d.vers, v.vers)
	split(v.depth, d.words, procs, minWords, func(from, to int) uint64 {
		for i := from; i < to; i++ {
			if reuse && i < len(prev.vers) && prev.vers[i] == v.vers[i] {
				d.slices[i], d.nonzero[i] = prev.slices[i], prev.nonzero[i]
				continue
			}
			if v.slices[i].IsEmpty() {
				continue
			}
			d.slices[i] = toDense(v.slices[i], d.words)
			nz := make([]bool, d.blocksLen)
			for b := range nz {
				for _, w := range d.slices[i][b<<blockShift : min((b+1)<<blockShift, d.words)] {
					if w != 0 {
						nz[b] = true
						break
					}
				}
			}
			d.nonzero[i] = nz
		}
		return 0
	})
	return d
}

func toDense(b *roaring.Bitmap, words int) []uint64 {
	out := make([]uint64, words)
	if !b.IsEmpty() {
		b.WriteDenseTo(out)
	}
	return out
}

// scratch is one goroutine's working state for a block.
type scratch struct {
	base, qa, qb [blockWords]uint64
	any          [blockWords]uint64 // a block of an AnyOf union (WordSets)
	idx          [blockWords]uint16 // words of base holding rows (sparseBlock)
	// walkOnly makes block walk the slices a pass at a time even where
	// wordops.Between runs as a vector kernel (tests of the walk).
	walkOnly bool
}

// gtForm is a comparison of offsets written with "offset > x" sets, which
// the least-significant-first walk (O'Neil–Quass) computes: the rows with
// a value in gt(a) (if hasA) and not in gt(b) (if hasB); with ne, the
// rows with a value not in that; with empty, none.
type gtForm struct {
	a, b       uint64
	hasA, hasB bool
	ne, empty  bool
}

// rangeFor is "offset op c", for an offset c that fits the depth:
// > c is gt(c), >= c is gt(c−1), < c is not gt(c−1), <= c is not gt(c),
// = c is both bounds of BETWEEN c AND c.
func rangeFor(op Op, c uint64) gtForm {
	switch op {
	case GT:
		return gtForm{a: c, hasA: true}
	case GE:
		return betweenRange(c, ^uint64(0))
	case LT:
		if c == 0 {
			return gtForm{empty: true}
		}
		return gtForm{b: c - 1, hasB: true}
	case LE:
		return gtForm{b: c, hasB: true}
	}
	f := betweenRange(c, c) // EQ, NE
	f.ne = op == NE
	return f
}

// result is the comparison's rows among x (rows with a value), given the
// "offset > a" rows qa and the "offset > b" rows qb of the walk.
func (f gtForm) result(x, qa, qb uint64) uint64 {
	y := x
	if f.hasA {
		y &= qa
	}
	if f.hasB {
		y &^= qb
	}
	if f.ne {
		y = x &^ y
	}
	return y
}

// betweenRange is lo <= offset <= hi (hi = ^0: no upper bound).
func betweenRange(lo, hi uint64) gtForm {
	var f gtForm
	if lo > 0 {
		f.a, f.hasA = lo-1, true
	}
	if hi != ^uint64(0) {
		f.b, f.hasB = hi, true
	}
	return f
}

// block evaluates the comparison on block blk, restricted to within
// (dense words, nil for all), writes the result words to out when it is
// set, and returns their cardinality. It walks the block's slices from
// the least significant: one in-place pass per slice and bound over arrays
// that stay in the cache. (A most-significant-first walk that stops once
// every row of the block is decided was measured slower even for
// 23-slice fields: its passes carry two stores, and stopping saves only
// the lowest few slices.)
func (d *denseBSI) block(form *gtForm, blk int, within, out []uint64, sc *scratch) uint64 {
	// A local copy: read through the pointer, its fields would be loaded
	// again after every store to out in the loops below.
	f := *form
	start := blk << blockShift
	end := min(start+blockWords, d.words)
	n := end - start
	base := sc.base[:n]
	if within != nil {
		// A block with few rows of within goes word by word, reading
		// only the words of the slices that hold some. Its rows bound
		// those words: a vector count decides most blocks, and only a
		// block with few rows is walked to list its words.
		within := within[start:end]
		rows := wordops.Count(within)
		if f.empty || rows == 0 {
			if out != nil {
				clear(out[start:end])
			}
			return 0
		}
		exist := d.exist[start:end]
		if rows*sparseWords < n {
			idx := sc.idx[:0]
			for w, x := range within {
				if x != 0 {
					idx = append(idx, uint16(w))
					base[w] = exist[w] & x
				}
			}
			return d.sparseBlock(&f, blk, start, base, idx, out, sc)
		}
		copy(base, exist)
		wordops.And(base, within)
	} else {
		if f.empty {
			if out != nil {
				clear(out[start:end])
			}
			return 0
		}
		copy(base, d.exist[start:end])
	}
	if !f.ne && !sc.walkOnly && wordops.BetweenVector() && len(d.slices) <= wordops.MaxSlices {
		// One pass over the block, every slice read once (see
		// wordops.Between).
		var sl [wordops.MaxSlices][]uint64
		for i, s := range d.slices {
			if s != nil && d.nonzero[i][blk] {
				sl[i] = s[start:end]
			}
		}
		got := wordops.Between(base, sl[:len(d.slices)], f.a, f.b, f.hasA, f.hasB)
		if out != nil {
			copy(out[start:end], base)
		}
		return uint64(got)
	}
	qa, qb := sc.qa[:n], sc.qb[:n]
	// A pass starts from no row greater: passes that AND into it are
	// skipped until the first OR, which is a copy (walk.step).
	wa, wb := walk{q: qa, zero: true}, walk{q: qb, zero: true}
	for i, sl := range d.slices {
		var s []uint64
		if sl != nil && d.nonzero[i][blk] {
			s = sl[start:end]
		}
		if f.hasA {
			wa.step(f.a&(1<<i) != 0, s)
		}
		if f.hasB {
			wb.step(f.b&(1<<i) != 0, s)
		}
	}
	if f.ne {
		// Rare: != keeps the rows with a value outside the interval.
		wa.finish()
		wb.finish()
		var cnt int
		for w, x := range base {
			y := f.result(x, qa[w], qb[w])
			if out != nil {
				out[start+w] = y
			}
			cnt += bits.OnesCount64(y)
		}
		return uint64(cnt)
	}
	// base &= gt(a), base &^= gt(b), as whole-block passes.
	if f.hasA {
		if wa.zero {
			clear(base)
		} else {
			wordops.And(base, qa)
		}
	}
	if f.hasB && !wb.zero {
		wordops.AndNot(base, qb)
	}
	if out != nil {
		copy(out[start:end], base)
	}
	return uint64(wordops.Count(base))
}

// walk is one bound's O'Neil–Quass "offset > x" pass over a block, q
// holding the rows greater so far; zero reports that q holds no row yet,
// so that its words need not be written until a slice ORs into it.
type walk struct {
	q    []uint64
	zero bool
}

// step advances the pass by slice bit i of x (one): where x has a 1 a row
// stays greater only with a 1 too (q AND s); where it has a 0, a 1 makes
// any row greater (q OR s). A nil s is a slice with no bit in the block.
// Passes whose result is known are skipped: an AND into no rows, an OR of
// no bits, and the first OR into no rows is a copy.
func (k *walk) step(one bool, s []uint64) {
	switch {
	case one && (s == nil || k.zero):
		k.zero = true
	case one:
		wordops.And(k.q, s)
	case s == nil:
	case k.zero:
		copy(k.q, s)
		k.zero = false
	default:
		wordops.Or(k.q, s)
	}
}

// finish writes q's words out when it still holds no row.
func (k *walk) finish() {
	if k.zero {
		clear(k.q)
	}
}

// sparseWords is the ratio of a block's words to its words holding rows
// of within below which the comparison runs on just those words (see
// sparseBlock). Measured on ranges over 7 and 27 slices
// (BenchmarkSparseBlock), gathering the words wins up to about every
// other word holding rows, and loses by up to half beyond.
const sparseWords = 2

// sparseBlock is block for a block whose rows sit in few words, listed
// in idx (base holds, at those words only, the rows of within with a
// value; the block starts at word start): the same least significant
// first walk, each pass gathering the slice's words at idx only.
func (d *denseBSI) sparseBlock(f *gtForm, blk, start int, base []uint64, idx []uint16, out []uint64, sc *scratch) uint64 {
	qa, qb := sc.qa[:len(idx)], sc.qb[:len(idx)]
	clear(qa)
	clear(qb)
	for i, sl := range d.slices {
		var s []uint64
		if sl != nil && d.nonzero[i][blk] {
			s = sl[start : start+len(base)]
		}
		if f.hasA {
			gatherGT(f.a&(1<<i) != 0, s, idx, qa)
		}
		if f.hasB {
			gatherGT(f.b&(1<<i) != 0, s, idx, qb)
		}
	}
	if out != nil {
		// out may be within itself: base already holds what is needed.
		clear(out[start : start+len(base)])
	}
	var cnt int
	for j, w := range idx {
		y := f.result(base[w], qa[j], qb[j])
		if out != nil {
			out[start+int(w)] = y
		}
		cnt += bits.OnesCount64(y)
	}
	return uint64(cnt)
}

// gatherGT is stepGT on the words of s at idx, q[j] holding word idx[j].
func gatherGT(one bool, s []uint64, idx []uint16, q []uint64) {
	switch {
	case one && s == nil:
		clear(q)
	case one:
		for j, w := range idx {
			q[j] &= s[w]
		}
	case s != nil:
		for j, w := range idx {
			q[j] |= s[w]
		}
	}
}

// run evaluates the comparison over every block, restricted to within
// (dense words, nil for all), writes the result words to out when it is
// set, and returns the result's cardinality.
func (d *denseBSI) run(r *gtForm, within []uint64, out []uint64) uint64 {
	return d.runOn(r, within, out, runtime.GOMAXPROCS(0), minParallelWords)
}

// runOn is run on up to procs goroutines when the slices have at least
// minWords words.
func (d *denseBSI) runOn(r *gtForm, within []uint64, out []uint64, procs, minWords int) uint64 {
	blocks := d.blocksLen
	part := func(from, to int) uint64 {
		sc := new(scratch)
		var n uint64
		for blk := from; blk < to; blk++ {
			n += d.block(r, blk, within, out, sc)
		}
		return n
	}
	return split(blocks, d.words, procs, minWords, part)
}

// dense returns the view's dense form, building it on first use.
func (v *BSIView) dense() *denseBSI {
	v.denseOnce.Do(func() {
		v.denseForm.Store(denseOf(v, v.denseSeed.Load()))
		v.denseSeed.Store(nil)
	})
	return v.denseForm.Load()
}

// extreme returns the largest (or smallest) offset any row holds, and
// false when no row has a value: BSIView.extreme's descent from the top
// slice (keep the rows with the bit if any has it, for the largest; those
// without it if any lacks it, for the smallest), made for each block of
// rows in two arrays that stay in the first-level cache, and the blocks'
// results compared. A block whose top bits already fall short of the best
// so far stops there.
func (d *denseBSI) extreme(largest bool) (uint64, bool) {
	var cand, next [blockWords]uint64
	depth := len(d.slices)
	var best uint64
	found := false
	for b := range d.blocksLen {
		lo, hi := b<<blockShift, min((b+1)<<blockShift, d.words)
		c := cand[:hi-lo]
		var any uint64
		for j, w := range d.exist[lo:hi] {
			c[j] = w
			any |= w
		}
		if any == 0 {
			continue
		}
		var u uint64
		beaten := false
		for i := depth - 1; i >= 0 && !beaten; i-- {
			var s []uint64
			if d.slices[i] != nil && d.nonzero[i][b] {
				s = d.slices[i][lo:hi]
			}
			bit := uint64(1) << i
			switch {
			case s == nil && largest:
				// No row of the block has the bit.
			case s == nil:
				// Every row lacks it: the smallest keeps them all.
			default:
				t := next[:hi-lo]
				any = 0
				if largest {
					for j := range c {
						t[j] = c[j] & s[j]
						any |= t[j]
					}
				} else {
					for j := range c {
						t[j] = c[j] &^ s[j]
						any |= t[j]
					}
				}
				if any != 0 {
					copy(c, t)
					if largest {
						u |= bit
					}
				} else if !largest {
					u |= bit
				}
			}
			// The block's bits from i up are settled: past the best's
			// there, it cannot win.
			if found {
				top := ^(bit - 1)
				beaten = largest && u&top < best&top || !largest && u&top > best&top
			}
		}
		if beaten {
			continue
		}
		if !found || largest && u > best || !largest && u < best {
			best, found = u, true
		}
	}
	return best, found
}

// ValuesOf appends to dst the values of those of rows (any order) that
// have one, in the order of rows, read from the dense form (built on the
// view's first use and kept). A row's value is a bit from each slice at
// the same word: plain loads that do not wait on each other, where
// ANDing a set spread over the rows with each slice's bitmap walks a
// chain of container pointers per container it meets (a 1,000-row seed
// over 10M profiles: ~2 ms for a 30-slice field, a tenth of it here).
func (v *BSIView) ValuesOf(dst []int64, rows []uint32) []int64 {
	d := v.dense()
	for _, r := range rows {
		w, bit := int(r/64), r%64
		if w >= d.words || d.exist[w]>>bit&1 == 0 {
			continue
		}
		var u uint64
		for i, s := range d.slices {
			if s != nil {
				u |= (s[w] >> bit & 1) << i
			}
		}
		dst = append(dst, v.lo+int64(u))
	}
	return dst
}

// BetweenWords sets dst to the rows of words from..from+len(dst)-1 (row
// r is bit r%64 of word r/64) whose value lies in [lo, hi], read from the
// dense form (built on the view's first use and kept, as for the range
// kernels): one wordops.Between pass over windows of the slices, no
// bitmap built. It is for a caller that tests ranges of a field over many
// row ranges, as the lookalike scores numeric buckets shard by shard.
func (v *BSIView) BetweenWords(dst []uint64, from int, lo, hi int64) {
	d := v.dense()
	n := min(len(dst), max(0, d.words-from)) // rows past the words have no value
	clear(dst[n:])
	lo, hi = max(lo, v.lo), min(hi, v.hi)
	ulo, uhi := uint64(lo-v.lo), uint64(hi-v.lo)
	if v.depth < 64 {
		uhi = min(uhi, 1<<v.depth-1)
	}
	if n == 0 || lo > hi || ulo > uhi {
		clear(dst[:n])
		return
	}
	f := v.storedRange(lo, hi, ulo, uhi)
	var win [wordops.MaxSlices][]uint64 // slice headers, on the stack
	sl := win[:len(d.slices)]
	for i, s := range d.slices {
		if s != nil {
			sl[i] = s[from : from+n]
		}
	}
	copy(dst[:n], d.exist[from:from+n])
	wordops.Between(dst[:n], sl, f.a, f.b, f.hasA, f.hasB)
}

// rowWords writes within as words covering words words (nil for nil).
// Rows beyond them are cut: no row past a field's last value matches.
func rowWords(within *roaring.Bitmap, words int) []uint64 {
	if within == nil {
		return nil
	}
	out := make([]uint64, words)
	writeWords(out, within)
	return out
}

// andWith clears the words of dst whose rows are not in b.
func andWith(dst []uint64, b *roaring.Bitmap) {
	AndWords(dst, make([]uint64, len(dst)), b)
}

// denseCompare answers a comparison on offsets from the dense form, as a
// bitmap (count false) or only its cardinality (count true).
func (v *BSIView) denseCompare(r gtForm, within *roaring.Bitmap, count bool) (*roaring.Bitmap, uint64) {
	if count {
		return nil, CountAll(nil, within, []RangeCond{{v, r}})
	}
	d := v.dense()
	if d.words == 0 {
		return roaring.New(), 0
	}
	out := make([]uint64, d.words)
	n := d.run(&r, rowWords(within, d.words), out)
	if n == 0 {
		return roaring.New(), 0
	}
	return roaring.FromDense(out, false), n
}

// RangeCond is a comparison on one bit-sliced index in the form the dense
// kernels take, for CountAll.
type RangeCond struct {
	v *BSIView
	r gtForm
}

// CompareCond returns "value op c" as a RangeCond, or false when the
// comparison is answered better another way (a constant outside the
// stored offsets, equality from per-value bitmaps).
func (v *BSIView) CompareCond(op Op, c int64) (RangeCond, bool) {
	if c < v.lo || (v.eq != nil && op == EQ) {
		return RangeCond{}, false
	}
	u := uint64(c - v.lo)
	if v.depth < 64 && u>>v.depth != 0 {
		return RangeCond{}, false
	}
	return RangeCond{v, rangeFor(op, u)}, true
}

// BetweenCond returns "lo <= value <= hi" as a RangeCond, or false as for
// CompareCond.
func (v *BSIView) BetweenCond(lo, hi int64) (RangeCond, bool) {
	lo, hi = max(lo, v.lo), min(hi, v.hi)
	if lo > hi || (v.eq != nil && hi-lo < maxEqualityUnion) {
		return RangeCond{}, false
	}
	ulo, uhi := uint64(lo-v.lo), uint64(hi-v.lo)
	if v.depth < 64 {
		if ulo>>v.depth != 0 {
			return RangeCond{}, false
		}
		uhi = min(uhi, 1<<v.depth-1)
	}
	if v.depth < 64 && uhi == 1<<v.depth-1 {
		uhi = ^uint64(0) // no offset lies above: no upper walk
	}
	return RangeCond{v, betweenRange(ulo, uhi)}, true
}

// storedRange is betweenRange(ulo, uhi), the offsets of lo and hi, without
// a bound that every stored value meets (Range): a walk over every slice
// that lets every row through. The lookalike's last bucket of each
// numeric field is such a range, scored on every call. It asks for the
// view's Range, which is computed on first use (the lookalike has asked
// for it already; a first count would pay for it, so BetweenCond does
// not ask).
func (v *BSIView) storedRange(lo, hi int64, ulo, uhi uint64) gtForm {
	if mn, mx, ok := v.Range(); ok {
		if lo <= mn {
			ulo = 0
		}
		if hi >= mx {
			uhi = ^uint64(0)
		}
	}
	return betweenRange(ulo, uhi)
}

// CountAll counts the rows of within (nil: every row) that satisfy every
// condition, in one pass over the blocks: each block's rows go through
// the conditions in turn while they sit in the cache, and no bitmap is
// built. Large counts split the blocks across cores. The words it works
// in come from pool (nil: allocated).
func CountAll(pool *WordPool, within *roaring.Bitmap, conds []RangeCond) uint64 {
	return countAllOn(pool, within, conds, runtime.GOMAXPROCS(0), minParallelWords)
}

// countAllOn is CountAll on up to procs goroutines from minWords words.
func countAllOn(pool *WordPool, within *roaring.Bitmap, conds []RangeCond, procs, minWords int) uint64 {
	if len(conds) == 0 {
		if within == nil {
			return 0
		}
		return within.GetCardinality()
	}
	ds, words := densesOf(conds)
	if words == 0 {
		return 0
	}
	if within != nil && within.GetCardinality()*sparseShare < uint64(words)*64 {
		return countSparse(within, conds)
	}
	var cur []uint64
	switch {
	case within != nil:
		cur = pool.Get(words)
		WriteWordsTo(cur, within)
	case len(conds) > 1:
		cur = pool.Get(words)
		for i := range cur {
			cur[i] = ^uint64(0)
		}
	}
	n := countWordsOn(cur, ds, conds, procs, minWords)
	pool.Put(cur)
	return n
}

// CondWords is the number of words CountAllWords reads of within: rows
// past them have no value in some condition's field, so none matches.
func CondWords(conds []RangeCond) int {
	words := 0
	for i, c := range conds {
		d := c.v.dense()
		if i == 0 || d.words < words {
			words = d.words
		}
	}
	return words
}

// CountAllWords is CountAll for within given as words (row r is bit r%64
// of word r/64), such as an AND's running result kept in word space. It
// writes the rows that match into within's words as it goes: the caller
// gives up the array.
func CountAllWords(within []uint64, conds []RangeCond) uint64 {
	return countAllWordsOn(within, conds, runtime.GOMAXPROCS(0), minParallelWords)
}

func countAllWordsOn(within []uint64, conds []RangeCond, procs, minWords int) uint64 {
	if len(conds) == 0 {
		return popcount(within)
	}
	ds, words := densesOf(conds)
	if len(within) < words {
		// Rows past within are not in it.
		ext := make([]uint64, words)
		copy(ext, within)
		within = ext
	}
	return countWordsOn(within[:words], ds, conds, procs, minWords)
}

func popcount(words []uint64) uint64 {
	var n int
	for _, w := range words {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// densesOf returns the dense forms of the conditions' fields and the most
// words any spans.
func densesOf(conds []RangeCond) ([]*denseBSI, int) {
	ds := make([]*denseBSI, len(conds))
	words := 0
	for i, c := range conds {
		ds[i] = c.v.dense()
		words = max(words, ds[i].words)
	}
	return ds, words
}

// countWordsOn counts the rows of cur (words words, nil: every row) that
// satisfy every condition, block by block, writing each condition's
// result back into cur for the next.
func countWordsOn(cur []uint64, ds []*denseBSI, conds []RangeCond, procs, minWords int) uint64 {
	if len(conds) == 1 {
		// Nothing to carry from one condition to the next: no array of
		// running results.
		return ds[0].runOn(&conds[0].r, cur, nil, procs, minWords)
	}
	return countFilledOn(cur, nil, ds, conds, procs, minWords)
}

// countFilledOn is countWordsOn with each block of cur first written by
// fill (nil: cur holds the rows already), just before the conditions
// read it.
func countFilledOn(cur []uint64, fill func(dst []uint64, start int, sc *scratch), ds []*denseBSI, conds []RangeCond, procs, minWords int) uint64 {
	words := len(cur)
	blocks := (words + blockWords - 1) >> blockShift
	part := func(from, to int) uint64 {
		sc := new(scratch)
		var n uint64
		for blk := from; blk < to; blk++ {
			if fill != nil {
				start := blk << blockShift
				fill(cur[start:min(start+blockWords, words)], start, sc)
			}
			var got uint64
			for i, d := range ds {
				if blk >= d.blocksLen {
					// No row of this block has a value: none matches.
					start := blk << blockShift
					clear(cur[start:min(start+blockWords, words)])
					got = 0
					break
				}
				got = d.block(&conds[i].r, blk, cur, cur, sc)
				// Rows of the block past this field's last value were
				// not written by block: they fail the condition.
				start := blk << blockShift
				if end := min(start+blockWords, words); d.words < end {
					clear(cur[max(d.words, start):end])
				}
				if got == 0 {
					break
				}
			}
			n += got
		}
		return n
	}
	return split(blocks, words, procs, minWords, part)
}

// split runs part over the blocks, on up to procs goroutines each taking
// a contiguous range of blocks when there are at least minWords words,
// and sums what the parts return.
func split(blocks, words, procs, minWords int, part func(from, to int) uint64) uint64 {
	if procs < 2 || words < minWords || blocks < 2 {
		return part(0, blocks)
	}
	procs = min(procs, blocks)
	counts := make([]uint64, procs)
	var wg sync.WaitGroup
	for p := range procs {
		from, to := blocks*p/procs, blocks*(p+1)/procs
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[p] = part(from, to)
		}()
	}
	wg.Wait()
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n
}
