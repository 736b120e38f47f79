package reference

import (
	"fmt"
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
	// canon holds, during Rows, the members of materialised segments
	// mapped to the live profiles they stand for.
	canon map[string]map[uint32]bool
}

// SavedSegment is a saved segment as the reference sees it.
type SavedSegment struct {
	Query   *query.Checked
	Members map[uint32]bool
}

// Rows returns the rows of the live profiles matching c, in order: NOT
// and ALL range over live profiles only.
func (q *Query) Rows(c *query.Checked) ([]uint32, error) {
	var rows []uint32
	q.canon = map[string]map[uint32]bool{}
	for i, p := range q.M.Profiles {
		if p.Dead {
			continue
		}
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
	i, ok := q.M.Schema.Index(f.Name)
	if !ok {
		panic("BUG: reference: unknown field " + f.Name)
	}
	return i
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
			// A member row absorbed since it was saved stands for the
			// profile that absorbed it.
			canon, ok := q.canon[x.Name]
			if !ok {
				canon = map[uint32]bool{}
				for r := range s.Members {
					if int(r) < len(q.M.Profiles) {
						canon[uint32(q.M.Root(int(r)))] = true
					}
				}
				q.canon[x.Name] = canon
			}
			return canon[row], nil
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
		return ok && q.inWindow(&x.Window, v), nil
	case *query.PredEvent:
		// Distinct days with a matching event inside the window (any
		// kept day without a window), counted profile by profile.
		days := map[schema.Day]bool{}
		for v, ds := range p.Events[q.field(x.Field)] {
			if len(x.Values) > 0 && !slices.Contains(x.Values, v) {
				continue
			}
			for d := range ds {
				if x.Window == nil || q.inWindow(x.Window, int64(d)) {
					days[d] = true
				}
			}
		}
		switch {
		case x.Freq == nil:
			return len(days) >= 1, nil
		case x.Freq.AtLeast:
			return len(days) >= int(x.Freq.N), nil
		default:
			return len(days) <= int(x.Freq.N), nil
		}
	}
	return false, fmt.Errorf("reference: unhandled condition %T", pred)
}

// inWindow says whether day d lies in w as of q.Now, in the words of
// DESIGN §2: windows include both ends except BEFORE, and IN LAST n DAYS
// is the n days ending with now. (Stated day by day on purpose: the
// executor turns windows into ranges, and the two must agree.)
func (q *Query) inWindow(w *query.CheckedWindow, d int64) bool {
	now := int64(q.Now)
	switch w.Kind {
	case query.WindowLast:
		return d <= now && now-d < w.Days
	case query.WindowSince:
		return d >= w.From
	case query.WindowBefore:
		return d < w.From
	case query.WindowBetween:
		return w.From <= d && d <= w.To
	case query.WindowOn:
		return d == w.From
	}
	return false
}
