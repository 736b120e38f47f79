package index

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
)

// Op is a comparison answered by a bit-sliced index.
type Op uint8

// Comparisons.
const (
	EQ Op = iota + 1
	NE
	LT
	LE
	GT
	GE
)

var opNames = [...]string{EQ: "=", NE: "!=", LT: "<", LE: "<=", GT: ">", GE: ">="}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// BSI is a bit-sliced index of an integer field (int, scaled decimal, day
// number). Values are stored as offsets from the field's lower bound, one
// bitmap per bit of the offset, so comparisons run over at most 64 bitmaps
// whatever the number of profiles (O'Neil & Quass).
type BSI struct {
	lo, hi int64
	slices []*cowBitmap // slices[i] holds rows whose offset has bit i set
	exist  *cowBitmap
	// eq holds one bitmap per value for fields with at most
	// MaxEqualityValues values (age, scores on a small scale): "age = 30"
	// or a range of a few values is then a lookup instead of a pass over
	// every slice. It costs about two bytes per profile. (Wider ranges
	// were measured faster from the slices, even inside an AND.)
	eq   []*cowBitmap
	last *BSIView
}

// MaxEqualityValues is the widest declared range that also gets one
// bitmap per value.
const MaxEqualityValues = 256

// maxEqualityUnion is the widest range answered from the per-value
// bitmaps; wider ranges read the slices.
const maxEqualityUnion = 4

// NewBSI returns an empty index for values in [lo, hi].
func NewBSI(lo, hi int64) *BSI {
	n := bits.Len64(uint64(hi - lo))
	x := &BSI{lo: lo, hi: hi, slices: make([]*cowBitmap, n), exist: newCOW()}
	for i := range x.slices {
		x.slices[i] = newCOW()
	}
	if hi-lo < MaxEqualityValues {
		x.eq = make([]*cowBitmap, hi-lo+1)
		for i := range x.eq {
			x.eq[i] = newCOW()
		}
	}
	return x
}

// offset reads row's stored offset back from the writer's slices.
func (x *BSI) offset(row uint32) uint64 {
	var u uint64
	for i, s := range x.slices {
		if s.contains(row) {
			u |= 1 << i
		}
	}
	return u
}

// Set stores v for row. The caller has checked v against the bounds.
func (x *BSI) Set(row uint32, v int64) {
	u := uint64(v - x.lo)
	had := x.exist.contains(row)
	x.exist.add(row)
	if had {
		if x.eq != nil {
			x.eq[x.offset(row)].remove(row)
		}
		for i, s := range x.slices {
			if u&(1<<i) == 0 {
				s.remove(row)
			}
		}
	}
	if x.eq != nil {
		x.eq[u].add(row)
	}
	for u != 0 {
		i := bits.TrailingZeros64(u)
		x.slices[i].add(row)
		u &^= 1 << i
	}
}

// Unset clears row's value.
func (x *BSI) Unset(row uint32) {
	if !x.exist.contains(row) {
		return
	}
	if x.eq != nil {
		x.eq[x.offset(row)].remove(row)
	}
	x.exist.remove(row)
	for _, s := range x.slices {
		s.remove(row)
	}
}

// Compact rebuilds at exact size the bitmaps' small grown tails (see
// cowBitmap.compactBetween), between publications.
func (x *BSI) Compact() {
	x.exist.compactBetween()
	for _, b := range x.eq {
		b.compactBetween()
	}
	for _, b := range x.slices {
		b.compactBetween()
	}
}

// View publishes the current state.
func (x *BSI) View() *BSIView {
	dirty := x.last == nil || x.exist.dirty
	for _, s := range x.slices {
		dirty = dirty || s.dirty
	}
	if !dirty {
		return x.last
	}
	v := &BSIView{lo: x.lo, hi: x.hi, exist: x.exist.publish(), slices: make([]*roaring.Bitmap, len(x.slices))}
	v.existVer = x.exist.ver
	v.kept = newKeptCache[rangeKey](uint64(x.exist.maxRow + 1))
	v.vers = make([]uint64, len(x.slices))
	if x.last != nil {
		// The previous view's dense form (or the one it would have
		// reused) lends the words of unchanged slices.
		seed := x.last.denseForm.Load()
		if seed == nil {
			seed = x.last.denseSeed.Load()
		}
		v.denseSeed.Store(seed)
	}
	if x.eq != nil {
		v.eq = make([]*roaring.Bitmap, len(x.eq))
		for i, b := range x.eq {
			v.eq[i] = b.publish()
		}
	}
	for i, s := range x.slices {
		v.slices[i] = s.publish()
		v.vers[i] = s.ver
		if !v.slices[i].IsEmpty() {
			v.depth = i + 1
		}
	}
	x.last = v
	return v
}

