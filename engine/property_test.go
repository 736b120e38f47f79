package engine_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/reference"
	"github.com/cohortdb/cohort/engine/schema"
)

const propSchema = `{"timezone":"Asia/Shanghai","fields":[
 {"name":"t","type":"tag"},
 {"name":"s","type":"set"},
 {"name":"b","type":"bool"},
 {"name":"n","type":"int","min":-5,"max":300},
 {"name":"d","type":"decimal","scale":2,"min":-10,"max":1000},
 {"name":"dt","type":"date"},
 {"name":"e","type":"event","retention_days":30},
 {"name":"e2","type":"event"}
]}`

var (
	tagVals   = []string{"a", "b", "上海", "杭州", "Shanghai"}
	setVals   = []string{"x", "y", "z", "微信"}
	eventVals = []string{"m", "n", "o"}
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
}

func newHarness(t *testing.T, seed uint64) *harness {
	t.Helper()
	s, err := schema.Parse([]byte(propSchema))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)}
	e := engine.New(engine.Options{Clock: clock.Now})
	ds, err := e.Create("prop", s)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), clock: clock, ds: ds, ref: reference.New(s), s: s}
}

func (h *harness) today() schema.Day { return schema.DayOf(h.clock.now, h.s.Location()) }

func (h *harness) pick(vals []string) string { return vals[h.rng.IntN(len(vals))] }

func (h *harness) quote(v string) string { return fmt.Sprintf("%q", v) }

// randomLine builds an ingest line; about one in eight is invalid in some way.
func (h *harness) randomLine(nProfiles int) string {
	r := h.rng
	id := fmt.Sprintf("p%d", r.IntN(nProfiles))
	var set, add, remove, unset, events []string
	used := map[string]bool{}
	field := func(names ...string) (string, bool) {
		n := names[r.IntN(len(names))]
		if used[n] {
			return "", false
		}
		used[n] = true
		return n, true
	}
	for range r.IntN(4) {
		n, ok := field("t", "s", "b", "n", "d", "dt")
		if !ok {
			continue
		}
		var v string
		switch n {
		case "t":
			v = h.quote(h.pick(tagVals))
		case "s":
			var vs []string
			for range r.IntN(3) {
				vs = append(vs, h.quote(h.pick(setVals)))
			}
			v = "[" + strings.Join(vs, ",") + "]"
		case "b":
			v = fmt.Sprint(r.IntN(2) == 0)
		case "n":
			v = fmt.Sprint(r.IntN(320) - 10) // some out of range
		case "d":
			v = fmt.Sprintf("%d.%02d", r.IntN(1020)-12, r.IntN(100))
			if r.IntN(10) == 0 {
				v += "7" // too many decimals
			}
		case "dt":
			v = h.quote(schema.FormatDay(h.today() - schema.Day(r.IntN(3000))))
		}
		if r.IntN(20) == 0 {
			v = "null"
		}
		set = append(set, fmt.Sprintf("%q:%s", n, v))
	}
	if r.IntN(3) == 0 && !used["s"] {
		used["s"] = true
		a, rm := h.pick(setVals), h.pick(setVals)
		add = append(add, fmt.Sprintf(`"s":[%q]`, a))
		if a != rm || r.IntN(10) == 0 { // sometimes both: invalid
			remove = append(remove, fmt.Sprintf(`"s":[%q]`, rm))
		}
	}
	if r.IntN(8) == 0 {
		if n, ok := field("t", "s", "b", "n", "d", "dt", "e", "e2"); ok {
			unset = append(unset, h.quote(n))
		}
	}
	for range r.IntN(4) {
		f := []string{"e", "e2"}[r.IntN(2)]
		day := h.today() - schema.Day(r.IntN(45)) + 1
		ts := schema.FormatDay(day)
		if r.IntN(2) == 0 {
			// A timestamp near midnight: the day depends on the time zone.
			ts = schema.DayTime(day).Add(time.Duration(r.IntN(48)-12) * time.Hour).Format(time.RFC3339)
		}
		events = append(events, fmt.Sprintf(`{"field":%q,"value":%q,"time":%q}`, f, h.pick(eventVals), ts))
	}
	switch r.IntN(40) {
	case 0:
		set = append(set, `"nope":1`)
	case 1:
		id = ""
	case 2:
		set = append(set, `"t":5`)
	}
	var parts []string
	parts = append(parts, fmt.Sprintf(`"id":%q`, id))
	for _, p := range []struct {
		key  string
		list []string
		arr  bool
	}{{"set", set, false}, {"add", add, false}, {"remove", remove, false}, {"unset", unset, true}, {"events", events, true}} {
		if len(p.list) == 0 {
			continue
		}
		if p.arr {
			parts = append(parts, fmt.Sprintf("%q:[%s]", p.key, strings.Join(p.list, ",")))
		} else {
			parts = append(parts, fmt.Sprintf("%q:{%s}", p.key, strings.Join(p.list, ",")))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// batch applies n random lines to both models.
func (h *harness) batch(n, nProfiles int) {
	var ups []record.Update
	for range n {
		line := h.randomLine(nProfiles)
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
	for _, u := range ups {
		expired += h.ref.Apply(u, h.today())
	}
	if expired != res.Expired {
		h.t.Fatalf("expired events: engine %d, reference %d", res.Expired, expired)
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
		v := h.pick(append(tagVals, "unknown"))
		return op{"t = " + v, func(sn *engine.Snapshot) *roaring.Bitmap { return nonNil(field(sn, "t").Values.Bitmap(v)) }, reference.TagIs(fieldIdx(s, "t"), v)}
	case 2:
		v := h.pick(setVals)
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
		for _, v := range eventVals {
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
			n := 1 + r.IntN(4)
			return op{fmt.Sprintf("%s at least %d", desc, n), func(sn *engine.Snapshot) *roaring.Bitmap { return field(sn, name).Events.AtLeast(vals, n, from, to) },
				reference.EventAtLeast(fi, vals, n, from, to)}
		case 1:
			n := r.IntN(4)
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

func head(rows []uint32) []uint32 { return rows[:min(len(rows), 12)] }

// TestPropertyAgainstReference runs random updates and random index
// operations through the engine and the reference model and compares
// every answer, then checks that an old snapshot did not move.
func TestPropertyAgainstReference(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			h := newHarness(t, seed)
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
				for range 30 {
					h.check(sn, h.randomOp())
				}
				h.checkMinMax(sn)
				for i, p := range h.ref.Profiles {
					if got := sn.ExternalID(uint32(i)); got != p.ID {
						t.Fatalf("row %d: id %q, want %q", i, got, p.ID)
					}
				}
			}
		})
	}
}

// TestSnapshotIsolation checks that a snapshot taken earlier answers the
// same after many more updates land.
func TestSnapshotIsolation(t *testing.T) {
	h := newHarness(t, 42)
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
