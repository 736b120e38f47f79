package engine_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/internal/testgen"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/reference"
	"github.com/cohortdb/cohort/engine/schema"
)

// fakeClock is a test clock the test moves by whole days.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// harness runs the engine and the reference model side by side.
type harness struct {
	t     *testing.T
	rng   *rand.Rand
	clock *fakeClock
	ds    *engine.Dataset
	ref   *reference.Model
	s     *schema.Schema
	lines *testgen.Lines
}

func newHarness(t *testing.T, seed uint64) *harness {
	t.Helper()
	s, err := schema.Parse([]byte(testgen.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)}
	e := engine.New(engine.Options{Clock: clock.Now})
	ds, err := e.Create("prop", s)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), clock: clock, ds: ds, ref: reference.New(s), s: s}
	h.lines = &testgen.Lines{R: h.rng, Today: h.today}
	return h
}

func (h *harness) today() schema.Day { return schema.DayOf(h.clock.now, h.s.Location()) }

func (h *harness) pick(vals []string) string { return vals[h.rng.IntN(len(vals))] }

// batch applies n random lines to both models.
func (h *harness) batch(n, nProfiles int) {
	var ups []record.Update
	for range n {
		line := h.lines.Line(nProfiles)
		u, err := record.Decode([]byte(line), h.s)
		if err != nil {
			continue
		}
		ups = append(ups, u)
	}
	res := h.ds.Apply(ups)
	if len(res.Errors) > 0 {
		h.t.Fatalf("apply refused decoded updates: %v", res.Errors)
	}
	expired := 0
	created, merged := h.ref.Created, h.ref.Merged
	for _, u := range ups {
		expired += h.ref.Apply(u, h.today())
	}
	if expired != res.Expired {
		h.t.Fatalf("expired events: engine %d, reference %d", res.Expired, expired)
	}
	if res.Created != h.ref.Created-created || res.Merged != h.ref.Merged-merged {
		h.t.Fatalf("engine created %d and merged %d profiles, reference %d and %d", res.Created, res.Merged, h.ref.Created-created, h.ref.Merged-merged)
	}
}

// op is one index operation evaluated by both sides.
type op struct {
	name string
	eng  func(*engine.Snapshot) *roaring.Bitmap
	ref  func(*reference.Profile) bool
}

func fieldIdx(s *schema.Schema, name string) int {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return i
		}
	}
	panic("no field " + name)
}

func field(s *engine.Snapshot, name string) *engine.FieldView {
	f, err := s.Field(name)
	if err != nil {
		panic(err)
	}
	return f
}

var ops = []index.Op{index.EQ, index.NE, index.LT, index.LE, index.GT, index.GE}

