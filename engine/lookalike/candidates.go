package lookalike

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/internal/parallel"
	"github.com/cohortdb/cohort/internal/wordops"
)

// candidates lists every candidate feature of the fields not excluded,
// with its counts. Fields, and an event field's values, are independent,
// so they are counted in parallel.
func (m *model) candidates(ctx context.Context, sn *engine.Snapshot) ([]candidate, error) {
	excluded := map[string]bool{}
	for _, f := range m.opts.ExcludeFields {
		excluded[schema.Key(f)] = true
	}
	// A task is a field, or one value of an event field: the event
	// values are most of the work, and as whole fields they would be
	// three pieces too big to share evenly between cores.
	type task struct{ field, value int }
	fields := sn.Fields()
	var tasks []task
	for i := range fields {
		switch {
		case excluded[schema.Key(fields[i].Field.Name)]:
		case fields[i].Events != nil:
			for v := range fields[i].Events.Values() {
				tasks = append(tasks, task{i, v})
			}
		default:
			tasks = append(tasks, task{i, -1})
		}
	}
	procs := runtime.GOMAXPROCS(0)
	var events []eventTask
	for i, t := range tasks {
		if t.value >= 0 {
			events = append(events, eventTask{task: i, field: t.field, value: t.value})
		}
	}
	unions, cut := m.keptWindows(fields, events)
	days := m.seedDays(fields, cut)
	out := make([][]candidate, len(tasks))
	errs := make([]error, len(tasks))
	scratches := make([]scratch, procs)
	parallel.Each(procs, len(tasks), func(w, i int) {
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("lookalike: %w", err)
			return
		}
		t := tasks[i]
		if t.value >= 0 {
			out[i] = m.eventCandidates(&fields[t.field], t.value, &scratches[w], days[t.field], unions[i])
		} else {
			out[i] = m.fieldCandidates(&fields[t.field])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var all []candidate
	for _, c := range out {
		all = append(all, c...)
	}
	return all, nil
}

// counts are a bitmap's sizes: within the dataset's profiles (every
// index bitmap holds only profiles), within the seed and within the base.
type counts struct{ all, seed, base uint64 }

// count counts bm against the seed and the base. Without a universe, base
// is every profile outside the seed, and bm holds only profiles: no
// second intersection needed.
func (m *model) count(bm *roaring.Bitmap) counts {
	c := counts{all: bm.GetCardinality()}
	c.seed = bm.AndCardinality(m.seed)
	if m.opts.Universe == nil {
		c.base = c.all - c.seed
	} else {
		c.base = bm.AndCardinality(m.base)
	}
	return c
}

// fieldCandidates lists the features of a field other than an event
// field (see eventCandidates) that pass the size and support rules,
// counted. A feature "bm minus minus" requires minus ⊆ bm,
// so that its counts are the differences of theirs.
func (m *model) fieldCandidates(fv *engine.FieldView) []candidate {
	var out []candidate
	name := fv.Field.Name
	add := func(value, kind string, bm, minus *roaring.Bitmap, n counts) {
		m.counted.Add(1)
		if bm != nil && m.supported(n) {
			out = append(out, candidate{Feature: Feature{Field: name, Value: value, Kind: kind, SeedCount: n.seed, BaseCount: n.base}, bm: bm, minus: minus})
		}
	}
	addBitmap := func(value, kind string, bm *roaring.Bitmap) {
		if bm != nil {
			add(value, kind, bm, nil, m.count(bm))
		}
	}
	switch {
	case fv.Values != nil:
		for _, v := range fv.Values.Values() {
			addBitmap(v, KindValue, fv.Values.Bitmap(v))
		}
	case fv.Bool != nil:
		yes, exist := fv.Bool.True(), fv.Bool.Exists()
		ny, ne := m.count(yes), m.count(exist)
		add("true", KindValue, yes, nil, ny)
		add("false", KindValue, exist, yes, counts{ne.all - ny.all, ne.seed - ny.seed, ne.base - ny.base})
	case fv.BSI != nil:
		v := fv.BSI
		exist := m.count(v.Exists())
		var seedVals []int64
		if m.seedRows != nil {
			seedVals = m.seedValues(v)
		}
		// Neighbouring buckets share a bound: count each once.
		seen := map[int64]counts{}
		ge := func(b int64) counts {
			n, ok := seen[b]
			if !ok {
				n = m.countGE(v, b, seedVals)
				seen[b] = n
			}
			return n
		}
		for _, b := range buckets(fv.Field, v) {
			n := exist
			if b.hasLo {
				n = ge(b.lo)
			}
			if b.hasHi {
				nh := ge(b.hi)
				n = counts{n.all - nh.all, n.seed - nh.seed, n.base - nh.base}
			}
			m.counted.Add(1)
			if m.supported(n) {
				out = append(out, candidate{Feature: Feature{Field: name, Value: b.label, Kind: KindBucket, SeedCount: n.seed, BaseCount: n.base}, rng: &b.valueRange})
			}
		}
	}
	return out
}

// countGE counts "value >= b" of a numeric field against the seed and the
// base without building it: the size from the view, which remembers it
// (a lookalike counts the same bounds on every call); the seed's share
// from seedVals, the seed's values (nil for a large seed: then by the
// index's count restricted to the seed); the base's by difference, or
// given a universe by the index's count restricted to the base.
func (m *model) countGE(v *index.BSIView, b int64, seedVals []int64) counts {
	c := counts{all: v.CountCompareQuiet(index.GE, b)}
	if m.seedRows != nil {
		c.seed = uint64(len(seedVals) - sort.Search(len(seedVals), func(i int) bool { return seedVals[i] >= b }))
	} else {
		c.seed = v.CountCompareWithin(index.GE, b, m.seed)
	}
	if m.opts.Universe == nil {
		c.base = c.all - c.seed
	} else {
		c.base = v.CountCompareWithin(index.GE, b, m.base)
	}
	return c
}

// seedValues returns the values the seed's profiles hold in a numeric
// field, sorted, read from the field's dense slices row by row
// (index.BSIView.ValuesOf): counting the seed under each bucket bound
// would walk every slice once per bound.
func (m *model) seedValues(v *index.BSIView) []int64 {
	vals := v.ValuesOf(make([]int64, 0, len(m.seedRows)), m.seedRows)
	slices.Sort(vals)
	return vals
}

// supported applies the size and support rules to a feature's counts.
func (m *model) supported(n counts) bool {
	if n.all < MinProfiles {
		return false
	}
	expected := float64(m.nSeed) * float64(n.base) / float64(m.nBase)
	return n.seed >= MinSupport || expected >= MinSupport
}

// eventCandidates is fieldCandidates for value i of an event field: the
// profiles with an event of that value in the last WindowDays days.
// union is the window's union where the view keeps it (keptWindows):
// then the window is counted from it; otherwise from the value's day
// bitmaps (WindowCountDaysWithin for a small seed, windowCounts for any
// other).
func (m *model) eventCandidates(fv *engine.FieldView, i int, sc *scratch, sd *index.SetDays, union *roaring.Bitmap) []candidate {
	ev := fv.Events
	value := ev.Values()[i]
	vals := []string{value}
	from, to := m.window()
	c := candidate{Feature: Feature{Field: fv.Field.Name, Value: value, Kind: KindEvent}, window: &eventWindow{ev, vals, from, to}, bm: union}
	var n counts
	if c.bm != nil {
		n = m.count(c.bm)
	} else {
		_, first, days := ev.ValueBitmaps(i)
		lo, hi := max(from, first), min(to, first+schema.Day(len(days))-1)
		var window []*roaring.Bitmap
		for d := lo; d <= hi; d++ {
			if b := days[d-first]; b != nil && !b.IsEmpty() {
				window = append(window, b)
			}
		}
		if len(window) == 0 {
			return nil
		}
		if sd != nil {
			// A small seed against every other profile: the window's
			// size does not depend on the seed, so the view remembers
			// it from the first lookalike on. The seed's share is
			// counted from its rows with any event on each day
			// (seedDays, cut once per field and day): a value's day
			// meets only those, a few bytes of each day where
			// windowCounts sets every member's bit (2 ms against 54 for
			// the 75 windows of 10M generated profiles). Cut to the
			// whole seed, a day met every member of each container the
			// seed has rows in, all of them for a seed spread over the
			// rows (a 1,000-row seed over 10M profiles: 54-57 ms a
			// lookalike, 44.5-46 ms cut by day).
			n.all = ev.WindowCountQuiet(vals, from, to)
			n.seed = ev.WindowCountDaysWithin(vals, from, to, sd)
			n.base = n.all - n.seed
		} else {
			n = m.windowCounts(window, sc)
		}
	}
	c.size = n.all
	m.counted.Add(1)
	if !m.supported(n) {
		return nil
	}
	c.SeedCount, c.BaseCount = n.seed, n.base
	return []candidate{c}
}

// eventTask is the candidates' task for one event value: its index in
// the tasks, and its field and value.
type eventTask struct{ task, field, value int }

// keptWindows returns, by task index, the union of each event value's
// window the view keeps (none for the others), after asking the view for
// every window of a field when they all fit in its free budget together;
// and the fields with a window that is not empty and has no union, whose
// days the seed must be cut to (seedDays).
//
// The view keeps the unions of windows asked for more than once
// (index/windowcache.go), oldest out first. Counting a window from its
// union is one intersection with the seed; counting it from the days
// needs the seed cut to every day of the window (seedDays) and each
// value's days met against those cuts: for a 1,000-row seed spread over
// 10M profiles, ~20 ms of CPU a call, nearly half the candidates' work,
// all of it waiting on memory. So a field whose windows all fit beside
// what the view keeps (every event field of 10M generated profiles: 25
// windows of ~1.5 MB against 64 MiB) has them all asked for: kept from
// the lookalike's second call on, its days are never cut again. A field
// whose windows do not all fit (100M profiles) asks for none of them
// here: asked one by one they would take the room the selected windows
// need (buildSelected asks for those) and, kept oldest out first, push
// out the windows segment queries repeat, while its days must be cut
// anyway for the rest.
func (m *model) keptWindows(fields []engine.FieldView, events []eventTask) (unions map[int]*roaring.Bitmap, cut map[int]bool) {
	from, to := m.window()
	sizes := make([]uint64, len(events))
	kept := make([]*roaring.Bitmap, len(events))
	parallel.Each(runtime.GOMAXPROCS(0), len(events), func(_, i int) {
		ev := fields[events[i].field].Events
		vals := []string{ev.Values()[events[i].value]}
		if _, ok := ev.CachedWindow(vals, from, to); ok {
			kept[i] = ev.WindowShared(vals, from, to) // nil if dropped meanwhile
		}
		if kept[i] == nil {
			// Remembered by the view: counted on a lookalike's first
			// call only (eventCandidates needs it then anyway).
			sizes[i] = ev.WindowCountQuiet(vals, from, to)
		}
	})
	// The windows to ask for, by field: none of a field unless all fit.
	need := map[int]uint64{}
	for i, e := range events {
		if kept[i] == nil && sizes[i] > 0 {
			need[e.field] = satAdd(need[e.field], fields[e.field].Events.WindowBytes(sizes[i]))
		}
	}
	var ask []int
	for i, e := range events {
		if n, ok := need[e.field]; ok && kept[i] == nil && sizes[i] > 0 {
			if free := m.free(fields[e.field].Events); free > 0 && n <= free {
				ask = append(ask, i)
			}
		}
	}
	parallel.Each(runtime.GOMAXPROCS(0), len(ask), func(_, j int) {
		i := ask[j]
		ev := fields[events[i].field].Events
		// nil on a window's first use: it is kept from the next.
		kept[i] = ev.WindowShared([]string{ev.Values()[events[i].value]}, from, to)
	})
	unions, cut = make(map[int]*roaring.Bitmap, len(events)), map[int]bool{}
	for i, e := range events {
		switch {
		case kept[i] != nil:
			unions[e.task] = kept[i]
		case sizes[i] > 0:
			cut[e.field] = true
		}
	}
	return unions, cut
}

// free is the room ev's windows have left (see model.windowFree).
func (m *model) free(ev *index.EventsView) uint64 {
	if m.windowFree != nil {
		return m.windowFree(ev)
	}
	return ev.WindowFree()
}

// satAdd is a+b, or the largest uint64 if that overflows (WindowBytes
// says "never kept" with it).
func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return math.MaxUint64
	}
	return a + b
}

