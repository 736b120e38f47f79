package lookalike

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
)

// naiveCandidates lists the candidate features the straightforward way:
// a bitmap for every feature (bucket differences, "false", every event
// window's union through the view), counted by intersection.
func naiveCandidates(t *testing.T, sn *engine.Snapshot, m *model) ([]candidate, int) {
	t.Helper()
	var out []candidate
	counted := 0
	for _, fv := range sn.Fields() {
		if slices.ContainsFunc(m.opts.ExcludeFields, func(f string) bool { return schema.Key(f) == schema.Key(fv.Field.Name) }) {
			continue
		}
		add := func(value, kind string, bm *roaring.Bitmap) {
			if bm == nil {
				return
			}
			if kind == KindEvent && bm.IsEmpty() {
				return // no event of the value in the window: not a candidate
			}
			counted++
			n := counts{all: bm.GetCardinality(), seed: bm.AndCardinality(m.seed), base: bm.AndCardinality(m.base)}
			if m.supported(n) {
				out = append(out, candidate{Feature: Feature{Field: fv.Field.Name, Value: value, Kind: kind, SeedCount: n.seed, BaseCount: n.base}, bm: bm})
			}
		}
		switch {
		case fv.Values != nil:
			for _, v := range fv.Values.Values() {
				add(v, KindValue, fv.Values.Bitmap(v))
			}
		case fv.Bool != nil:
			add("true", KindValue, fv.Bool.True())
			add("false", KindValue, fv.Bool.False())
		case fv.BSI != nil:
			for _, b := range buckets(fv.Field, fv.BSI) {
				// Built from two comparisons, not from the range the
				// lookalike counts and scores.
				bm := fv.BSI.Exists().Clone()
				if b.hasLo {
					bm = fv.BSI.Compare(index.GE, b.lo)
				}
				if b.hasHi {
					bm.AndNot(fv.BSI.Compare(index.GE, b.hi))
				}
				add(b.label, KindBucket, bm)
			}
		case fv.Events != nil:
			from := m.opts.Now - schema.Day(m.opts.WindowDays) + 1
			for _, v := range fv.Events.Values() {
				add(v, KindEvent, fv.Events.Uncached().Window([]string{v}, from, m.opts.Now))
			}
		}
	}
	return out, counted
}

// TestCandidatesMatchNaive checks the counted candidates (bucket and
// "false" counts as differences, event windows counted from their days
// with no union built) against naiveCandidates, for seeds small and large
// (the seed's rows and its words), with and without a universe, windows
// kept by the view or not, and the bitmaps built for the selected features
// against the naive ones.
func TestCandidatesMatchNaive(t *testing.T) {
	sn := snapshot(t)
	now := today(sn)
	// Each window comes back three times, so that by the third the view
	// keeps it and it is counted from the kept union.
	for trial := range 14 {
		r := rand.New(rand.NewPCG(uint64(trial), 7))
		share := []float64{0.002, 0.005, 0.05, 0.3}[trial%4]
		seed := randomSubset(r, sn.All(), share)
		seed.Or(roaring.And(run(t, sn, "member_level = 'L4'", now), randomSubset(r, sn.All(), share)))
		opts := Options{Size: 10, Now: now, WindowDays: []int{0, 3, 60, 400}[trial%4], MaxFeatures: MaxFeaturesLimit}
		if trial >= 12 {
			// The largest seed still held as rows, over long windows:
			// event features with the support to be candidates, their
			// seed counts taken day by day (EventsView.WindowCountDaysWithin).
			seed = roaring.New()
			for _, row := range r.Perm(int(sn.Rows()))[:sn.Rows()/64-1] {
				seed.Add(uint32(row))
			}
			opts.WindowDays = []int{59, 399}[trial%2] // windows the view does not keep yet
		}
		base := roaring.AndNot(sn.All(), seed)
		if trial/4 == 1 {
			opts.Universe = randomSubset(r, sn.All(), 0.6)
			base.And(opts.Universe)
		}
		opts, err := opts.withDefaults(sn)
		if err != nil {
			t.Fatal(err)
		}
		m := newModel(sn, opts, seed, base)
		if (m.seedRows == nil) == (m.seedWords == nil) {
			t.Fatalf("trial %d: the seed should be held one way", trial)
		}
		got, err := m.candidates(context.Background(), sn)
		if err != nil {
			t.Fatal(err)
		}
		want, counted := naiveCandidates(t, sn, m)
		if int(m.counted.Load()) != counted {
			t.Fatalf("trial %d: %d features counted, naive %d", trial, m.counted.Load(), counted)
		}
		key := func(c candidate) Feature { return c.Feature }
		order := func(a, b candidate) int {
			return cmp.Or(cmp.Compare(a.Field, b.Field), cmp.Compare(a.Value, b.Value))
		}
		slices.SortFunc(got, order)
		slices.SortFunc(want, order)
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d candidates, naive %d", trial, len(got), len(want))
		}
		for i := range got {
			if key(got[i]) != key(want[i]) {
				t.Fatalf("trial %d: candidate %+v, naive %+v", trial, key(got[i]), key(want[i]))
			}
		}
		// Counted again (the view keeps more by now): the same
		// candidates.
		again, err := m.candidates(context.Background(), sn)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(again, order)
		if !slices.EqualFunc(again, got, func(a, b candidate) bool { return key(a) == key(b) }) {
			t.Fatalf("trial %d: counted again, the candidates differ", trial)
		}
		// Every candidate is selected (MaxFeatures is the limit), so every
		// bitmap is built: each must hold the naive members.
		sel := m.selectFeatures(got)
		byKey := map[[2]string]*roaring.Bitmap{}
		for _, c := range want {
			byKey[[2]string{c.Field, c.Value}] = c.bm
		}
		for i := range sel {
			c := &sel[i]
			if members := c.within(sn.All()); !members.Equals(byKey[[2]string{c.Field, c.Value}]) {
				t.Fatalf("trial %d: %s=%s: members differ from the naive bitmap", trial, c.Field, c.Value)
			}
		}
	}
}

