package reference

import (
	"fmt"
	"math"
	"slices"

	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/query"
)

// Query evaluates checked queries row by row, straight from DESIGN §2,
// without plans or bitmaps.
type Query struct {
	M   *Model
	Now schema.Day
	// Segments maps a saved segment's name to its checked query or, for a
	// materialised one, its member rows.
	Segments map[string]SavedSegment
}

// SavedSegment is a saved segment as the reference sees it.
type SavedSegment struct {
	Query   *query.Checked
	Members map[uint32]bool
}

// Rows returns the rows matching c, in order.
func (q *Query) Rows(c *query.Checked) ([]uint32, error) {
	var rows []uint32
	for i, p := range q.M.Profiles {
		ok, err := q.match(c.Root, uint32(i), p, nil)
		if err != nil {
			return nil, err
		}
		if ok {
			rows = append(rows, uint32(i))
		}
	}
	return rows, nil
}

func (q *Query) field(f query.FieldInfo) int {
	sf, ok := q.M.Schema.Field(f.Name)
	if !ok {
		panic("BUG: reference: unknown field " + f.Name)
	}
	for i := range q.M.Schema.Fields {
		if &q.M.Schema.Fields[i] == sf {
			return i
		}
	}
	panic("unreachable")
}

func (q *Query) match(pred query.Pred, row uint32, p *Profile, path []string) (bool, error) {
	switch x := pred.(type) {
	case *query.PredAnd:
		for _, t := range x.Terms {
			ok, err := q.match(t, row, p, path)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case *query.PredOr:
		for _, t := range x.Terms {
			ok, err := q.match(t, row, p, path)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case *query.PredNot:
		ok, err := q.match(x.X, row, p, path)
		return !ok, err
	case *query.PredAll:
		return true, nil
	case *query.PredSegment:
		if slices.Contains(path, x.Name) {
			return false, fmt.Errorf("segment cycle through %s", x.Name)
		}
		s, ok := q.Segments[x.Name]
		if !ok {
			return false, fmt.Errorf("unknown segment %s", x.Name)
		}
		if s.Query == nil {
			return s.Members[row], nil
		}
		return q.match(s.Query.Root, row, p, append(path, x.Name))
	case *query.PredTag:
		v, ok := p.Tags[q.field(x.Field)]
		return ok && slices.Contains(x.Values, v) != x.Negated, nil
	case *query.PredSet:
		set := p.Sets[q.field(x.Field)]
		n := 0
		for _, v := range x.Values {
			if set[v] {
				n++
			}
		}
		if x.Mode == query.HasAll {
			return n == len(x.Values), nil
		}
		return n > 0, nil
	case *query.PredBool:
		v, ok := p.Bools[q.field(x.Field)]
		return ok && v == x.Value, nil
	case *query.PredNull:
		return Exists(q.field(x.Field))(p) == x.Negated, nil
	case *query.PredCompare:
		return Compare(q.field(x.Field), x.Op.String(), x.Value)(p), nil
	case *query.PredBetween:
		v, ok := p.Nums[q.field(x.Field)]
		return ok && (x.Lo <= v && v <= x.Hi) != x.Negated, nil
	case *query.PredNumIn:
		v, ok := p.Nums[q.field(x.Field)]
		return ok && slices.Contains(x.Values, v) != x.Negated, nil
	case *query.PredWindow:
		v, ok := p.Nums[q.field(x.Field)]
		lo, hi := q.window(&x.Window)
		return ok && lo <= v && v <= hi, nil
	case *query.PredEvent:
		lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
		if x.Window != nil {
			lo, hi = q.window(x.Window)
		}
		lo, hi = max(lo, math.MinInt32), min(hi, math.MaxInt32)
		days := 0
		if lo <= hi {
			days = EventDays(p, q.field(x.Field), x.Values, schema.Day(lo), schema.Day(hi))
		}
		switch {
		case x.Freq == nil:
			return days >= 1, nil
		case x.Freq.AtLeast:
			return days >= int(x.Freq.N), nil
		default:
			return days <= int(x.Freq.N), nil
		}
	}
	return false, fmt.Errorf("reference: unhandled condition %T", pred)
}

// window returns the inclusive day range of w as of q.Now.
func (q *Query) window(w *query.CheckedWindow) (lo, hi int64) {
	now := int64(q.Now)
	switch w.Kind {
	case query.WindowLast:
		return now - w.Days + 1, now
	case query.WindowSince:
		return w.From, math.MaxInt64
	case query.WindowBefore:
		return math.MinInt64, w.From - 1
	case query.WindowBetween:
		return w.From, w.To
	case query.WindowOn:
		return w.From, w.From
	}
	return 1, 0
}
