package identity

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/iddict"
)

// MaxTypes bounds the identifier types of a dataset. Types are created by
// the records that use them; a feed that invents a type per record is a
// mistake to refuse, not a dictionary per record to build.
const MaxTypes = 64

var typeName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// External is the type name of a profile's external id in APIs that list
// identifiers; it is never a type of the Graph.
const External = "external"

// ValidateType checks an identifier type name.
func ValidateType(name string) error {
	if name == External {
		return fmt.Errorf("identifier type %q is the external id", name)
	}
	if !typeName.MatchString(name) {
		return fmt.Errorf("identifier type %q must be 1–32 characters of a-z, 0-9 and _, starting with a letter", name)
	}
	return nil
}

// Merge is one entry of the merge log: row Absorbed joined row Survivor.
type Merge struct {
	At       time.Time
	Survivor uint32
	Absorbed uint32
	// Via is the identifier of the record that joined the two profiles,
	// as type:value ("external:<id>" for a record's id).
	Via string
}

// Graph is the identity state of a dataset: identifiers of every type,
// which profile (row) holds each, which rows were absorbed by merges into
// which survivor, and the order in which profiles were last written (to
// settle conflicts when two profiles merge). Its writer methods belong to
// the dataset's single writer; View gives readers an immutable snapshot.
type Graph struct {
	types  []*idType // sorted by name
	byName map[string]*idType
	// parent holds survivor+1 for every absorbed row, always the final
	// survivor (absorbing a survivor re-points its whole group), so a
	// lookup is one read.
	parent rowArray
	group  map[uint32][]uint32 // survivor → every row it absorbed
	merged *roaring.Bitmap     // absorbed rows (writer's)
	dirty  bool                // merged changed since the last View
	log    []Merge
	// Write order, for a merge's conflicts. clock counts the records
	// that wrote a single-valued field or named identifiers (Tick).
	// Until the dataset's first identifier, stamps holds each row's last
	// write of any single-valued field. From then on (exact) fields holds
	// per field the row's last write of that field, and stamps stays as
	// it was: a bound for every older write, which a stamp in fields
	// always exceeds.
	stamps  rowArray
	fields  map[int]*rowArray
	exact   bool
	clock   uint32
	changed bool // anything changed since the last View
	last    *View
}

type idType struct {
	name  string
	dict  *iddict.Dict
	owner rowArray // identifier index → row+1 holding it (a survivor)
	// latest holds, per row, index+1 of the identifier of this type most
	// recently attached to the row: the one export emits. attached holds
	// per identifier the clock of the record that last named it.
	attached rowArray
	latest   rowArray
	older    map[uint32][]uint32 // row → its other identifiers of this type
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{byName: map[string]*idType{}, group: map[uint32][]uint32{}, merged: roaring.New(), fields: map[int]*rowArray{}}
}

// Types lists the identifier types in name order.
func (g *Graph) Types() []string {
	out := make([]string, len(g.types))
	for i, t := range g.types {
		out[i] = t.name
	}
	return out
}

// CheckTypes reports whether the named types may be used: valid names,
// and not more than MaxTypes in all.
func (g *Graph) CheckTypes(types ...string) error {
	n := len(g.types)
	for _, t := range types {
		if _, ok := g.byName[t]; ok {
			continue
		}
		if err := ValidateType(t); err != nil {
			return err
		}
		n++
	}
	if n > MaxTypes {
		return fmt.Errorf("the dataset would hold more than %d identifier types", MaxTypes)
	}
	return nil
}

func (g *Graph) typ(name string) *idType {
	t, ok := g.byName[name]
	if !ok {
		t = &idType{name: name, dict: iddict.New(iddict.Options{}), older: map[uint32][]uint32{}}
		g.byName[name] = t
		i, _ := slices.BinarySearchFunc(g.types, name, func(t *idType, n string) int {
			switch {
			case t.name < n:
				return -1
			case t.name > n:
				return 1
			}
			return 0
		})
		g.types = slices.Insert(g.types, i, t)
	}
	return t
}

// Root returns the profile row stands for: row itself, or the survivor
// that absorbed it.
func (g *Graph) Root(row uint32) uint32 {
	if p := g.parent.get(row); p != 0 {
		return p - 1
	}
	return row
}