func (h *harness) randomOp() op {
	r, s := h.rng, h.s
	today := h.today()
	switch r.IntN(9) {
	case 0:
		name := []string{"t", "s", "b", "n", "d", "dt", "e", "e2"}[r.IntN(8)]
		fi := fieldIdx(s, name)
		return op{"exists " + name, func(sn *engine.Snapshot) *roaring.Bitmap { return field(sn, name).Exists() }, reference.Exists(fi)}
	case 1:
		v := h.pick(append(testgen.TagVals, "unknown"))
		return op{"t = " + v, func(sn *engine.Snapshot) *roaring.Bitmap { return nonNil(field(sn, "t").Values.Bitmap(v)) }, reference.TagIs(fieldIdx(s, "t"), v)}
	case 2:
		v := h.pick(testgen.SetVals)
		return op{"s has " + v, func(sn *engine.Snapshot) *roaring.Bitmap { return nonNil(field(sn, "s").Values.Bitmap(v)) }, reference.SetHas(fieldIdx(s, "s"), v)}
	case 3:
		v := r.IntN(2) == 0
		return op{fmt.Sprint("b = ", v), func(sn *engine.Snapshot) *roaring.Bitmap {
			if v {
				return field(sn, "b").Bool.True()
			}
			return field(sn, "b").Bool.False()
		}, reference.BoolIs(fieldIdx(s, "b"), v)}
	case 4, 5:
		name := []string{"n", "d", "dt"}[r.IntN(3)]
		var c int64
		switch name {
		case "n":
			c = int64(r.IntN(330) - 15)
		case "d":
			c = int64(r.IntN(110000) - 2000)
		case "dt":
			c = int64(today) - int64(r.IntN(3100))
		}
		o := ops[r.IntN(len(ops))]
		return op{fmt.Sprintf("%s %s %d", name, o, c), func(sn *engine.Snapshot) *roaring.Bitmap { return field(sn, name).BSI.Compare(o, c) },
			reference.Compare(fieldIdx(s, name), o.String(), c)}
	case 6:
		lo, hi := int64(r.IntN(330)-15), int64(r.IntN(330)-15)
		return op{fmt.Sprintf("n between %d and %d", lo, hi), func(sn *engine.Snapshot) *roaring.Bitmap { return field(sn, "n").BSI.Between(lo, hi) },
			reference.Between(fieldIdx(s, "n"), lo, hi)}
	default:
		name := []string{"e", "e2"}[r.IntN(2)]
		fi := fieldIdx(s, name)
		var vals []string
		for _, v := range testgen.EventVals {
			if r.IntN(3) == 0 {
				vals = append(vals, v)
			}
		}
		from, to := schema.MinDay, schema.MaxDay
		if r.IntN(4) != 0 {
			from = today - schema.Day(r.IntN(50))
			to = from + schema.Day(r.IntN(40))
		}
		desc := fmt.Sprintf("%s(%v) in [%d,%d]", name, vals, from-today, to-today)
		switch r.IntN(3) {
		case 0:
			n := 1 + r.IntN(7)
			return op{fmt.Sprintf("%s at least %d", desc, n), func(sn *engine.Snapshot) *roaring.Bitmap { return field(sn, name).Events.AtLeast(vals, n, from, to) },
				reference.EventAtLeast(fi, vals, n, from, to)}
		case 1:
			n := r.IntN(7)
			return op{fmt.Sprintf("%s at most %d", desc, n), func(sn *engine.Snapshot) *roaring.Bitmap {
				return field(sn, name).Events.AtMost(sn.All(), vals, n, from, to)
			},
				reference.EventAtMost(fi, vals, n, from, to)}
		default:
			if from == schema.MinDay {
				return op{name + " ever", func(sn *engine.Snapshot) *roaring.Bitmap { return field(sn, name).Events.Ever(vals) },
					reference.EventAtLeast(fi, vals, 1, from, to)}
			}
			return op{desc, func(sn *engine.Snapshot) *roaring.Bitmap { return field(sn, name).Events.Window(vals, from, to) },
				reference.EventAtLeast(fi, vals, 1, from, to)}
		}
	}
}

func nonNil(b *roaring.Bitmap) *roaring.Bitmap {
	if b == nil {
		return roaring.New()
	}
	return b
}

func (h *harness) check(sn *engine.Snapshot, o op) {
	h.t.Helper()
	got := o.eng(sn).ToArray()
	want := h.ref.Filter(o.ref)
	if len(got) == 0 {
		got = nil
	}
	if !slices.Equal(got, want) {
		h.t.Fatalf("%s: engine %d rows %v, reference %d rows %v", o.name, len(got), head(got), len(want), head(want))
	}
}

// checkWindowCount compares the count-only event window (which counts a
// dense union without building it) with the reference.
func (h *harness) checkWindowCount(sn *engine.Snapshot) {
	h.t.Helper()
	r := h.rng
	for _, name := range []string{"e", "e2"} {
		fi := fieldIdx(sn.Schema(), name)
		var vals []string
		for _, v := range testgen.EventVals {
			if r.IntN(2) == 0 {
				vals = append(vals, v)
			}
		}
		today := h.today()
		from := today - schema.Day(r.IntN(50))
		to := from + schema.Day(r.IntN(45))
		got := field(sn, name).Events.WindowCount(vals, from, to)
		if want := uint64(len(h.ref.Filter(reference.EventAtLeast(fi, vals, 1, from, to)))); got != want {
			h.t.Fatalf("%s(%v) window [%d,%d] count %d, reference %d", name, vals, from-today, to-today, got, want)
		}
	}
}

