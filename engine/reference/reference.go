// Package reference is the plain model Cohort's indexes are checked
// against: one Go struct per profile, updates applied field by field, and
// every index operation answered by visiting the profiles one by one. It
// is slow on purpose and simple enough to be obviously right.
package reference

import (
	"slices"

	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// Profile is one person, field by field (keys are schema field indexes).
type Profile struct {
	ID     string
	Tags   map[int]string
	Sets   map[int]map[string]bool
	Bools  map[int]bool
	Nums   map[int]int64 // int, scaled decimal, day number
	Events map[int]map[string]map[schema.Day]bool
}

// Model holds profiles in row order: the row of a profile is the order in
// which its id was first applied, as in the engine.
type Model struct {
	Schema   *schema.Schema
	Profiles []*Profile
	byID     map[string]int
}

// New returns an empty model.
func New(s *schema.Schema) *Model { return &Model{Schema: s, byID: map[string]int{}} }

// Apply applies one decoded update as of today (for event retention).
// It reports how many events fell outside retention.
func (m *Model) Apply(u record.Update, today schema.Day) int {
	row, ok := m.byID[u.ID]
	if !ok {
		row = len(m.Profiles)
		m.byID[u.ID] = row
		m.Profiles = append(m.Profiles, &Profile{
			ID: u.ID, Tags: map[int]string{}, Sets: map[int]map[string]bool{}, Bools: map[int]bool{},
			Nums: map[int]int64{}, Events: map[int]map[string]map[schema.Day]bool{},
		})
	}
	p := m.Profiles[row]
	for _, fi := range u.Unset {
		delete(p.Tags, fi)
		delete(p.Sets, fi)
		delete(p.Bools, fi)
		delete(p.Nums, fi)
		delete(p.Events, fi)
	}
	for _, a := range u.Set {
		switch m.Schema.Fields[a.Field].Type {
		case schema.Tag:
			p.Tags[a.Field] = a.Value.Str
		case schema.Set:
			set := map[string]bool{}
			for _, v := range a.Value.Strs {
				set[v] = true
			}
			p.Sets[a.Field] = set
		case schema.Bool:
			p.Bools[a.Field] = a.Value.Bool
		default:
			p.Nums[a.Field] = a.Value.Int
		}
	}
	for _, c := range u.Remove {
		for _, v := range c.Values {
			delete(p.Sets[c.Field], v)
		}
	}
	for _, c := range u.Add {
		if p.Sets[c.Field] == nil {
			p.Sets[c.Field] = map[string]bool{}
		}
		for _, v := range c.Values {
			p.Sets[c.Field][v] = true
		}
	}
	for fi, set := range p.Sets {
		if len(set) == 0 {
			delete(p.Sets, fi)
		}
	}
	expired := 0
	for _, e := range u.Events {
		if e.Day < m.cutoff(e.Field, today) {
			expired++
			continue
		}
		byVal := p.Events[e.Field]
		if byVal == nil {
			byVal = map[string]map[schema.Day]bool{}
			p.Events[e.Field] = byVal
		}
		if byVal[e.Value] == nil {
			byVal[e.Value] = map[schema.Day]bool{}
		}
		byVal[e.Value][e.Day] = true
	}
	return expired
}

func (m *Model) cutoff(fi int, today schema.Day) schema.Day {
	if r := m.Schema.Fields[fi].RetentionDays; r > 0 {
		return today - schema.Day(r) + 1
	}
	return schema.MinDay
}

// Expire drops event days outside retention as of today.
func (m *Model) Expire(today schema.Day) {
	for _, p := range m.Profiles {
		for fi, byVal := range p.Events {
			c := m.cutoff(fi, today)
			for v, days := range byVal {
				for d := range days {
					if d < c {
						delete(days, d)
					}
				}
				if len(days) == 0 {
					delete(byVal, v)
				}
			}
			if len(byVal) == 0 {
				delete(p.Events, fi)
			}
		}
	}
}

// Filter returns the rows whose profile satisfies pred, in order.
func (m *Model) Filter(pred func(*Profile) bool) []uint32 {
	var rows []uint32
	for i, p := range m.Profiles {
		if pred(p) {
			rows = append(rows, uint32(i))
		}
	}
	return rows
}

// Exists: the profile has a value for field fi.
func Exists(fi int) func(*Profile) bool {
	return func(p *Profile) bool {
		_, t := p.Tags[fi]
		_, s := p.Sets[fi]
		_, b := p.Bools[fi]
		_, n := p.Nums[fi]
		_, e := p.Events[fi]
		return t || s || b || n || e
	}
}

// TagIs: the tag field fi equals v.
func TagIs(fi int, v string) func(*Profile) bool {
	return func(p *Profile) bool { t, ok := p.Tags[fi]; return ok && t == v }
}

// SetHas: the set field fi holds v.
func SetHas(fi int, v string) func(*Profile) bool {
	return func(p *Profile) bool { return p.Sets[fi][v] }
}

// BoolIs: the bool field fi has value v.
func BoolIs(fi int, v bool) func(*Profile) bool {
	return func(p *Profile) bool { b, ok := p.Bools[fi]; return ok && b == v }
}

// Compare: the numeric field fi has a value and "value op c" holds; op is
// one of = != < <= > >=.
func Compare(fi int, op string, c int64) func(*Profile) bool {
	return func(p *Profile) bool {
		v, ok := p.Nums[fi]
		if !ok {
			return false
		}
		switch op {
		case "=":
			return v == c
		case "!=":
			return v != c
		case "<":
			return v < c
		case "<=":
			return v <= c
		case ">":
			return v > c
		case ">=":
			return v >= c
		}
		return false
	}
}

// Between: the numeric field fi has a value in [lo, hi].
func Between(fi int, lo, hi int64) func(*Profile) bool {
	return func(p *Profile) bool { v, ok := p.Nums[fi]; return ok && lo <= v && v <= hi }
}

// EventDays counts the distinct days in [from, to] on which the profile
// had an event of field fi with one of values (any value when empty).
func EventDays(p *Profile, fi int, values []string, from, to schema.Day) int {
	days := map[schema.Day]bool{}
	for v, ds := range p.Events[fi] {
		if len(values) > 0 && !slices.Contains(values, v) {
			continue
		}
		for d := range ds {
			if from <= d && d <= to {
				days[d] = true
			}
		}
	}
	return len(days)
}

// EventAtLeast: events of fi matching values on at least n days in the window.
func EventAtLeast(fi int, values []string, n int, from, to schema.Day) func(*Profile) bool {
	return func(p *Profile) bool { return EventDays(p, fi, values, from, to) >= max(n, 1) }
}

// EventAtMost: events of fi matching values on at most n days in the window
// (profiles with none included).
func EventAtMost(fi int, values []string, n int, from, to schema.Day) func(*Profile) bool {
	return func(p *Profile) bool { return EventDays(p, fi, values, from, to) <= n }
}
