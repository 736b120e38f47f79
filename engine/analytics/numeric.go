package analytics

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"strconv"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// Value is one value of a numeric field in stored units (the integer of
// an int, the scaled integer of a decimal, the day number of a date). It
// renders in the field's units: a JSON integer, a JSON number with the
// field's decimals, or a "YYYY-MM-DD" string.
type Value struct {
	Stored int64
	Type   schema.Type
	Scale  int
}

// MarshalJSON renders the value in the field's units.
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.Type {
	case schema.Decimal:
		return []byte(record.FormatDecimal(v.Stored, v.Scale)), nil
	case schema.Date:
		return strconv.AppendQuote(nil, schema.FormatDay(schema.Day(v.Stored))), nil
	}
	return strconv.AppendInt(nil, v.Stored, 10), nil
}

// Sum is the exact sum of a field's stored values. It may exceed int64
// (10^8 profiles × 2^53), hence the big integer.
type Sum struct {
	Stored *big.Int
	Scale  int
}

// MarshalJSON renders the sum as an exact JSON number with the field's
// decimals.
func (s Sum) MarshalJSON() ([]byte, error) {
	digits := new(big.Int).Abs(s.Stored).String()
	neg := s.Stored.Sign() < 0
	if s.Scale > 0 {
		for len(digits) <= s.Scale {
			digits = "0" + digits
		}
		digits = digits[:len(digits)-s.Scale] + "." + digits[len(digits)-s.Scale:]
	}
	if neg {
		digits = "-" + digits
	}
	return []byte(digits), nil
}

// Mean is the arithmetic mean in stored units. It renders as a JSON
// number in the field's units, and for dates as the rounded day.
type Mean struct {
	Stored float64
	Type   schema.Type
	Scale  int
}

// MarshalJSON renders the mean in the field's units.
func (m Mean) MarshalJSON() ([]byte, error) {
	switch m.Type {
	case schema.Date:
		return strconv.AppendQuote(nil, schema.FormatDay(schema.Day(math.Round(m.Stored)))), nil
	case schema.Decimal:
		return json.Marshal(m.Stored / float64(schema.Pow10(m.Scale)))
	}
	return json.Marshal(m.Stored)
}