// seedDays returns, by field, the days of each event field in need cut
// to the seed's rows with an event that day (index.EventsView.CutDay),
// for eventCandidates to count a small seed's windows from; nil where
// they are not used. The days are cut before any value is counted, all
// fields' at once on every core: cut by the first value of each field
// to need them, the other cores waited on the cut (a fifth of the
// candidates' time for a spread seed at 10M profiles).
func (m *model) seedDays(fields []engine.FieldView, need map[int]bool) []*index.SetDays {
	days := make([]*index.SetDays, len(fields))
	if m.seedRows == nil || m.opts.Universe != nil {
		return days
	}
	from, to := m.window()
	type cut struct {
		field int
		day   schema.Day
	}
	var cuts []cut
	for i := range fields {
		if !need[i] {
			continue
		}
		days[i] = index.NewSetDays(from, to)
		for d := from; d <= to; d++ {
			cuts = append(cuts, cut{i, d})
		}
	}
	parallel.Each(runtime.GOMAXPROCS(0), len(cuts), func(_, i int) {
		c := cuts[i]
		fields[c.field].Events.CutDay(days[c.field], m.seed, c.day)
	})
	return days
}

// window returns the first and last day of the recent-event window.
func (m *model) window() (from, to schema.Day) {
	return m.opts.Now - schema.Day(m.opts.WindowDays) + 1, m.opts.Now
}