// Absorbed reports whether row was merged into another profile.
func (g *Graph) Absorbed(row uint32) bool { return g.parent.get(row) != 0 }

// Lookup returns the profile holding an identifier.
func (g *Graph) Lookup(typ, value string) (row uint32, ok bool) {
	t, ok := g.byName[typ]
	if !ok {
		return 0, false
	}
	i, ok := t.dict.Lookup(value)
	if !ok {
		return 0, false
	}
	return t.owner.get(i) - 1, true
}

// Attach gives the profile row (a survivor) the identifier, which must be
// new or already row's, and makes it row's latest of its type. The caller
// has checked the type with CheckTypes; the value's length and emptiness
// are checked here, before anything changes.
func (g *Graph) Attach(typ, value string, row uint32) error {
	if t, ok := g.byName[typ]; ok {
		if i, ok := t.dict.Lookup(value); ok {
			if o := t.owner.get(i) - 1; o != row {
				return fmt.Errorf("BUG: %s %q belongs to row %d, not %d", typ, value, o, row)
			}
			t.promote(row, i)
			t.attached.set(i, g.clock)
			g.changed = true
			return nil
		}
	}
	if _, ok := g.byName[typ]; !ok {
		// Refuse a bad value before the type is created: a failed Attach
		// changes nothing.
		switch {
		case value == "":
			return fmt.Errorf("identifier %s: %w", typ, iddict.ErrEmptyID)
		case len(value) > iddict.MaxIDLen:
			return fmt.Errorf("identifier %s: %w", typ, iddict.ErrIDTooLong)
		}
	}
	t := g.typ(typ)
	i, _, err := t.dict.Assign(value)
	if err != nil {
		return fmt.Errorf("identifier %s: %w", typ, err)
	}
	t.owner.set(i, row+1)
	t.promote(row, i)
	t.attached.set(i, g.clock)
	g.changed = true
	return nil
}

// promote makes identifier i row's latest of its type.
func (t *idType) promote(row, i uint32) {
	cur := t.latest.get(row)
	if cur == i+1 {
		return
	}
	if cur != 0 {
		t.older[row] = append(t.older[row], cur-1)
	}
	if old := t.older[row]; slices.Contains(old, i) {
		t.older[row] = slices.DeleteFunc(old, func(x uint32) bool { return x == i })
		if len(t.older[row]) == 0 {
			delete(t.older, row)
		}
	}
	t.latest.set(row, i+1)
}

// Tick starts a record that writes single-valued fields or names
// identifiers: the stamp its writes get.
func (g *Graph) Tick() {
	if g.clock == ^uint32(0) {
		g.rebase()
	}
	g.clock++
	g.changed = true
}

// Exact switches to per-field write order, as the dataset's first record
// with identifiers arrives: merges become possible, and a conflict is
// then settled field by field. (Before, a row's stamp covers all its
// fields: 4 bytes per profile, not 4 per single-valued field.)
func (g *Graph) Exact() {
	if !g.exact {
		g.exact = true
		g.changed = true
	}
}

// Touch records that the current record wrote (set or cleared) the given
// single-valued fields of row.
func (g *Graph) Touch(row uint32, fields []int) {
	if !g.exact {
		g.stamps.set(row, g.clock)
		return
	}
	for _, f := range fields {
		g.field(f).set(row, g.clock)
	}
}

func (g *Graph) field(f int) *rowArray {
	a := g.fields[f]
	if a == nil {
		a = &rowArray{}
		g.fields[f] = a
	}
	return a
}

// stamp is the clock of row's last write of field f (the row's last
// write of any field when f has no stamp of its own).
func (g *Graph) stamp(row uint32, f int) uint32 {
	if a := g.fields[f]; a != nil {
		if s := a.get(row); s != 0 {
			return s
		}
	}
	return g.stamps.get(row)
}

// arrays lists every array of stamps on the clock.
func (g *Graph) arrays() []*rowArray {
	out := []*rowArray{&g.stamps}
	for _, f := range slices.Sorted(maps.Keys(g.fields)) {
		out = append(out, g.fields[f])
	}
	for _, t := range g.types {
		out = append(out, &t.attached)
	}
	return out
}

