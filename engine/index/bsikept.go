package index

import (
	"math"

	"github.com/RoaringBitmap/roaring/v2"
)

// rangeKey names a kept range: inclusive bounds on values, cut to the
// stored values so that "age >= 0" and "age BETWEEN 0 AND 200" share one
// entry.
type rangeKey struct{ lo, hi int64 }

// CompareBounds returns "value op c" as inclusive bounds lo <= value <=
// hi, or false for != (two ranges, not one) and for a comparison no value
// satisfies.
func CompareBounds(op Op, c int64) (lo, hi int64, ok bool) {
	switch op {
	case EQ:
		return c, c, true
	case GE:
		return c, math.MaxInt64, true
	case LE:
		return math.MinInt64, c, true
	case GT:
		if c == math.MaxInt64 {
			return 0, 0, false
		}
		return c + 1, math.MaxInt64, true
	case LT:
		if c == math.MinInt64 {
			return 0, 0, false
		}
		return math.MinInt64, c - 1, true
	}
	return 0, 0, false
}

// KeptRange returns the profiles with lo <= value <= hi if the view keeps
// them (see keptCache; this counts as a use: the range is built and kept
// on its second use), shared and read-only, or nil. A range that holds
// every stored value, or none, is never kept: Exists and an empty bitmap
// answer those as fast.
//
// A range kept this way turns a repeated range from a pass over every
// slice of the index into a bitmap like a tag value's: a count is its
// cardinality, an AND reads one bitmap instead of the slices.
func (v *BSIView) KeptRange(lo, hi int64) *roaring.Bitmap {
	k, ok := v.rangeKey(lo, hi)
	if !ok {
		return nil
	}
	return v.kept.use(k, func() *roaring.Bitmap { return v.BetweenWithin(k.lo, k.hi, nil) })
}

// KeptRangeWords returns the words of a kept range when the view keeps
// them (see keptCache.wordsOf), read-only, or nil. It does not count as a use.
func (v *BSIView) KeptRangeWords(lo, hi int64) []uint64 {
	k, ok := v.rangeKey(lo, hi)
	if !ok {
		return nil
	}
	return v.kept.wordsOf(k)
}

// rangeKey returns the key of lo..hi cut to the stored values, or false
// for a range never kept (all or none of them).
func (v *BSIView) rangeKey(lo, hi int64) (rangeKey, bool) {
	if v.kept == nil {
		return rangeKey{}, false
	}
	mn, mx, ok := v.Range()
	if !ok {
		return rangeKey{}, false
	}
	lo, hi = max(lo, mn), min(hi, mx)
	if lo > hi || (lo == mn && hi == mx) {
		return rangeKey{}, false
	}
	return rangeKey{lo, hi}, true
}