// scratch is a candidates worker's reusable memory: word arrays with a
// bit per row, all zero between uses.
type scratch struct {
	words, tmp []uint64
}

// grow returns w with at least n words, all zero.
func grow(w []uint64, n int) []uint64 {
	if len(w) < n {
		return make([]uint64, n)
	}
	return w
}

// windowCounts counts the union of days, the day bitmaps of one event
// value, against the seed and the base. Unless the days are sparse, it
// sets their members in a word array and counts bits there, so no union
// is built: the members are read once, straight from the containers
// (WriteDenseTo), and a profile with events on several days counts once.
func (m *model) windowCounts(days []*roaring.Bitmap, sc *scratch) counts {
	first, last := days[0].Minimum(), days[0].Maximum()
	var members uint64
	for _, d := range days {
		first, last = min(first, d.Minimum()), max(last, d.Maximum())
		members += d.GetCardinality()
	}
	if members < (uint64(last/64)-uint64(first/64)+1)/4 {
		// Too few members for a pass over the words they span to pay
		// (the index's own rule for a dense union): a union of the
		// sparse days is small.
		return m.count(roaring.FastOr(days...))
	}
	sc.words = grow(sc.words, int(last/64)+1)
	acc := sc.words
	for _, d := range days {
		// WriteDenseTo ORs the members of array and run containers into
		// what is there but copies bitmap containers over it: a day
		// with any goes through a second array.
		if d.Stats().BitmapContainers == 0 {
			d.WriteDenseTo(acc)
			continue
		}
		sc.tmp = grow(sc.tmp, len(acc))
		lo, hi := d.Minimum()/64, d.Maximum()/64
		d.WriteDenseTo(sc.tmp)
		wordops.Or(acc[lo:hi+1], sc.tmp[lo:hi+1])
		clear(sc.tmp[lo : hi+1])
	}
	off := int(first / 64)
	span := acc[off : last/64+1]
	var n counts
	n.all = uint64(wordops.Count(span))
	if m.seedRows != nil {
		for _, r := range m.seedRows {
			if r >= first && r <= last && acc[r/64]&(1<<(r%64)) != 0 {
				n.seed++
			}
		}
	} else {
		n.seed = andCount(span, m.seedWords, off)
	}
	if m.opts.Universe == nil {
		n.base = n.all - n.seed
	} else {
		n.base = andCount(span, m.baseWords, off)
	}
	clear(span)
	return n
}

// andCount counts the bits span and other[off:] have in common (other
// may end first).
func andCount(span, other []uint64, off int) uint64 {
	if off >= len(other) {
		return 0
	}
	other = other[off:]
	return uint64(wordops.AndCount(span[:min(len(span), len(other))], other))
}
