// Package reference is the plain model Cohort's indexes are checked
// against: one Go struct per profile, updates applied field by field, and
// every index operation answered by visiting the profiles one by one. It
// is slow on purpose and simple enough to be obviously right.
//
// Identity (OneID) is modelled as naively: every profile keeps its row
// for good; a merge copies the absorbed profile's values into the
// survivor by the rules of docs/identity.md, marks it Dead and points it
// at the survivor, and lookups follow those pointers.
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

	// Dead is set once the profile was absorbed by a merge into Parent;
	// a dead profile holds nothing and answers no query.
	Dead   bool
	Parent int
	// IDs lists every identifier the profile holds, per type, in the
	// order they came (those of absorbed profiles appended); Latest is
	// the one of each type export emits.
	IDs    map[string][]string
	Latest map[string]string
	// RowWrite is the position in apply order (1, 2, …) of the last
	// record that set or cleared a single-valued field of the profile
	// before the model's first record with identifiers (0 if none);
	// FieldWrite holds, from that record on, the last such write per
	// field. A field's write is FieldWrite's, else RowWrite.
	RowWrite   int
	FieldWrite map[int]int
}

// written is when p's field fi was last written, as far as the model
// knows.
func (p *Profile) written(fi int) int {
	if w := p.FieldWrite[fi]; w != 0 {
		return w
	}
	return p.RowWrite
}

// Model holds profiles in row order: the row of a profile is the order in
// which its id was first applied, as in the engine.
type Model struct {
	Schema   *schema.Schema
	Profiles []*Profile
	byID     map[string]int
	// holder maps type → value → the row that first held the
	// identifier; Root of it is the profile holding it now.
	holder map[string]map[string]int
	// applied counts the records applied: the clock of the writes.
	applied int
	// exact is set by the first record with identifiers: writes are
	// ordered per field from then on.
	exact bool
	// named holds, per identifier type and value, when a record last
	// named it: a profile's latest of a type is the one named last.
	named map[string]map[string]int
	// Created and Merged count the profiles created and the merges done
	// (as Result counts them: a new id absorbed at once is neither).
	Created, Merged int
}

// New returns an empty model.
func New(s *schema.Schema) *Model {
	return &Model{Schema: s, byID: map[string]int{}, holder: map[string]map[string]int{}, named: map[string]map[string]int{}}
}

func (m *Model) newProfile(id string) int {
	row := len(m.Profiles)
	m.byID[id] = row
	m.Profiles = append(m.Profiles, &Profile{
		ID: id, Tags: map[int]string{}, Sets: map[int]map[string]bool{}, Bools: map[int]bool{},
		Nums: map[int]int64{}, Events: map[int]map[string]map[schema.Day]bool{},
		Parent: -1, IDs: map[string][]string{}, Latest: map[string]string{}, FieldWrite: map[int]int{},
	})
	return row
}

// Root returns the live profile row stands for: itself, or the profile
// that absorbed it (following absorptions one step at a time).
func (m *Model) Root(row int) int {
	for m.Profiles[row].Dead {
		row = m.Profiles[row].Parent
	}
	return row
}

// Live counts the profiles not absorbed.
func (m *Model) Live() int {
	n := 0
	for _, p := range m.Profiles {
		if !p.Dead {
			n++
		}
	}
	return n
}

// Lookup returns the profile holding an identifier; typ "external" looks
// up external ids.
func (m *Model) Lookup(typ, value string) (int, bool) {
	var row int
	var ok bool
	if typ == "external" {
		row, ok = m.byID[value]
	} else {
		row, ok = m.holder[typ][value]
	}
	if !ok {
		return 0, false
	}
	return m.Root(row), true
}

// Latest returns the identifier of type typ that export emits for row.
func (m *Model) Latest(row int, typ string) (string, bool) {
	v, ok := m.Profiles[row].Latest[typ]
	return v, ok
}

// Identifiers lists every identifier the model knows, as type and value
// ("external" for external ids), in no particular order.
func (m *Model) Identifiers() [][2]string {
	var out [][2]string
	for id := range m.byID {
		out = append(out, [2]string{"external", id})
	}
	for typ, vals := range m.holder {
		for v := range vals {
			out = append(out, [2]string{typ, v})
		}
	}
	return out
}

// singleFields lists the single-valued fields u sets or clears.
func (m *Model) singleFields(u *record.Update) []int {
	var out []int
	for _, a := range u.Set {
		if m.Schema.Fields[a.Field].Type != schema.Set {
			out = append(out, a.Field)
		}
	}
	for _, fi := range u.Unset {
		if t := m.Schema.Fields[fi].Type; t != schema.Set && t != schema.Event {
			out = append(out, fi)
		}
	}
	return out
}

