package exec

import (
	"fmt"
	"math"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/query"
)

// StoredInputs returns the index bitmaps a first evaluation of the leaf
// n reads, for the benchmark runner's floor of a first count (a count on
// a snapshot that has kept nothing): a range's bit slices and existence
// bitmap, an event window's or frequency's day bitmaps of the values it
// names, an IN list's or HAS ANY's value bitmaps (a snapshot keeps their
// union too; NOT IN reads the field's existence bitmap first). Any other
// leaf reads the same bitmaps on every evaluation and gives nil: its
// floor is the leaf's own bitmap.
func (q *Query) StoredInputs(n *query.Node) ([]*roaring.Bitmap, error) {
	if n.Op != query.NodeLeaf {
		return nil, fmt.Errorf("stored inputs: a %v node is not a leaf", n.Op)
	}
	field := func(name string) (*roaring.Bitmap, []*roaring.Bitmap, error) {
		fv, err := q.sn.Field(name)
		if err != nil {
			return nil, nil, fmt.Errorf("stored inputs: %w", err)
		}
		if fv.BSI == nil {
			return nil, nil, fmt.Errorf("stored inputs: field %s has no bit slices", name)
		}
		return fv.BSI.Exists(), fv.BSI.Slices(), nil
	}
	values := func(name string, values []string, negated bool) ([]*roaring.Bitmap, error) {
		if len(values) < 2 {
			return nil, nil // one value's bitmap, as every time
		}
		fv, err := q.sn.Field(name)
		if err != nil {
			return nil, fmt.Errorf("stored inputs: %w", err)
		}
		var in []*roaring.Bitmap
		if negated {
			in = append(in, fv.Exists())
		}
		for _, v := range values {
			if b := fv.Values.Bitmap(v); b != nil {
				in = append(in, b)
			}
		}
		return in, nil
	}
	var name string
	switch p := n.Leaf.(type) {
	case *query.PredTag:
		return values(p.Field.Name, p.Values, p.Negated)
	case *query.PredSet:
		if p.Mode == query.HasAll {
			return nil, nil // intersected every time, as on the first
		}
		return values(p.Field.Name, p.Values, false)
	case *query.PredCompare:
		name = p.Field.Name
	case *query.PredBetween:
		name = p.Field.Name
	case *query.PredNumIn:
		name = p.Field.Name
	case *query.PredWindow:
		name = p.Field.Name
	case *query.PredEvent:
		if p.Window == nil && p.Freq == nil {
			return nil, nil // the values' all-time bitmaps, as every time
		}
		fv, err := q.sn.Field(p.Field.Name)
		if err != nil {
			return nil, fmt.Errorf("stored inputs: %w", err)
		}
		from, to := int64(math.MinInt64), int64(math.MaxInt64)
		if p.Window != nil {
			from, to = windowDays(p.Window, int64(q.now))
		}
		if from > to {
			return nil, nil
		}
		return fv.Events.DayBitmaps(p.Values, clampDay(from), clampDay(to)), nil
	default:
		return nil, nil
	}
	exist, slices, err := field(name)
	if err != nil {
		return nil, err
	}
	return append([]*roaring.Bitmap{exist}, slices...), nil
}