// rebase renumbers every stamp by rank once the clock would overflow
// (after four billion records), keeping their order.
func (g *Graph) rebase() {
	// 0 ("never written") keeps rank 0 even when every allocated page
	// is full of stamps: the oldest written row must not become a row
	// never written.
	distinct := []uint32{0}
	for _, a := range g.arrays() {
		for _, p := range a.pages {
			if p != nil {
				distinct = append(distinct, p.v[:]...)
			}
		}
	}
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	for _, a := range g.arrays() {
		for pi, p := range a.pages {
			if p == nil {
				continue
			}
			for k, s := range p.v {
				i, _ := slices.BinarySearch(distinct, s)
				a.set(uint32(pi<<pageBits+k), uint32(i))
			}
		}
	}
	g.clock = uint32(len(distinct) - 1)
}

// Newer reports whether row a's value of field f was written after row
// b's.
func (g *Graph) Newer(a, b uint32, f int) bool { return g.stamp(a, f) > g.stamp(b, f) }

// Absorb records that survivor to absorbed row from (both survivors until
// now): from's identifiers move to to (per type, the one named last is
// to's latest), from's write stamps join to's (the later of each), and
// from's group joins to's. The field indexes are the caller's to move,
// with Newer deciding conflicts before Absorb is called. The merge log
// gets an entry unless via is empty (a record's new id joining the
// profile it names).
func (g *Graph) Absorb(from, to uint32, at time.Time, via string) {
	for _, t := range g.types {
		moved := t.older[from]
		delete(t.older, from)
		if la := t.latest.get(from); la != 0 {
			t.latest.set(from, 0)
			if ls := t.latest.get(to); ls == 0 || t.attached.get(la-1) > t.attached.get(ls-1) {
				t.latest.set(to, la)
				if ls != 0 {
					t.older[to] = append(t.older[to], ls-1)
				}
			} else {
				t.older[to] = append(t.older[to], la-1)
			}
			t.owner.set(la-1, to+1)
		}
		for _, i := range moved {
			t.owner.set(i, to+1)
		}
		if len(moved) > 0 {
			t.older[to] = append(t.older[to], moved...)
		}
	}
	members := g.group[from]
	delete(g.group, from)
	g.parent.set(from, to+1)
	for _, r := range members {
		g.parent.set(r, to+1)
	}
	g.group[to] = append(append(g.group[to], from), members...)
	g.merged.Add(from)
	g.dirty = true
	g.changed = true
	for _, a := range append([]*rowArray{&g.stamps}, slices.Collect(maps.Values(g.fields))...) {
		if s := a.get(from); s > a.get(to) {
			a.set(to, s)
		}
	}
	if via != "" {
		g.log = append(g.log, Merge{At: at, Survivor: to, Absorbed: from, Via: via})
	}
}

// Identifiers lists row's identifiers of each type, latest first.
func (g *Graph) Identifiers(row uint32) map[string][]string {
	out := map[string][]string{}
	for _, t := range g.types {
		var vals []string
		if la := t.latest.get(row); la != 0 {
			vals = append(vals, t.dict.External(la-1))
		}
		older := t.older[row]
		for k := len(older) - 1; k >= 0; k-- {
			vals = append(vals, t.dict.External(older[k]))
		}
		if len(vals) > 0 {
			out[t.name] = vals
		}
	}
	return out
}

// Group returns the rows absorbed into survivor row (a copy).
func (g *Graph) Group(row uint32) []uint32 { return slices.Clone(g.group[row]) }

// Merges returns up to limit entries of the merge log from position from
// (0-based), and the log's length.
func (g *Graph) Merges(from, limit int) ([]Merge, int) {
	n := len(g.log)
	from = min(max(from, 0), n)
	to := min(from+max(limit, 0), n)
	return slices.Clone(g.log[from:to]), n
}

// MergesOf returns the positions (0-based) in the merge log of the
// merges that built profile row.
func (g *Graph) MergesOf(row uint32) []int {
	var out []int
	for i, m := range g.log {
		if g.Root(m.Survivor) == row {
			out = append(out, i)
		}
	}
	return out
}

// Len returns the number of identifiers of each type.
func (g *Graph) Len() map[string]uint32 {
	out := make(map[string]uint32, len(g.types))
	for _, t := range g.types {
		out[t.name] = t.dict.Len()
	}
	return out
}