// BSIView is an immutable view of a BSI.
type BSIView struct {
	lo, hi int64
	slices []*roaring.Bitmap
	depth  int // slices above depth are empty: no stored offset reaches them
	exist  *roaring.Bitmap
	eq     []*roaring.Bitmap // per value, for narrow fields (see BSI.eq)

	rangeOnce      sync.Once
	minVal, maxVal int64
	hasRange       bool

	sampleOnce sync.Once
	sample     []int64

	// The dense form for range comparisons (bsidense.go), built once on
	// first use from denseSeed (the previous view's) and the versions of
	// the bitmaps.
	vers      []uint64
	existVer  uint64
	denseOnce sync.Once
	denseForm atomic.Pointer[denseBSI]
	denseSeed atomic.Pointer[denseBSI]

	// kept holds ranges asked for more than once (bsikept.go); nil in
	// views built by hand.
	kept *keptCache[rangeKey]
}

// Range returns the smallest and largest stored values, computed once per
// view (views are immutable) so planners can consult it freely.
func (v *BSIView) Range() (lo, hi int64, ok bool) {
	v.rangeOnce.Do(func() {
		v.minVal, v.hasRange = v.Min(nil)
		v.maxVal, _ = v.Max(nil)
	})
	return v.minVal, v.maxVal, v.hasRange
}

// Exists returns the profiles with a value (shared; read-only).
func (v *BSIView) Exists() *roaring.Bitmap { return v.exist }

// Bounds returns the declared range of values.
func (v *BSIView) Bounds() (lo, hi int64) { return v.lo, v.hi }

// Value reads row's value back.
func (v *BSIView) Value(row uint32) (int64, bool) {
	if !v.exist.Contains(row) {
		return 0, false
	}
	var u uint64
	for i := 0; i < v.depth; i++ {
		if v.slices[i].Contains(row) {
			u |= 1 << i
		}
	}
	return v.lo + int64(u), true
}

// SampleSize is how many values Sample reads: 1024 evenly ranked rows
// place a quantile within about 0.1 % of its rank.
const SampleSize = 1024

// Sample returns the values of up to SampleSize profiles evenly spaced by
// rank among those with a value, sorted: deterministic, and read once per
// view (a lookalike cuts every numeric field into quantile buckets on
// every call; a profile's value is a lookup in each bit slice, about 10
// ms over five fields). Shared: read-only.
func (v *BSIView) Sample() []int64 {
	v.sampleOnce.Do(func() {
		n := v.exist.GetCardinality()
		m := min(uint64(SampleSize), n)
		v.sample = make([]int64, 0, m)
		for i := range m {
			row, err := v.exist.Select(uint32(i * n / m))
			if err != nil {
				continue
			}
			if x, ok := v.Value(row); ok {
				v.sample = append(v.sample, x)
			}
		}
		slices.Sort(v.sample)
	})
	return v.sample
}

// Compare returns the profiles whose value satisfies "value op c". Profiles
// without a value never match. The result is a new bitmap owned by the
// caller.
func (v *BSIView) Compare(op Op, c int64) *roaring.Bitmap { return v.CompareWithin(op, c, nil) }

// CompareWithin is Compare restricted to the rows of within (nil: all).
// Restricting first is what makes a range cheap inside an AND: every
// slice operation then runs on the running intersection, not on every
// profile with a value.
func (v *BSIView) CompareWithin(op Op, c int64, within *roaring.Bitmap) *roaring.Bitmap {
	b, _ := v.compareWithin(op, c, within, false)
	return b
}

// CountCompareWithin is the cardinality of CompareWithin, computed
// without building the bitmap where that is cheaper.
func (v *BSIView) CountCompareWithin(op Op, c int64, within *roaring.Bitmap) uint64 {
	_, n := v.compareWithin(op, c, within, true)
	return n
}

