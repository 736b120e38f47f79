package index

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// Rows written hold data below moveDataRows; moves pick rows below
// moveRows, so some targets lie past every row ever written (beyond the
// cowBitmaps' largest row).
const (
	moveDataRows = 150
	moveRows     = 200
)

// rowsOf returns the bitmap of the rows for which keep is true.
func rowsOf(keep func(row uint32) bool) *roaring.Bitmap {
	b := roaring.New()
	for row := uint32(0); row < moveRows; row++ {
		if keep(row) {
			b.Add(row)
		}
	}
	return b
}

// snapshot pairs a published view with a deep copy of the model it was
// checked against, to check later that the view never changed.
type snapshot[V, M any] struct {
	view  V
	model M
	step  int
}

// --- Values ---

// valuesModel is row -> set of values (a tag holds at most one).
type valuesModel map[uint32]map[string]bool

func (m valuesModel) clone() valuesModel {
	c := valuesModel{}
	for row, vs := range m {
		c[row] = maps.Clone(vs)
	}
	return c
}

func (m valuesModel) move(from, to uint32, multi, fromWins bool) {
	if from == to || len(m[from]) == 0 {
		return
	}
	switch {
	case multi:
		if m[to] == nil {
			m[to] = map[string]bool{}
		}
		maps.Copy(m[to], m[from])
	case len(m[to]) == 0 || fromWins:
		m[to] = m[from]
	}
	delete(m, from)
}

func checkValues(t *testing.T, what string, v *ValuesView, m valuesModel, names []string) {
	t.Helper()
	if want := rowsOf(func(r uint32) bool { return len(m[r]) > 0 }); !v.Exists().Equals(want) {
		t.Fatalf("%s: exists %v, want %v", what, v.Exists().ToArray(), want.ToArray())
	}
	for row := uint32(0); row < moveRows; row++ {
		got := v.RowValues(nil, row)
		slices.Sort(got)
		want := slices.Sorted(maps.Keys(m[row]))
		if !slices.Equal(got, want) {
			t.Fatalf("%s: row %d holds %q, want %q", what, row, got, want)
		}
	}
	for _, name := range names {
		want := rowsOf(func(r uint32) bool { return m[r][name] })
		b := v.Bitmap(name)
		if b == nil {
			if !want.IsEmpty() {
				t.Fatalf("%s: no bitmap for %q, want %v", what, name, want.ToArray())
			}
			continue
		}
		if !b.Equals(want) || v.Count(name) != want.GetCardinality() {
			t.Fatalf("%s: value %q on %v, want %v", what, name, b.ToArray(), want.ToArray())
		}
	}
}

func TestValuesMove(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, multi := range []bool{false, true} {
		r := rand.New(rand.NewPCG(11, 12))
		for trial := range 20 {
			x := NewValues("f", multi)
			m := valuesModel{}
			var snaps []snapshot[*ValuesView, valuesModel]
			for step := range 600 {
				row := uint32(r.IntN(moveDataRows))
				val := names[r.IntN(len(names))]
				switch op := r.IntN(10); {
				case op < 4 && !multi:
					x.SetTag(row, val)
					m[row] = map[string]bool{val: true}
				case op < 4:
					vals := []string{val, names[r.IntN(len(names))]}
					x.Add(row, vals...)
					if m[row] == nil {
						m[row] = map[string]bool{}
					}
					for _, v := range vals {
						m[row][v] = true
					}
				case op == 4 && multi:
					x.Remove(row, val)
					delete(m[row], val)
					if len(m[row]) == 0 {
						delete(m, row)
					}
				case op == 4:
					x.Unset(row)
					delete(m, row)
				default:
					from, to := uint32(r.IntN(moveRows)), uint32(r.IntN(moveRows))
					if r.IntN(8) == 0 {
						to = from
					}
					fromWins := r.IntN(2) == 0
					before := x.View()
					x.Move(from, to, fromWins)
					if from == to || len(m[from]) == 0 {
						if after := x.View(); after != before {
							t.Fatalf("multi=%v trial %d step %d: Move(%d, %d) of nothing republished", multi, trial, step, from, to)
						}
					}
					m.move(from, to, multi, fromWins)
				}
				if r.IntN(5) == 0 {
					v := x.View()
					checkValues(t, "live", v, m, names)
					snaps = append(snaps, snapshot[*ValuesView, valuesModel]{v, m.clone(), step})
				}
			}
			checkValues(t, "final", x.View(), m, names)
			for _, s := range snaps {
				checkValues(t, "published earlier", s.view, s.model, names)
			}
		}
	}
}

// --- Bool ---