// MemoryBytes estimates the memory the graph holds: dictionaries, owners,
// per-row arrays, maps (at ~48 bytes an entry) and the merge log.
func (g *Graph) MemoryBytes() int {
	n := g.stamps.bytes() + g.parent.bytes() + int(g.merged.GetSizeInBytes())
	for _, a := range g.fields {
		n += a.bytes()
	}
	n += len(g.group) * 48
	for _, t := range g.types {
		n += t.dict.MemoryBytes() + t.owner.bytes() + t.latest.bytes() + t.attached.bytes() + len(t.older)*48
	}
	for _, m := range g.log {
		n += 40 + len(m.Via)
	}
	return n
}

// View publishes the graph's current state for readers. It costs a copy
// of the page tables of what changed, not of the data.
func (g *Graph) View() *View {
	if g.last != nil && !g.changed {
		return g.last
	}
	v := &View{
		parent: g.parent.view(),
		stamps: g.stamps.view(),
		fields: make(map[int]rowView, len(g.fields)),
		exact:  g.exact,
		clock:  g.clock,
		log:    g.log[:len(g.log):len(g.log)],
		types:  make(map[string]*typeView, len(g.types)),
		names:  g.Types(),
	}
	if g.last != nil && !g.dirty {
		v.merged = g.last.merged
	} else {
		v.merged = g.merged.Clone()
	}
	g.dirty, g.changed = false, false
	for f, a := range g.fields {
		v.fields[f] = a.view()
	}
	for _, t := range g.types {
		v.types[t.name] = &typeView{dict: t.dict.View(), latest: t.latest.view(), owner: t.owner.view(), attached: t.attached.view()}
	}
	g.last = v
	return v
}

// View is an immutable snapshot of a Graph, safe for any number of
// readers.
type View struct {
	parent rowView
	merged *roaring.Bitmap
	types  map[string]*typeView
	names  []string
	stamps rowView
	fields map[int]rowView
	exact  bool
	clock  uint32
	log    []Merge
}

type typeView struct {
	dict     iddict.View
	latest   rowView
	owner    rowView
	attached rowView
}

// Types lists the identifier types in name order.
func (v *View) Types() []string { return v.names }

// Counts returns the number of identifiers of each type.
func (v *View) Counts() map[string]uint32 {
	out := make(map[string]uint32, len(v.types))
	for name, t := range v.types {
		out[name] = t.dict.Len()
	}
	return out
}

// MergeCount is the number of merges logged.
func (v *View) MergeCount() int { return len(v.log) }

// HasType reports whether the dataset has identifiers of a type.
func (v *View) HasType(typ string) bool { _, ok := v.types[typ]; return ok }

// Root returns the profile row stands for.
func (v *View) Root(row uint32) uint32 {
	if p := v.parent.get(row); p != 0 {
		return p - 1
	}
	return row
}

// Merged returns the absorbed rows (shared; read-only).
func (v *View) Merged() *roaring.Bitmap { return v.merged }

// HasIdentifier reports whether row has an identifier of type typ.
func (v *View) HasIdentifier(typ string, row uint32) bool {
	t, ok := v.types[typ]
	return ok && t.latest.get(row) != 0
}

// AppendIdentifier appends row's latest identifier of type typ to dst and
// reports whether it has one.
func (v *View) AppendIdentifier(dst []byte, typ string, row uint32) ([]byte, bool) {
	t, ok := v.types[typ]
	if !ok {
		return dst, false
	}
	i := t.latest.get(row)
	if i == 0 {
		return dst, false
	}
	return t.dict.AppendExternal(dst, i-1), true
}

// Canonical maps the rows of b to the profiles they stand for: absorbed
// rows are replaced by their survivors. It returns b itself when b holds
// no absorbed row.
func (v *View) Canonical(b *roaring.Bitmap) *roaring.Bitmap {
	if v.merged.IsEmpty() || !b.Intersects(v.merged) {
		return b
	}
	out := roaring.AndNot(b, v.merged)
	it := roaring.And(b, v.merged).Iterator()
	for it.HasNext() {
		out.Add(v.Root(it.Next()))
	}
	return out
}