// TestWindowCounts checks windowCounts against a built union on days of
// every container kind (dense days make bitmap containers, which
// WriteDenseTo copies rather than ORs), with the seed as rows and as
// words, with and without a universe, and a scratch reused throughout.
func TestWindowCounts(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const rows = 300_000
	var sc scratch
	for trial := range 40 {
		days := make([]*roaring.Bitmap, 1+r.IntN(6))
		for i := range days {
			d := roaring.New()
			switch r.IntN(3) {
			case 0: // sparse: array containers
				for range 1 + r.IntN(2000) {
					d.Add(uint32(r.IntN(rows)))
				}
			case 1: // dense: bitmap containers
				lo := uint32(r.IntN(rows / 2))
				n := uint32(70_000 + r.IntN(80_000))
				for x := lo; x < lo+n; x++ {
					if r.IntN(3) == 0 {
						d.Add(x)
					}
				}
				d.Add(uint32(r.IntN(rows)))
			default: // runs
				lo := uint64(r.IntN(rows / 2))
				d.AddRange(lo, lo+1+uint64(r.IntN(100_000)))
				d.RunOptimize()
			}
			days[i] = d
		}
		union := roaring.FastOr(days...)
		seed := roaring.New()
		for range []int{20, 20_000}[trial%2] {
			seed.Add(uint32(r.IntN(rows)))
		}
		m := &model{seed: seed}
		if trial%2 == 0 {
			m.seedRows = seed.ToArray()
		} else {
			m.seedWords = make([]uint64, seed.Maximum()/64+1)
			seed.WriteDenseTo(m.seedWords)
		}
		base := roaring.AndNot(roaring.FlipInt(roaring.New(), 0, rows), seed)
		if trial%4 >= 2 {
			m.opts.Universe = roaring.New()
			m.opts.Universe.AddRange(uint64(r.IntN(rows)), rows)
			base.And(m.opts.Universe)
			m.baseWords = make([]uint64, base.Maximum()/64+1)
			base.WriteDenseTo(m.baseWords)
		}
		got := m.windowCounts(days, &sc)
		want := counts{all: union.GetCardinality(), seed: union.AndCardinality(seed), base: union.AndCardinality(base)}
		if got != want {
			t.Fatalf("trial %d: counts %+v, union %+v", trial, got, want)
		}
		for i, w := range sc.words {
			if w != 0 {
				t.Fatalf("trial %d: scratch word %d left set", trial, i)
			}
		}
		for i, w := range sc.tmp {
			if w != 0 {
				t.Fatalf("trial %d: scratch tmp word %d left set", trial, i)
			}
		}
	}
}