// CountCompareQuiet is CountCompareWithin(op, c, nil), remembered by the
// view (see keptCache.countOf) without counting as a use of the range: a
// lookalike counts every numeric field's bucket bounds on every call, and
// asking for them as ranges would have each built and kept.
func (v *BSIView) CountCompareQuiet(op Op, c int64) uint64 {
	count := func() uint64 { return v.CountCompareWithin(op, c, nil) }
	lo, hi, ok := CompareBounds(op, c)
	if !ok {
		return count()
	}
	k, ok := v.rangeKey(lo, hi)
	if !ok {
		return count()
	}
	return v.kept.countOf(k, count)
}

// compareWithin answers CompareWithin; with count, only the cardinality
// is sure to be set.
func (v *BSIView) compareWithin(op Op, c int64, within *roaring.Bitmap, count bool) (*roaring.Bitmap, uint64) {
	done := func(b *roaring.Bitmap) (*roaring.Bitmap, uint64) { return b, b.GetCardinality() }
	if c < v.lo {
		return done(v.outside(op, true, within))
	}
	u := uint64(c - v.lo)
	if v.depth < 64 && u>>v.depth != 0 {
		return done(v.outside(op, false, within))
	}
	if v.eq != nil && op == EQ {
		return done(v.valuesBetween(u, u, within))
	}
	if v.small(within) {
		return done(compareSlices(v.slices[:v.depth], roaring.And(v.exist, within), op, u))
	}
	if op == GE && u == 0 {
		if within != nil {
			return done(roaring.And(v.exist, within))
		}
		return done(v.exist.Clone())
	}
	return v.denseCompare(rangeFor(op, u), within, count)
}

// small reports whether within is sparse enough that restricting every
// slice operation to it beats the whole-index algorithm. Restricted
// operations run over the (shrinking) rows still equal to the constant's
// prefix, three per slice; whole ones over every row with a value, one
// per slice. Measured at 1M and 10M profiles, the crossing is near one
// row in 16.
func (v *BSIView) small(within *roaring.Bitmap) bool {
	return within != nil && within.GetCardinality()*16 < v.exist.GetCardinality()
}

// Between returns the profiles with lo <= value <= hi.
func (v *BSIView) Between(lo, hi int64) *roaring.Bitmap { return v.BetweenWithin(lo, hi, nil) }

// BetweenWithin is Between restricted to the rows of within (nil: all).
// On the whole index it is "greater than lo-1" minus "greater than hi".
func (v *BSIView) BetweenWithin(lo, hi int64, within *roaring.Bitmap) *roaring.Bitmap {
	b, _ := v.betweenWithin(lo, hi, within, false)
	return b
}

// CountBetweenWithin is the cardinality of BetweenWithin, computed without
// building the bitmap where that is cheaper.
func (v *BSIView) CountBetweenWithin(lo, hi int64, within *roaring.Bitmap) uint64 {
	_, n := v.betweenWithin(lo, hi, within, true)
	return n
}

func (v *BSIView) betweenWithin(lo, hi int64, within *roaring.Bitmap, count bool) (*roaring.Bitmap, uint64) {
	done := func(b *roaring.Bitmap) (*roaring.Bitmap, uint64) { return b, b.GetCardinality() }
	if lo > hi {
		return done(roaring.New())
	}
	// A bound beyond the stored values is no bound: "registered in the
	// last 365 days" needs no upper pass when no date lies in the future.
	if mn, mx, ok := v.Range(); ok {
		if lo <= mn && hi >= mx {
			return v.compareWithin(GE, mn, within, count) // everyone with a value
		}
		if hi >= mx {
			return v.compareWithin(GE, lo, within, count)
		}
		if lo <= mn {
			return v.compareWithin(LE, hi, within, count)
		}
	}
	// Per-value bitmaps pay for a handful of values (measured: for age
	// 25–35 the slices win, inside an AND or not).
	if v.eq != nil && hi-lo < maxEqualityUnion {
		return done(v.valuesBetween(uint64(max(lo, v.lo)-v.lo), uint64(min(hi, v.hi)-v.lo), within))
	}
	if v.small(within) || lo <= v.lo || hi >= v.hi {
		r := v.CompareWithin(GE, lo, within)
		if r.IsEmpty() {
			return done(r)
		}
		return v.compareWithin(LE, hi, r, count)
	}
	ulo, uhi := uint64(lo-v.lo), uint64(hi-v.lo)
	if v.depth < 64 && ulo>>v.depth != 0 {
		return done(roaring.New())
	}
	if v.depth < 64 && uhi>>v.depth != 0 {
		return v.denseCompare(rangeFor(GE, ulo), within, count)
	}
	return v.denseCompare(betweenRange(ulo, uhi), within, count)
}

