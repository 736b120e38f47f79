package exec

import (
	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/query"
)

// keptRange returns the profiles of a range condition's interval (a
// comparison other than !=, BETWEEN ignoring its NOT, a date window) if
// the field's view keeps them, shared and read-only, or nil: a range
// asked for again on a snapshot is built once and then read like a tag
// value's bitmap (index.BSIView.KeptRange). Callers apply BETWEEN's NOT.
func (ev *evaluator) keptRange(p query.Pred) *roaring.Bitmap {
	if ev.q.fresh {
		return nil
	}
	if b, ok := ev.kept[p]; ok {
		return b
	}
	var b *roaring.Bitmap
	switch p := p.(type) {
	case *query.PredCompare:
		if lo, hi, ok := index.CompareBounds(indexOps[p.Op], p.Value); ok {
			b = ev.field(p.Field.Name).BSI.KeptRange(lo, hi)
		}
	case *query.PredBetween:
		b = ev.field(p.Field.Name).BSI.KeptRange(p.Lo, p.Hi)
	case *query.PredWindow:
		lo, hi := windowDays(&p.Window, int64(ev.q.now))
		b = ev.field(p.Field.Name).BSI.KeptRange(lo, hi)
	default:
		return nil
	}
	return ev.remember(p, b)
}

// keptUnion returns the union of an IN list's values (a tag IN list,
// with or without NOT, or a set's HAS ANY, of two values or more) if the
// field's view keeps it, shared and read-only, or nil: like a range, a
// list asked for again on a snapshot is built once and then read as one
// bitmap (index.ValuesView.KeptUnion). Callers apply NOT.
func (ev *evaluator) keptUnion(p query.Pred) *roaring.Bitmap {
	if ev.q.fresh {
		return nil
	}
	if b, ok := ev.kept[p]; ok {
		return b
	}
	var field string
	var values []string
	switch p := p.(type) {
	case *query.PredTag:
		field, values = p.Field.Name, p.Values
	case *query.PredSet:
		if p.Mode == query.HasAll {
			return nil
		}
		field, values = p.Field.Name, p.Values
	default:
		return nil
	}
	if len(values) < 2 {
		return nil
	}
	b := ev.field(field).Values.KeptUnion(values)
	return ev.remember(p, b)
}

// remember notes what keptRange or keptUnion found for p (nil too), so
// that one evaluation asks the view once: one use.
func (ev *evaluator) remember(p query.Pred, b *roaring.Bitmap) *roaring.Bitmap {
	if ev.kept == nil {
		ev.kept = map[query.Pred]*roaring.Bitmap{}
	}
	ev.kept[p] = b
	return b
}

// keptLeaf answers a range or IN list leaf from its kept profiles,
// restricted to within (nil: all), and reports whether it could.
func (ev *evaluator) keptLeaf(p query.Pred, within *roaring.Bitmap) (*roaring.Bitmap, bool, bool) {
	b := ev.keptRange(p)
	if b == nil {
		b = ev.keptUnion(p)
	}
	if b == nil {
		return nil, false, false
	}
	switch p := p.(type) {
	case *query.PredBetween:
		if p.Negated {
			return andNotWithin(ev.field(p.Field.Name).Exists(), b, within), true, true
		}
	case *query.PredTag:
		if p.Negated {
			return andNotWithin(ev.field(p.Field.Name).Exists(), b, within), true, true
		}
	}
	if within == nil {
		return b, false, true
	}
	return roaring.And(b, within), true, true
}

// keptUsed reports, for EXPLAIN, whether a leaf just evaluated was read
// from a kept range or window union. It does not count as a use.
func (ev *evaluator) keptUsed(p query.Pred) bool {
	if b, ok := ev.kept[p]; ok {
		return b != nil
	}
	if p, ok := p.(*query.PredEvent); ok && p.Freq == nil && p.Window != nil {
		if from, to := ev.eventDays(p); from <= to {
			_, ok := ev.field(p.Field.Name).Events.CachedWindow(p.Values, clampDay(from), clampDay(to))
			return ok
		}
	}
	return false
}
