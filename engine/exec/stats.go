package exec

import (
	"math"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/query"
)

// stats estimates leaf cardinalities from the snapshot. Value bitmaps give
// exact counts cheaply (roaring keeps per-container counts); ranges assume
// values spread evenly between the field's min and max; event windows
// scale the all-time count by the window's share of the kept days.
type stats struct {
	sn   *engine.Snapshot
	now  int64
	segs map[string]*compiledSegment
}

func (s stats) Total() uint64 { return s.sn.Profiles() }

func (s stats) Estimate(p query.Pred) uint64 {
	total := s.Total()
	switch p := p.(type) {
	case *query.PredTag:
		return tagCount(s.field(p.Field.Name), p)
	case *query.PredSet:
		fv := s.field(p.Field.Name)
		var n, lowest uint64 = 0, total
		for _, v := range p.Values {
			c := fv.Values.Count(v)
			n += c
			lowest = min(lowest, c)
		}
		if p.Mode == query.HasAll {
			return lowest
		}
		return n
	case *query.PredBool:
		fv := s.field(p.Field.Name)
		t := fv.Bool.True().GetCardinality()
		if p.Value {
			return t
		}
		return fv.Exists().GetCardinality() - t
	case *query.PredNull:
		e := s.field(p.Field.Name).Exists().GetCardinality()
		if p.Negated {
			return e
		}
		return total - e
	case *query.PredCompare:
		lo, hi := compareRange(p.Op, p.Value)
		return s.rangeEstimate(p.Field.Name, lo, hi)
	case *query.PredBetween:
		n := s.rangeEstimate(p.Field.Name, p.Lo, p.Hi)
		if p.Negated {
			return s.field(p.Field.Name).Exists().GetCardinality() - n
		}
		return n
	case *query.PredNumIn:
		e := s.field(p.Field.Name).Exists().GetCardinality()
		if p.Negated {
			return e
		}
		return min(e, uint64(len(p.Values))*max(1, e/100))
	case *query.PredWindow:
		lo, hi := windowDays(&p.Window, s.now)
		return s.rangeEstimate(p.Field.Name, lo, hi)
	case *query.PredEvent:
		fv := s.field(p.Field.Name)
		var n uint64
		if len(p.Values) == 0 {
			n = fv.Exists().GetCardinality()
		} else {
			for _, v := range p.Values {
				n += fv.Events.Count(v)
			}
		}
		if p.Window != nil && p.Window.Kind == query.WindowLast {
			n = n * uint64(min(p.Window.Days, 365)) / 365
		}
		if p.Freq != nil && !p.Freq.AtLeast {
			return total - min(n, total)
		}
		return n
	case *query.PredSegment:
		if seg := s.segs[p.Name]; seg != nil {
			if seg.members != nil {
				return seg.members.GetCardinality()
			}
			return seg.query.Plan.Root.Est
		}
	}
	return total / 2
}

func (s stats) field(name string) *engine.FieldView {
	fv, err := s.sn.Field(name)
	if err != nil {
		panic("BUG: checked query names a field the snapshot lacks: " + err.Error())
	}
	return fv
}

// rangeEstimate assumes values spread evenly between the field's stored
// min and max and estimates how many fall in [lo, hi].
func (s stats) rangeEstimate(field string, lo, hi int64) uint64 {
	fv := s.field(field)
	mn, mx, ok := fv.BSI.Range()
	if !ok {
		return 0
	}
	lo, hi = max(lo, mn), min(hi, mx)
	if lo > hi {
		return 0
	}
	// Narrow fields keep a bitmap per value: count exactly (the counts are
	// stored per container, so this is cheap) instead of assuming values
	// spread evenly — ages cluster, and the guess decides the AND order.
	if eq := fv.BSI.EqualityBitmaps(); eq != nil {
		base, _ := fv.BSI.Bounds()
		var n uint64
		for v := lo; v <= hi; v++ {
			if i := v - base; i >= 0 && i < int64(len(eq)) {
				n += eq[i].GetCardinality()
			}
		}
		return n
	}
	exist := fv.Exists().GetCardinality()
	return max(1, uint64(float64(exist)*(float64(hi-lo)+1)/(float64(mx-mn)+1)))
}

// compareRange turns "value op c" into an inclusive range; != is the
// whole line (an estimate, not an answer).
func compareRange(op query.Op, c int64) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	switch op {
	case query.OpEq:
		lo, hi = c, c
	case query.OpLt:
		hi = c - 1
	case query.OpLe:
		hi = c
	case query.OpGt:
		lo = c + 1
	case query.OpGe:
		lo = c
	}
	return lo, hi
}