// valuesBetween unions the per-value bitmaps of offsets ulo..uhi.
func (v *BSIView) valuesBetween(ulo, uhi uint64, within *roaring.Bitmap) *roaring.Bitmap {
	if ulo > uhi || ulo >= uint64(len(v.eq)) {
		return roaring.New()
	}
	bms := v.eq[ulo : min(uhi, uint64(len(v.eq)-1))+1]
	if within != nil {
		parts := make([]*roaring.Bitmap, 0, len(bms))
		for _, b := range bms {
			parts = append(parts, roaring.And(b, within))
		}
		return roaring.FastOr(parts...)
	}
	return roaring.FastOr(bms...)
}

// outside answers a comparison with a constant below (below=true) or above
// every storable offset.
func (v *BSIView) outside(op Op, below bool, within *roaring.Bitmap) *roaring.Bitmap {
	all := op == NE || (below && (op == GT || op == GE)) || (!below && (op == LT || op == LE))
	switch {
	case !all:
		return roaring.New()
	case within != nil:
		return roaring.And(v.exist, within)
	}
	return v.exist.Clone()
}

// compareSlices runs the O'Neil–Quass comparison of the unsigned integer
// stored in slices (least significant first) against c, restricted to
// the rows of base, which it takes over. It walks from the most
// significant slice down, keeping the rows still equal to c's prefix and
// collecting those already known to be greater or smaller. c must fit in
// len(slices) bits.
func compareSlices(slices []*roaring.Bitmap, base *roaring.Bitmap, op Op, c uint64) *roaring.Bitmap {
	exist := base
	eq := base.Clone()
	needLT := op == LT || op == LE
	needGT := op == GT || op == GE
	lt, gt := roaring.New(), roaring.New()
	for i := len(slices) - 1; i >= 0 && !eq.IsEmpty(); i-- {
		s := slices[i]
		if c&(1<<i) != 0 {
			if needLT {
				lt.Or(roaring.AndNot(eq, s))
			}
			eq.And(s)
		} else {
			if needGT {
				gt.Or(roaring.And(eq, s))
			}
			eq.AndNot(s)
		}
	}
	switch op {
	case EQ:
		return eq
	case NE:
		exist.AndNot(eq)
		return exist
	case LT:
		return lt
	case LE:
		lt.Or(eq)
		return lt
	case GT:
		return gt
	case GE:
		gt.Or(eq)
		return gt
	}
	return roaring.New()
}

// Min returns the smallest stored value among rows of filter (all rows
// with a value when filter is nil), walking the slices from the top: at
// each bit, keep the rows with a 0 there if any remain.
func (v *BSIView) Min(filter *roaring.Bitmap) (int64, bool) { return v.extreme(filter, false) }

// Max returns the largest stored value among rows of filter.
func (v *BSIView) Max(filter *roaring.Bitmap) (int64, bool) { return v.extreme(filter, true) }

func (v *BSIView) extreme(filter *roaring.Bitmap, largest bool) (int64, bool) {
	if d := v.denseForm.Load(); filter == nil && d != nil {
		// The view holds its slices as words already (a range was
		// counted, or a lookalike read a seed's values): a block at a
		// time in the cache, no bitmap built. At 100M profiles the
		// bitmaps' descent below cloned and ANDed 12.5 MB per slice,
		// ~0.5 s a field, the first lookalike paying it for each.
		u, ok := d.extreme(largest)
		return v.lo + int64(u), ok
	}
	cand := v.exist.Clone()
	if filter != nil {
		cand.And(filter)
	}
	if cand.IsEmpty() {
		return 0, false
	}
	// Each step is tested before cand is cut in place (Intersects stops
	// at the first common row; a count tells whether some row lacks the
	// bit): a new bitmap per step made ~2 GB of garbage describing a
	// 100M dataset's numeric fields.
	var u uint64
	for i := v.depth - 1; i >= 0; i-- {
		s := v.slices[i]
		if largest {
			if cand.Intersects(s) {
				cand.And(s)
				u |= 1 << i
			}
			continue
		}
		if cand.AndCardinality(s) < cand.GetCardinality() {
			cand.AndNot(s)
		} else {
			u |= 1 << i
		}
	}
	return v.lo + int64(u), true
}