func head(rows []uint32) []uint32 { return rows[:min(len(rows), 12)] }

// TestPropertyAgainstReference runs random updates and random index
// operations through the engine and the reference model and compares
// every answer, then checks that an old snapshot did not move.
func TestPropertyAgainstReference(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			h := newHarness(t, seed)
			// Identifiers merge profiles: every index must lose the rows
			// absorbed and hold the survivors' merged values.
			h.lines.IDs = 3
			profiles := 50 + h.rng.IntN(400)
			for round := range 40 {
				h.batch(1+h.rng.IntN(60), profiles)
				if round%10 == 9 {
					// A new day: retention drops old event days on both sides.
					h.clock.now = h.clock.now.Add(time.Duration(1+h.rng.IntN(5)) * 24 * time.Hour)
					h.ds.Expire()
					h.ref.Expire(h.today())
				}
				sn := h.ds.Snapshot()
				if sn.Rows() != uint32(len(h.ref.Profiles)) {
					t.Fatalf("rows: engine %d, reference %d", sn.Rows(), len(h.ref.Profiles))
				}
				live := h.ref.Filter(func(*reference.Profile) bool { return true })
				if got := sn.All().ToArray(); sn.Profiles() != uint64(len(live)) || !slices.Equal(got, live) {
					t.Fatalf("profiles: engine %d %v, reference %d %v", sn.Profiles(), head(got), len(live), head(live))
				}
				for range 30 {
					h.check(sn, h.randomOp())
				}
				h.checkWindowCount(sn)
				h.checkMinMax(sn)
				for i, p := range h.ref.Profiles {
					if got := sn.ExternalID(uint32(i)); got != p.ID {
						t.Fatalf("row %d: id %q, want %q", i, got, p.ID)
					}
				}
				if round%10 == 9 {
					compareWithReference(t, fmt.Sprintf("round %d", round), h.ds, h.ref)
				}
			}
		})
	}
}

// TestSnapshotIsolation checks that a snapshot taken earlier answers the
// same after many more updates land.
func TestSnapshotIsolation(t *testing.T) {
	h := newHarness(t, 42)
	h.lines.IDs = 3
	h.batch(300, 200)
	old := h.ds.Snapshot()
	var saved []op
	var answers [][]uint32
	for range 200 {
		o := h.randomOp()
		saved = append(saved, o)
		answers = append(answers, o.eng(old).ToArray())
	}
	for range 20 {
		h.batch(100, 400)
	}
	if h.ds.Snapshot().Seq() <= old.Seq() {
		t.Fatal("no new snapshot was published")
	}
	for i, o := range saved {
		if got := o.eng(old).ToArray(); !slices.Equal(got, answers[i]) {
			t.Fatalf("%s changed in an old snapshot: %d rows, was %d", o.name, len(got), len(answers[i]))
		}
	}
}

// checkMinMax compares BSI min/max over random filters with the reference.
func (h *harness) checkMinMax(sn *engine.Snapshot) {
	h.t.Helper()
	for _, name := range []string{"n", "d", "dt"} {
		o := h.randomOp()
		filter := o.eng(sn)
		rows := h.ref.Filter(o.ref)
		fi := fieldIdx(h.s, name)
		var lo, hi int64
		found := false
		for _, r := range rows {
			v, ok := h.ref.Profiles[r].Nums[fi]
			if !ok {
				continue
			}
			if !found || v < lo {
				lo = v
			}
			if !found || v > hi {
				hi = v
			}
			found = true
		}
		bsi := field(sn, name).BSI
		gotLo, okLo := bsi.Min(filter)
		gotHi, okHi := bsi.Max(filter)
		if okLo != found || okHi != found || (found && (gotLo != lo || gotHi != hi)) {
			h.t.Fatalf("%s over [%s]: engine min %d max %d (%v), reference %d %d (%v)", name, o.name, gotLo, gotHi, okLo, lo, hi, found)
		}
	}
}
