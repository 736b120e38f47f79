package lookalike

import (
	"slices"

	"github.com/cohortdb/cohort/query"
)

// QueryFields lists the fields a checked seed query tests, in order of
// first use, for Options.ExcludeFields: a lookalike of "city = '上海'"
// should not learn that its seed lives in 上海. Fields used only inside
// saved segments it references are not seen here (the checked tree holds
// the reference, not the segment's text); callers that resolve segments
// add those.
func QueryFields(root query.Pred) []string {
	var out []string
	add := func(name string) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	var walk func(query.Pred)
	walk = func(p query.Pred) {
		switch p := p.(type) {
		case *query.PredAnd:
			for _, t := range p.Terms {
				walk(t)
			}
		case *query.PredOr:
			for _, t := range p.Terms {
				walk(t)
			}
		case *query.PredNot:
			walk(p.X)
		case *query.PredTag:
			add(p.Field.Name)
		case *query.PredSet:
			add(p.Field.Name)
		case *query.PredBool:
			add(p.Field.Name)
		case *query.PredNull:
			add(p.Field.Name)
		case *query.PredCompare:
			add(p.Field.Name)
		case *query.PredBetween:
			add(p.Field.Name)
		case *query.PredNumIn:
			add(p.Field.Name)
		case *query.PredWindow:
			add(p.Field.Name)
		case *query.PredEvent:
			add(p.Field.Name)
		}
	}
	if root != nil {
		walk(root)
	}
	return out
}