// Bucket is one histogram bucket: the profiles with From <= value <= To
// (both inclusive, in stored units rendered in the field's units).
type Bucket struct {
	From  Value  `json:"from"`
	To    Value  `json:"to"`
	Count uint64 `json:"count"`
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// numericProfile fills p from the bit-sliced index of a numeric field.
// Stored offsets u = value - lo are unsigned and sliced bit by bit, so
// every statistic reduces to cardinalities of slices intersected with
// the rows in question: the work follows the number of slices, not of
// profiles.
func numericProfile(ctx context.Context, fv *engine.FieldView, seg *roaring.Bitmap, buckets int, p *FieldProfile) error {
	bsi := fv.BSI
	typ, scale := fv.Field.Type, fv.Field.Scale
	val := func(stored int64) *Value { return &Value{Stored: stored, Type: typ, Scale: scale} }

	rows := roaring.And(bsi.Exists(), seg)
	n := rows.GetCardinality()
	p.WithValue = n
	if n == 0 {
		return nil
	}
	lo, _ := bsi.Bounds()
	sl := usedSlices(bsi.Slices())

	mn, _ := bsi.Min(rows)
	mx, _ := bsi.Max(rows)
	p.Min, p.Max = val(mn), val(mx)

	// Σ value = Σ_i 2^i·|slice_i ∧ rows| + lo·n, exactly.
	sum := new(big.Int).Mul(big.NewInt(lo), new(big.Int).SetUint64(n))
	term := new(big.Int)
	for i, s := range sl {
		if c := s.AndCardinality(rows); c > 0 {
			sum.Add(sum, term.Lsh(term.SetUint64(c), uint(i)))
		}
	}
	mean, _ := new(big.Rat).SetFrac(sum, new(big.Int).SetUint64(n)).Float64()
	p.Mean = &Mean{Stored: mean, Type: typ, Scale: scale}
	if typ != schema.Date {
		p.Sum = &Sum{Stored: sum, Scale: scale}
	}

	walk := newPrefixWalker(sl, rows, n)
	for _, q := range []struct {
		pct uint64
		dst **Value
	}{{25, &p.P25}, {50, &p.P50}, {75, &p.P75}} {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Nearest rank: ceil(p/100·n), in integers so that n near 2^32
		// loses nothing to float rounding.
		k := (q.pct*n + 99) / 100
		*q.dst = val(lo + int64(walk.selectRank(k)))
	}

	hist, err := histogram(ctx, walk, n, lo, mn, mx, buckets)
	if err != nil {
		return err
	}
	p.Histogram = make([]Bucket, len(hist))
	for i, b := range hist {
		p.Histogram[i] = Bucket{From: *val(b.from), To: *val(b.to), Count: b.count}
	}
	return nil
}

// usedSlices drops the empty top slices: no stored offset reaches them,
// and walking them would only cost intersections with nothing.
func usedSlices(sl []*roaring.Bitmap) []*roaring.Bitmap {
	for len(sl) > 0 && sl[len(sl)-1].IsEmpty() {
		sl = sl[:len(sl)-1]
	}
	return sl
}

// prefixWalker answers rank and range-count questions over rows of a
// bit-sliced index by walking the slices from the most significant bit.
// Every step of such a walk narrows to the rows whose offsets share a
// prefix (the bits above the current slice), and the quartiles and the
// histogram's bounds all start with the same few prefixes: memoising the
// prefix sets makes the expensive top of the walk, over every row of the
// segment, happen once instead of once per question.
type prefixWalker struct {
	sl   []*roaring.Bitmap
	memo map[prefixKey]*prefixSet
}

// prefixKey names the rows whose offset shifted right by level equals
// prefix.
type prefixKey struct {
	level  int
	prefix uint64
}

type prefixSet struct {
	level int
	rows  *roaring.Bitmap // nil until needed: often only the count is
	card  uint64
	// ones counts the rows with a 1 in slice level-1 (-1: not known).
	ones int64
}

func newPrefixWalker(sl []*roaring.Bitmap, rows *roaring.Bitmap, n uint64) *prefixWalker {
	w := &prefixWalker{sl: sl, memo: map[prefixKey]*prefixSet{}}
	w.memo[prefixKey{len(sl), 0}] = &prefixSet{level: len(sl), rows: rows, card: n, ones: -1}
	return w
}

// set returns the rows at (level, prefix); the parent set must have been
// visited, which a walk from the top guarantees.
func (w *prefixWalker) set(level int, prefix uint64) *prefixSet {
	k := prefixKey{level, prefix}
	if s := w.memo[k]; s != nil && s.rows != nil {
		return s
	}
	parent := w.set(level+1, prefix>>1)
	s := w.memo[k]
	if s == nil {
		s = &prefixSet{level: level, card: w.childCard(parent, prefix&1), ones: -1}
		w.memo[k] = s
	}
	if prefix&1 != 0 {
		s.rows = roaring.And(parent.rows, w.sl[level])
	} else {
		s.rows = roaring.AndNot(parent.rows, w.sl[level])
	}
	return s
}

// count returns how many rows lie at (level, prefix) without building
// them.
func (w *prefixWalker) count(level int, prefix uint64) uint64 {
	if s := w.memo[prefixKey{level, prefix}]; s != nil {
		return s.card
	}
	parent := w.set(level+1, prefix>>1)
	c := w.childCard(parent, prefix&1)
	w.memo[prefixKey{level, prefix}] = &prefixSet{level: level, card: c, ones: -1}
	return c
}

// childCard returns how many rows of parent (at level+1) have bit bit at
// the slice below it, from one intersection count shared by both
// children.
func (w *prefixWalker) childCard(parent *prefixSet, bit uint64) uint64 {
	if parent.ones < 0 {
		parent.ones = int64(parent.rows.AndCardinality(w.sl[parent.level-1]))
	}
	if bit != 0 {
		return uint64(parent.ones)
	}
	return parent.card - uint64(parent.ones)
}

// selectRank returns the k-th smallest stored offset (1-based, 1 <= k <=
// n) by bit-sliced rank selection (O'Neil & Quass): from the most
// significant slice down, the candidates with a 0 there are all smaller
// than those with a 1, so if at least k of them have a 0 the answer has
// a 0 and lies among them; otherwise it has a 1 and is the (k - zeros)-th
// among the others.
func (w *prefixWalker) selectRank(k uint64) uint64 {
	var u uint64
	for i := len(w.sl) - 1; i >= 0; i-- {
		zeros := w.count(i, u<<1)
		if k <= zeros {
			u <<= 1
		} else {
			k -= zeros
			u = u<<1 | 1
		}
	}
	return u
}

// countLE counts the rows whose stored offset is at most c: walking down
// c's bits, where c has a 1 every row of the prefix with a 0 there is
// smaller; the rows equal to c at the end are at most c too.
func (w *prefixWalker) countLE(c uint64) uint64 {
	top := w.count(len(w.sl), 0)
	if len(w.sl) < 64 && c>>len(w.sl) != 0 {
		return top
	}
	var lt uint64
	for i := len(w.sl) - 1; i >= 0; i-- {
		p := c >> i
		if p&1 != 0 {
			lt += w.count(i, p&^1)
		}
		if w.count(i, p) == 0 {
			return lt
		}
	}
	return lt + w.count(0, c)
}

type bucket struct {
	from, to int64
	count    uint64
}

// histogram splits [mn, mx] into at most nb buckets of equal integer
// width (stored units: whole numbers, decimal steps or days, so no
// bucket bound falls between two storable values) and counts each from
// cumulative counts: bucket j holds LE(to_j) - LE(to_{j-1}).
func histogram(ctx context.Context, walk *prefixWalker, n uint64, lo, mn, mx int64, nb int) ([]bucket, error) {
	span := uint64(mx-mn) + 1 // at most 2^54+1: bounds are within ±2^53
	width := (span + uint64(nb) - 1) / uint64(nb)
	count := int((span + width - 1) / width)
	out := make([]bucket, count)
	var below uint64
	for j := range out {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		from := mn + int64(uint64(j)*width)
		to := min(from+int64(width)-1, mx)
		le := n
		if j < count-1 {
			le = walk.countLE(uint64(to - lo))
		}
		out[j] = bucket{from: from, to: to, count: le - below}
		below = le
	}
	return out, nil
}
