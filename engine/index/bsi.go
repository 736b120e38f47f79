package index

import (
	"fmt"
	"math/bits"
	"sync"

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
	last   *BSIView
}

// NewBSI returns an empty index for values in [lo, hi].
func NewBSI(lo, hi int64) *BSI {
	n := bits.Len64(uint64(hi - lo))
	x := &BSI{lo: lo, hi: hi, slices: make([]*cowBitmap, n), exist: newCOW()}
	for i := range x.slices {
		x.slices[i] = newCOW()
	}
	return x
}

// Set stores v for row. The caller has checked v against the bounds.
func (x *BSI) Set(row uint32, v int64) {
	u := uint64(v - x.lo)
	if !x.exist.add(row) {
		for i, s := range x.slices {
			if u&(1<<i) == 0 {
				s.remove(row)
			}
		}
	}
	for u != 0 {
		i := bits.TrailingZeros64(u)
		x.slices[i].add(row)
		u &^= 1 << i
	}
}

// Unset clears row's value.
func (x *BSI) Unset(row uint32) {
	if !x.exist.remove(row) {
		return
	}
	for _, s := range x.slices {
		s.remove(row)
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
	for i, s := range x.slices {
		v.slices[i] = s.publish()
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

	rangeOnce      sync.Once
	minVal, maxVal int64
	hasRange       bool
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

// Compare returns the profiles whose value satisfies "value op c". Profiles
// without a value never match. The result is a new bitmap owned by the
// caller.
func (v *BSIView) Compare(op Op, c int64) *roaring.Bitmap {
	if c < v.lo {
		return v.outside(op, true)
	}
	u := uint64(c - v.lo)
	if v.depth < 64 && u>>v.depth != 0 {
		return v.outside(op, false)
	}
	return compareSlices(v.slices[:v.depth], v.exist, op, u)
}

// Between returns the profiles with lo <= value <= hi.
func (v *BSIView) Between(lo, hi int64) *roaring.Bitmap {
	if lo > hi {
		return roaring.New()
	}
	r := v.Compare(GE, lo)
	if r.IsEmpty() {
		return r
	}
	r.And(v.Compare(LE, hi))
	return r
}

// outside answers a comparison with a constant below (below=true) or above
// every storable offset.
func (v *BSIView) outside(op Op, below bool) *roaring.Bitmap {
	all := op == NE || (below && (op == GT || op == GE)) || (!below && (op == LT || op == LE))
	if all {
		return v.exist.Clone()
	}
	return roaring.New()
}

// compareSlices runs the O'Neil–Quass comparison of the unsigned integer
// stored in slices (least significant first) against c, restricted to
// exist. It walks from the most significant slice down, keeping the rows
// still equal to c's prefix and collecting those already known to be
// greater or smaller. c must fit in len(slices) bits.
func compareSlices(slices []*roaring.Bitmap, exist *roaring.Bitmap, op Op, c uint64) *roaring.Bitmap {
	eq := exist.Clone()
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
		return roaring.AndNot(exist, eq)
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
	cand := v.exist.Clone()
	if filter != nil {
		cand.And(filter)
	}
	if cand.IsEmpty() {
		return 0, false
	}
	var u uint64
	for i := v.depth - 1; i >= 0; i-- {
		var next *roaring.Bitmap
		if largest {
			next = roaring.And(cand, v.slices[i])
		} else {
			next = roaring.AndNot(cand, v.slices[i])
		}
		if !next.IsEmpty() {
			cand = next
			if largest {
				u |= 1 << i
			}
		} else if !largest {
			u |= 1 << i
		}
	}
	return v.lo + int64(u), true
}