// resolve finds the profile u is about, creating and merging profiles as
// the identity rules say.
func (m *Model) resolve(u *record.Update) int {
	var named []int
	fresh := -1
	if u.ID != "" {
		if r, ok := m.byID[u.ID]; ok {
			named = append(named, m.Root(r))
		} else {
			fresh = m.newProfile(u.ID)
		}
	}
	for _, id := range u.IDs {
		if r, ok := m.Lookup(id.Type, id.Value); ok {
			named = append(named, r)
		}
	}
	slices.Sort(named)
	named = slices.Compact(named)
	var row int
	switch {
	case fresh >= 0 && len(named) == 0:
		row = fresh
		m.Created++
	case fresh >= 0:
		// The new id's row joins the oldest named profile at once; it
		// holds nothing yet, so there is nothing to merge.
		row = named[0]
		m.Profiles[fresh].Dead = true
		m.Profiles[fresh].Parent = row
	case len(named) == 0:
		ext := u.IDs[0].Type + ":" + u.IDs[0].Value
		if r, ok := m.byID[ext]; ok {
			row = m.Root(r)
		} else {
			row = m.newProfile(ext)
			m.Created++
		}
	default:
		row = named[0]
	}
	for _, from := range named {
		if from != row {
			m.merge(from, row)
			m.Merged++
		}
	}
	p := m.Profiles[row]
	for _, id := range u.IDs {
		if m.holder[id.Type] == nil {
			m.holder[id.Type] = map[string]int{}
		}
		if _, ok := m.holder[id.Type][id.Value]; !ok {
			m.holder[id.Type][id.Value] = row
			p.IDs[id.Type] = append(p.IDs[id.Type], id.Value)
		}
		p.Latest[id.Type] = id.Value
		if m.named[id.Type] == nil {
			m.named[id.Type] = map[string]int{}
		}
		m.named[id.Type][id.Value] = m.applied
	}
	return row
}

// merge moves profile from into profile to: of a single value both
// hold, the one written last wins (to's on a tie), sets and events are
// unioned, and to takes from's identifiers (per type, the one named last
// is the latest).
func (m *Model) merge(from, to int) {
	f, t := m.Profiles[from], m.Profiles[to]
	fromWins := func(fi int) bool { return f.written(fi) > t.written(fi) }
	for fi, v := range f.Tags {
		if _, ok := t.Tags[fi]; !ok || fromWins(fi) {
			t.Tags[fi] = v
		}
	}
	for fi, v := range f.Bools {
		if _, ok := t.Bools[fi]; !ok || fromWins(fi) {
			t.Bools[fi] = v
		}
	}
	for fi, v := range f.Nums {
		if _, ok := t.Nums[fi]; !ok || fromWins(fi) {
			t.Nums[fi] = v
		}
	}
	for fi, set := range f.Sets {
		if t.Sets[fi] == nil {
			t.Sets[fi] = map[string]bool{}
		}
		for v := range set {
			t.Sets[fi][v] = true
		}
	}
	for fi, byVal := range f.Events {
		if t.Events[fi] == nil {
			t.Events[fi] = map[string]map[schema.Day]bool{}
		}
		for v, days := range byVal {
			if t.Events[fi][v] == nil {
				t.Events[fi][v] = map[schema.Day]bool{}
			}
			for d := range days {
				t.Events[fi][v][d] = true
			}
		}
	}
	for typ, vals := range f.IDs {
		t.IDs[typ] = append(t.IDs[typ], vals...)
	}
	for typ, v := range f.Latest {
		if cur, ok := t.Latest[typ]; !ok || m.named[typ][v] > m.named[typ][cur] {
			t.Latest[typ] = v
		}
	}
	t.RowWrite = max(t.RowWrite, f.RowWrite)
	for fi, w := range f.FieldWrite {
		t.FieldWrite[fi] = max(t.FieldWrite[fi], w)
	}
	*f = Profile{ID: f.ID, Dead: true, Parent: to, Tags: map[int]string{}, Sets: map[int]map[string]bool{}, Bools: map[int]bool{},
		Nums: map[int]int64{}, Events: map[int]map[string]map[schema.Day]bool{}, IDs: map[string][]string{}, Latest: map[string]string{},
		FieldWrite: map[int]int{}}
}

// Apply applies one decoded update as of today (for event retention).
// It reports how many events fell outside retention.
func (m *Model) Apply(u record.Update, today schema.Day) int {
	m.applied++
	if len(u.IDs) > 0 {
		m.exact = true
	}
	row := m.resolve(&u)
	p := m.Profiles[row]
	for _, fi := range m.singleFields(&u) {
		if m.exact {
			p.FieldWrite[fi] = m.applied
		} else {
			p.RowWrite = m.applied
		}
	}
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

// Filter returns the rows of the live profiles that satisfy pred, in
// order.
func (m *Model) Filter(pred func(*Profile) bool) []uint32 {
	var rows []uint32
	for i, p := range m.Profiles {
		if !p.Dead && pred(p) {
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