// TestKeptWindows: a field whose windows all fit in the view's room has
// every one asked for (kept from the second ask on, each equal to its
// union of days), and one whose windows do not all fit has none asked
// for, leaving its days to be cut; the candidates counted either way
// match the naive ones.
func TestKeptWindows(t *testing.T) {
	sn := keptWindowsData(t)
	now := today(sn)
	r := rand.New(rand.NewPCG(3, 4))
	l4 := run(t, sn, "member_level = 'L4'", now)
	seed := randomSubset(r, l4, 40/float64(l4.GetCardinality())) // small: held as rows
	opts, err := Options{Size: 10, Now: now, WindowDays: 20}.withDefaults(sn)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(sn, opts, seed, roaring.AndNot(sn.All(), seed))
	if m.seedRows == nil {
		t.Fatalf("seed of %d rows held as words", seed.GetCardinality())
	}
	fields := sn.Fields()
	var events []eventTask
	for i := range fields {
		if ev := fields[i].Events; ev != nil {
			for v := range ev.Values() {
				events = append(events, eventTask{task: len(events), field: i, value: v})
			}
		}
	}
	from, to := m.window()
	// An event field other than purchase (which holds the empty window)
	// has one byte less room than its windows need: none of its windows
	// is asked for, however often.
	var tight *index.EventsView
	for _, e := range events {
		if fields[e.field].Field.Name != "purchase" {
			tight = fields[e.field].Events
			break
		}
	}
	var need uint64
	for _, e := range events {
		if ev := fields[e.field].Events; ev == tight {
			need += ev.WindowBytes(ev.WindowCountQuiet([]string{ev.Values()[e.value]}, from, to))
		}
	}
	m.windowFree = func(ev *index.EventsView) uint64 {
		if ev == tight {
			return need - 1
		}
		return ev.WindowFree()
	}
	if got, cut := m.keptWindows(fields, events); len(got) != 0 || len(cut) == 0 {
		t.Fatalf("first ask: %d windows kept, want none; %d fields to cut, want some", len(got), len(cut))
	}
	if need == 0 {
		t.Fatal("the tight field has no window: the test does not reach it")
	}
	got, cut := m.keptWindows(fields, events)
	if len(got) == 0 {
		t.Fatal("second ask: no window kept")
	}
	empty := 0
	for _, e := range events {
		if ev := fields[e.field].Events; ev != tight && ev.WindowCountQuiet([]string{ev.Values()[e.value]}, from, to) == 0 {
			empty++
		}
	}
	if empty == 0 {
		t.Fatal("no empty window outside the tight field: the test does not reach them")
	}
	// Only the tight field is cut to its days: an empty window needs no
	// cut, and every other window is kept.
	for f := range cut {
		if fields[f].Events != tight {
			t.Fatalf("second ask: field %s cut to its days, though its windows are kept", fields[f].Field.Name)
		}
	}
	if !slices.ContainsFunc(events, func(e eventTask) bool { return cut[e.field] && fields[e.field].Events == tight }) {
		t.Fatal("second ask: the tight field is not cut to its days")
	}
	for _, e := range events {
		ev := fields[e.field].Events
		vals := []string{ev.Values()[e.value]}
		b, want := got[e.task], ev.WindowFromDays(vals, from, to, nil)
		switch {
		case ev == tight && b != nil:
			t.Fatalf("%s=%s kept though its field's windows do not fit", fields[e.field].Field.Name, vals[0])
		case ev != tight && want.IsEmpty() && b != nil:
			t.Fatalf("%s=%s: empty window kept", fields[e.field].Field.Name, vals[0])
		case ev != tight && !want.IsEmpty() && (b == nil || !b.Equals(want)):
			t.Fatalf("%s=%s: second ask, kept %v, want the union of its days", fields[e.field].Field.Name, vals[0], b != nil)
		}
	}
	cands, err := m.candidates(context.Background(), sn)
	if err != nil {
		t.Fatal(err)
	}
	naive, _ := naiveCandidates(t, sn, m)
	key := func(c candidate) Feature { return c.Feature }
	order := func(a, b candidate) int { return cmp.Or(cmp.Compare(a.Field, b.Field), cmp.Compare(a.Value, b.Value)) }
	slices.SortFunc(cands, order)
	slices.SortFunc(naive, order)
	if !slices.EqualFunc(cands, naive, func(a, b candidate) bool { return key(a) == key(b) }) {
		t.Fatalf("candidates from kept windows and cut days differ from the naive ones")
	}
}

// keptWindowsData is 4,000 generated profiles in a dataset of their own
// (views no other test used: their caches start empty) and one profile
// whose only purchase, of a value no one else buys, is 52 days old: a
// window of the last days holds no event of it.
func keptWindowsData(t *testing.T) *engine.Snapshot {
	t.Helper()
	ds, err := bench.Generated(4000, 9, testNow)
	if err != nil {
		t.Fatal(err)
	}
	old := `{"id":"old-buyer","events":[{"field":"purchase","value":"antique","time":"2026-10-01"}]}` + "\n"
	if res, err := ds.ApplyNDJSON(strings.NewReader(old), engine.LoadOptions{}); err != nil || len(res.Errors) > 0 {
		t.Fatalf("old purchase: %v %v", err, res.Errors)
	}
	return ds.Snapshot()
}