func TestBoolMove(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	check := func(what string, v *BoolView, m map[uint32]bool) {
		t.Helper()
		if want := rowsOf(func(r uint32) bool { _, ok := m[r]; return ok }); !v.Exists().Equals(want) {
			t.Fatalf("%s: exists %v, want %v", what, v.Exists().ToArray(), want.ToArray())
		}
		if want := rowsOf(func(r uint32) bool { return m[r] }); !v.True().Equals(want) {
			t.Fatalf("%s: true %v, want %v", what, v.True().ToArray(), want.ToArray())
		}
		for row := uint32(0); row < moveRows; row++ {
			val, ok := v.Value(row)
			want, wantOK := m[row]
			if val != want || ok != wantOK {
				t.Fatalf("%s: row %d = %v,%v, want %v,%v", what, row, val, ok, want, wantOK)
			}
		}
	}
	for trial := range 20 {
		x := NewBool()
		m := map[uint32]bool{}
		var snaps []snapshot[*BoolView, map[uint32]bool]
		for step := range 600 {
			row := uint32(r.IntN(moveDataRows))
			switch op := r.IntN(10); {
			case op < 4:
				b := r.IntN(2) == 0
				x.Set(row, b)
				m[row] = b
			case op == 4:
				x.Unset(row)
				delete(m, row)
			default:
				from, to := uint32(r.IntN(moveRows)), uint32(r.IntN(moveRows))
				if r.IntN(8) == 0 {
					to = from
				}
				fromWins := r.IntN(2) == 0
				before := x.View()
				x.Move(from, to, fromWins)
				fv, has := m[from]
				if from == to || !has {
					if x.View() != before {
						t.Fatalf("trial %d step %d: Move(%d, %d) of nothing republished", trial, step, from, to)
					}
					break
				}
				if _, ok := m[to]; !ok || fromWins {
					m[to] = fv
				}
				delete(m, from)
			}
			if r.IntN(5) == 0 {
				v := x.View()
				check("live", v, m)
				snaps = append(snaps, snapshot[*BoolView, map[uint32]bool]{v, maps.Clone(m), step})
			}
		}
		check("final", x.View(), m)
		for _, s := range snaps {
			check("published earlier", s.view, s.model)
		}
	}
}

// --- BSI ---

func TestBSIMove(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	check := func(what string, v *BSIView, m map[uint32]int64) {
		t.Helper()
		if want := rowsOf(func(r uint32) bool { _, ok := m[r]; return ok }); !v.Exists().Equals(want) {
			t.Fatalf("%s: exists %v, want %v", what, v.Exists().ToArray(), want.ToArray())
		}
		for row := uint32(0); row < moveRows; row++ {
			val, ok := v.Value(row)
			want, wantOK := m[row]
			if val != want || ok != wantOK {
				t.Fatalf("%s: row %d = %d,%v, want %d,%v", what, row, val, ok, want, wantOK)
			}
		}
		lo, _ := v.Bounds()
		for off, b := range v.EqualityBitmaps() {
			want := rowsOf(func(r uint32) bool { val, ok := m[r]; return ok && val-lo == int64(off) })
			if !b.Equals(want) {
				t.Fatalf("%s: value %d on %v, want %v", what, lo+int64(off), b.ToArray(), want.ToArray())
			}
		}
		// Every slice holds only rows with a value.
		for i, s := range v.Slices() {
			if !roaring.AndNot(s, v.Exists()).IsEmpty() {
				t.Fatalf("%s: slice %d holds rows without a value", what, i)
			}
		}
	}
	for _, bounds := range [][2]int64{{0, 6}, {-50, 50}, {0, 1 << 20}, {7, 7}} {
		lo, hi := bounds[0], bounds[1]
		for trial := range 15 {
			x := NewBSI(lo, hi)
			m := map[uint32]int64{}
			var snaps []snapshot[*BSIView, map[uint32]int64]
			for step := range 600 {
				row := uint32(r.IntN(moveDataRows))
				switch op := r.IntN(10); {
				case op < 4:
					v := lo + r.Int64N(hi-lo+1)
					x.Set(row, v)
					m[row] = v
				case op == 4:
					x.Unset(row)
					delete(m, row)
				default:
					from, to := uint32(r.IntN(moveRows)), uint32(r.IntN(moveRows))
					if r.IntN(8) == 0 {
						to = from
					}
					fromWins := r.IntN(2) == 0
					before := x.View()
					x.Move(from, to, fromWins)
					fv, has := m[from]
					if from == to || !has {
						if x.View() != before {
							t.Fatalf("[%d,%d] trial %d step %d: Move(%d, %d) of nothing republished", lo, hi, trial, step, from, to)
						}
						break
					}
					if _, ok := m[to]; !ok || fromWins {
						m[to] = fv
					}
					delete(m, from)
				}
				if r.IntN(5) == 0 {
					v := x.View()
					check("live", v, m)
					snaps = append(snaps, snapshot[*BSIView, map[uint32]int64]{v, maps.Clone(m), step})
				}
			}
			check("final", x.View(), m)
			for _, s := range snaps {
				check("published earlier", s.view, s.model)
			}
		}
	}
}

// --- Events ---

// eventsModel is row -> value -> set of days.
type eventsModel map[uint32]map[string]map[Day]bool

func (m eventsModel) clone() eventsModel {
	c := eventsModel{}
	for row, vals := range m {
		c[row] = map[string]map[Day]bool{}
		for v, days := range vals {
			c[row][v] = maps.Clone(days)
		}
	}
	return c
}

func checkEvents(t *testing.T, what string, v *EventsView, m eventsModel) {
	t.Helper()
	if want := rowsOf(func(r uint32) bool { return len(m[r]) > 0 }); !v.Exists().Equals(want) {
		t.Fatalf("%s: exists %v, want %v", what, v.Exists().ToArray(), want.ToArray())
	}
	for row := uint32(0); row < moveRows; row++ {
		got := v.RowDays(row)
		want := map[string][]Day{}
		for val, days := range m[row] {
			want[val] = slices.Sorted(maps.Keys(days))
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("%s: row %d has %v, want %v", what, row, got, want)
		}
	}
	// The all-time and any-value bitmaps.
	for i, name := range v.Values() {
		all, _, _ := v.ValueBitmaps(i)
		want := rowsOf(func(r uint32) bool { return len(m[r][name]) > 0 })
		if !all.Equals(want) {
			t.Fatalf("%s: %q ever %v, want %v", what, name, all.ToArray(), want.ToArray())
		}
	}
	all, first, days := v.AnyValueBitmaps()
	if !all.Equals(v.Exists()) {
		t.Fatalf("%s: any-value all-time %v, exists %v", what, all.ToArray(), v.Exists().ToArray())
	}
	for j, b := range days {
		d := first + Day(j)
		want := rowsOf(func(r uint32) bool {
			for _, ds := range m[r] {
				if ds[d] {
					return true
				}
			}
			return false
		})
		if b == nil {
			b = roaring.New()
		}
		if !b.Equals(want) {
			t.Fatalf("%s: any value on day %d: %v, want %v", what, d, b.ToArray(), want.ToArray())
		}
	}
}

func TestEventsMove(t *testing.T) {
	names := []string{"buy", "view", "cart", "refund"}
	r := rand.New(rand.NewPCG(41, 42))
	for trial := range 20 {
		x := NewEvents("e")
		m := eventsModel{}
		var snaps []snapshot[*EventsView, eventsModel]
		for step := range 600 {
			row := uint32(r.IntN(moveDataRows))
			switch op := r.IntN(10); {
			case op < 5:
				val, day := names[r.IntN(len(names))], Day(100+r.IntN(12))
				x.Add(row, val, day)
				if m[row] == nil {
					m[row] = map[string]map[Day]bool{}
				}
				if m[row][val] == nil {
					m[row][val] = map[Day]bool{}
				}
				m[row][val][day] = true
			case op == 5:
				x.Unset(row)
				delete(m, row)
			default:
				from, to := uint32(r.IntN(moveRows)), uint32(r.IntN(moveRows))
				if r.IntN(8) == 0 {
					to = from
				}
				before := x.View()
				x.Move(from, to)
				if from == to || len(m[from]) == 0 {
					if x.View() != before {
						t.Fatalf("trial %d step %d: Move(%d, %d) of nothing republished", trial, step, from, to)
					}
					break
				}
				if m[to] == nil {
					m[to] = map[string]map[Day]bool{}
				}
				for val, days := range m[from] {
					if m[to][val] == nil {
						m[to][val] = map[Day]bool{}
					}
					maps.Copy(m[to][val], days)
				}
				delete(m, from)
			}
			if r.IntN(5) == 0 {
				v := x.View()
				checkEvents(t, "live", v, m)
				snaps = append(snaps, snapshot[*EventsView, eventsModel]{v, m.clone(), step})
			}
		}
		checkEvents(t, "final", x.View(), m)
		for _, s := range snaps {
			checkEvents(t, "published earlier", s.view, s.model)
		}
	}
}

// TestMoveLeavesUntouchedValuesAlone checks that a move republishes only
// what it changed: event values without from keep their published view,
// and so do the bitmaps of tag values neither row holds.
func TestMoveLeavesUntouchedValuesAlone(t *testing.T) {
	e := NewEvents("e")
	e.Add(1, "buy", 10)
	e.Add(2, "view", 11)
	e.Add(3, "cart", 12)
	before := e.View()
	e.Move(1, 4)
	after := e.View()
	if after == before {
		t.Fatal("events: Move did not republish")
	}
	if after.vals[1] != before.vals[1] || after.vals[2] != before.vals[2] {
		t.Fatal("events: values without the moved row were republished")
	}
	if after.vals[0] == before.vals[0] || !after.vals[0].all.Contains(4) || after.vals[0].all.Contains(1) {
		t.Fatal("events: the moved value is wrong")
	}

	x := NewValues("t", false)
	x.SetTag(1, "a")
	x.SetTag(2, "b")
	x.SetTag(3, "c")
	vb := x.View()
	x.Move(1, 2, false) // 2 keeps "b"
	va := x.View()
	if va.Bitmap("b") != vb.Bitmap("b") || va.Bitmap("c") != vb.Bitmap("c") {
		t.Fatal("values: bitmaps the move did not change were republished")
	}
	if got := va.RowValues(nil, 2); !slices.Equal(got, []string{"b"}) || va.Exists().Contains(1) || va.Bitmap("a").Contains(1) {
		t.Fatalf("values: row 2 holds %q after a losing move", got)
	}
}
