package lookalike

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/internal/radix"
	"github.com/cohortdb/cohort/internal/wordops"
)

// Defaults and limits of Options.
const (
	DefaultWindowDays  = 30
	DefaultMaxFeatures = 64
	DefaultSmoothing   = 0.5
	MaxFeaturesLimit   = 4096
	// MinSupport is the seed support a feature needs (see the package
	// documentation): below five occurrences a share is mostly noise.
	MinSupport = 5
	// MinProfiles is the fewest profiles a value must hold to be a
	// candidate at all; rarer values cannot be weighed reliably and would
	// only cost time.
	MinProfiles = 10
	// Buckets is how many quantile buckets a numeric field is cut into.
	Buckets = 8
	// ShardRows is the row range scored at a time. It is a quarter of
	// DESIGN §4's example shard (2^20 rows), so that a DESIGN shard is a
	// whole number of them and two cores share even a 1M-profile dataset;
	// each worker holds a shard's words of every selected feature (32 KiB
	// each).
	ShardRows = 1 << 18
)

// Options configure Expand.
type Options struct {
	// Size is how many profiles to return (at most the universe's size
	// outside the seed).
	Size int
	// Universe is the population to choose from; nil means every profile.
	// Seed members are never chosen.
	Universe *roaring.Bitmap
	// ExcludeFields are the fields that define the seed query: their
	// features are left out (see QueryFields).
	ExcludeFields []string
	// Now is the day recent-event windows end on; 0 means today in the
	// dataset's time zone.
	Now schema.Day
	// WindowDays is the length of the recent-event window; 0 means 30.
	WindowDays int
	// MaxFeatures is how many features the model keeps, by information
	// value; 0 means 64.
	MaxFeatures int
	// Smoothing is the pseudo-count α added to feature counts; 0 means 0.5.
	Smoothing float64
	// Model is ModelNaiveBayes ("" means it) or ModelLogistic. Both use
	// the same candidate features, selection and scoring; they differ in
	// the weights.
	Model string
}

// Feature is one selected feature and its weight.
type Feature struct {
	Field string `json:"field"`
	// Value is the tag or set value, "true"/"false", a numeric bucket
	// such as "[25,35)" (low bound included, high excluded; the last bucket
	// is closed), or the event value.
	Value string `json:"value"`
	// Kind is "value" (tag, set, bool), "bucket" or "event".
	Kind string `json:"kind"`
	// Weight is what a profile that has the feature adds to its score:
	// the weight of evidence (naive Bayes), or the fitted coefficient
	// (logistic).
	Weight    float64 `json:"weight"`
	IV        float64 `json:"iv"`
	SeedShare float64 `json:"seed_share"`
	BaseShare float64 `json:"base_share"`
	// SeedCount and BaseCount are the raw counts behind the shares.
	SeedCount uint64 `json:"seed_count"`
	BaseCount uint64 `json:"base_count"`
}

// Result is an expanded audience.
type Result struct {
	// Rows are the chosen profiles.
	Rows *roaring.Bitmap
	// Ranked are the chosen rows, best first; Scores their scores.
	Ranked []uint32
	Scores []float64
	// Features are the selected features by IV, highest first.
	Features []Feature
	// Candidates is how many profiles could have been chosen (universe
	// minus seed); SeedSize the seed's size within the dataset.
	Candidates uint64
	SeedSize   uint64
	// FeaturesCounted is how many candidate features were counted
	// against the seed, those dropped by the support rules included:
	// the work before selection (the benchmark's floor counts a pass
	// for each).
	FeaturesCounted int
}

// Feature kinds.
const (
	KindValue  = "value"
	KindBucket = "bucket"
	KindEvent  = "event"
)

// candidate is a feature with its counts and its members: the rows of bm
// outside minus (nil: none), or for a numeric bucket the values in rng.
// "false" is the difference of two bitmaps the index has; its counts are
// differences of theirs, and the difference itself is taken only shard by
// shard when it is scored, so the hundreds of candidates that are counted
// and dropped cost no bitmap of their own. A bucket is counted from the
// index's range counts and scored from the field's bit slices (see rng).
// All the bitmaps are shared: read-only.
//
// An event value's window is counted from its day bitmaps without a union
// being built (see windowCounts); only the selected features' windows are
// made (buildSelected), each a kept union, a union built for the call,
// or, with fill set, words written from the days when it is scored.
type candidate struct {
	Feature
	bm, minus *roaring.Bitmap
	// window names an event value's window, size its profiles; fill
	// tells the scorer to write its words from the days (writeWhole).
	window *eventWindow
	size   uint64
	fill   bool
	// rng, for a numeric bucket, holds its bounds instead of bitmaps:
	// it is counted from the index's range counts and scored from the
	// field's dense bit slices shard by shard
	// (index.BSIView.BetweenWords), so no bitmap of it is ever built (at
	// 100M those were 420 MB a call, and the collections they caused
	// most of a lookalike's time).
	rng *valueRange
}

// valueRange is a numeric bucket: the stored values from lo (included)
// to hi (excluded); without hasLo from the lowest, without hasHi to the
// highest.
type valueRange struct {
	v            *index.BSIView
	lo, hi       int64
	hasLo, hasHi bool
}

// bounds returns the range as inclusive bounds (BetweenWithin,
// BetweenWords).
func (r *valueRange) bounds() (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if r.hasLo {
		lo = r.lo
	}
	if r.hasHi {
		hi = r.hi - 1
	}
	return lo, hi
}

// eventWindow is an event value's window of days.
type eventWindow struct {
	ev       *index.EventsView
	values   []string
	from, to schema.Day
}

// within returns the members of c among the rows of b, as a new bitmap.
func (c *candidate) within(b *roaring.Bitmap) *roaring.Bitmap {
	if c.bm == nil && c.window != nil {
		w := c.window
		return w.ev.WindowFromDays(w.values, w.from, w.to, b)
	}
	if c.rng != nil {
		lo, hi := c.rng.bounds()
		return c.rng.v.BetweenWithin(lo, hi, b)
	}
	r := roaring.And(c.bm, b)
	if c.minus != nil && !r.IsEmpty() {
		r.AndNot(c.minus)
	}
	return r
}

// Expand returns the opts.Size profiles of the universe, outside the seed,
// that score highest under a naive-Bayes model of the seed against the
// rest of the universe.
func Expand(ctx context.Context, sn *engine.Snapshot, seed *roaring.Bitmap, opts Options) (*Result, error) {
	opts, err := opts.withDefaults(sn)
	if err != nil {
		return nil, err
	}
	if seed == nil || seed.IsEmpty() {
		return nil, errors.New("lookalike: the seed audience is empty")
	}
	seed = roaring.And(seed, sn.All())
	if seed.IsEmpty() {
		return nil, errors.New("lookalike: no seed row is a profile of the dataset")
	}
	var cand *roaring.Bitmap
	if opts.Universe == nil {
		cand = without(sn.All(), seed)
	} else {
		cand = roaring.And(opts.Universe, sn.All())
		if cand.IsEmpty() {
			return nil, errors.New("lookalike: the universe is empty")
		}
		cand.AndNot(seed)
	}
	nCand := cand.GetCardinality()
	if nCand == 0 {
		return nil, fmt.Errorf("lookalike: the seed (%d profiles) covers the whole universe: there is nobody left to choose and nothing to contrast the seed with", seed.GetCardinality())
	}
	m := newModel(sn, opts, seed, cand)
	cands, err := m.candidates(ctx, sn)
	if err != nil {
		return nil, err
	}
	sel := m.selectFeatures(cands)
	if opts.Model == ModelLogistic {
		if err := fitLogistic(ctx, sel, seed, cand); err != nil {
			return nil, err
		}
	}
	ranked, scores, err := score(ctx, sel, cand, min(uint64(opts.Size), nCand), scoring{shardRows: ShardRows, wholeBytes: wholeBytes, pool: sn.WordPool()})
	if err != nil {
		return nil, err
	}
	// The rows in row order: roaring adds a sorted run a container at a
	// time, where the ranked order (by score) looked each row's
	// container up again (0.65 ms for 10,000 rows at 1M profiles).
	inOrder := slices.Clone(ranked)
	radix.Sort(inOrder, nil)
	rows := roaring.New()
	rows.AddMany(inOrder)
	res := &Result{Rows: rows, Ranked: ranked, Scores: scores,
		Candidates: nCand, SeedSize: m.nSeed, Features: make([]Feature, len(sel)),
		FeaturesCounted: int(m.counted.Load())}
	for i, c := range sel {
		res.Features[i] = c.Feature
	}
	return res, nil
}

// without returns all minus rows, a subset of it. roaring's AndNot turns
// each run container of all (every profile: one run a container) that a
// row of rows falls in into a bitmap container, 8 KiB written per 65,536
// rows, so a seed spread over 10M profiles cost a call 4.5 ms before
// anything else could start; a seed of under one row in 64 is taken out
// of a clone row by row instead, which keeps the runs.
func without(all, rows *roaring.Bitmap) *roaring.Bitmap {
	if rows.GetCardinality()*64 >= all.GetCardinality() {
		return roaring.AndNot(all, rows)
	}
	out := all.Clone()
	it := rows.Iterator()
	for it.HasNext() {
		out.Remove(it.Next())
	}
	return out
}

func (o Options) withDefaults(sn *engine.Snapshot) (Options, error) {
	if o.Size <= 0 {
		return o, fmt.Errorf("lookalike: size must be positive, got %d", o.Size)
	}
	if o.WindowDays < 0 || o.WindowDays > schema.MaxRetention {
		return o, fmt.Errorf("lookalike: window_days %d out of range 1..%d", o.WindowDays, schema.MaxRetention)
	}
	if o.MaxFeatures < 0 || o.MaxFeatures > MaxFeaturesLimit {
		return o, fmt.Errorf("lookalike: max_features %d out of range 1..%d", o.MaxFeatures, MaxFeaturesLimit)
	}
	if o.Smoothing < 0 || math.IsNaN(o.Smoothing) || math.IsInf(o.Smoothing, 0) {
		return o, fmt.Errorf("lookalike: smoothing must be a finite number ≥ 0, got %v", o.Smoothing)
	}
	switch o.Model {
	case "":
		o.Model = ModelNaiveBayes
	case ModelNaiveBayes, ModelLogistic:
	default:
		return o, fmt.Errorf("lookalike: unknown model %q (want %s or %s)", o.Model, ModelNaiveBayes, ModelLogistic)
	}
	for _, f := range o.ExcludeFields {
		if _, ok := sn.Schema().Field(f); !ok {
			return o, fmt.Errorf("lookalike: cannot exclude field %q: dataset %s has no such field", f, sn.Dataset())
		}
	}
	if o.WindowDays == 0 {
		o.WindowDays = DefaultWindowDays
	}
	if o.MaxFeatures == 0 {
		o.MaxFeatures = DefaultMaxFeatures
	}
	if o.Smoothing == 0 {
		o.Smoothing = DefaultSmoothing
	}
	if o.Now == 0 {
		o.Now = sn.Today()
	}
	return o, nil
}

type model struct {
	opts         Options
	rows         uint64 // the dataset's rows
	seed, base   *roaring.Bitmap
	nSeed, nBase uint64
	// The seed as sorted rows when it has fewer than one row per 64 of
	// the dataset, as words otherwise; the base as words when a universe
	// makes it more than "every profile outside the seed". windowCounts
	// counts windows against them.
	seedRows             []uint32
	seedWords, baseWords []uint64
	// counted is how many candidate features were counted.
	counted atomic.Int64
	// windowFree, when set, stands for index.EventsView.WindowFree in
	// keptWindows (tests leave a view less room than it has).
	windowFree func(*index.EventsView) uint64
}

// newModel returns the model of seed against base, both within the
// dataset's profiles and disjoint, and neither empty.
func newModel(sn *engine.Snapshot, opts Options, seed, base *roaring.Bitmap) *model {
	m := &model{opts: opts, rows: uint64(sn.Rows()), seed: seed, base: base, nSeed: seed.GetCardinality(), nBase: base.GetCardinality()}
	if m.nSeed < uint64(sn.Rows())/64 {
		m.seedRows = seed.ToArray()
	} else {
		m.seedWords = make([]uint64, seed.Maximum()/64+1)
		seed.WriteDenseTo(m.seedWords)
	}
	if opts.Universe != nil {
		m.baseWords = make([]uint64, base.Maximum()/64+1)
		base.WriteDenseTo(m.baseWords)
	}
	return m
}

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
	each(procs, len(tasks), func(w, i int) {
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
	each(runtime.GOMAXPROCS(0), len(events), func(_, i int) {
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
	each(runtime.GOMAXPROCS(0), len(ask), func(_, j int) {
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
	each(runtime.GOMAXPROCS(0), len(cuts), func(_, i int) {
		c := cuts[i]
		fields[c.field].Events.CutDay(days[c.field], m.seed, c.day)
	})
	return days
}

// window returns the first and last day of the recent-event window.
func (m *model) window() (from, to schema.Day) {
	return m.opts.Now - schema.Day(m.opts.WindowDays) + 1, m.opts.Now
}

// each calls f(w, i) for every i in [0, n) on up to procs goroutines,
// w numbering the goroutine (below procs: an index into state of its
// own, sized by the caller with the same procs). The i are handed out in
// increasing order, one at a time, so that unequal tasks share the cores
// evenly and each goroutine sees its i ascend.
func each(procs, n int, f func(w, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(procs, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(w, i)
			}
		}()
	}
	wg.Wait()
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

// selectFeatures weighs the candidates and keeps the MaxFeatures with the
// highest information value, in that order (ties by field and value, so
// the choice is deterministic), with their bitmaps built.
func (m *model) selectFeatures(cands []candidate) []candidate {
	a := m.opts.Smoothing
	ns, nb := float64(m.nSeed), float64(m.nBase)
	for i := range cands {
		c := &cands[i]
		ps := (float64(c.SeedCount) + a) / (ns + 2*a)
		pb := (float64(c.BaseCount) + a) / (nb + 2*a)
		woe, woeNot := math.Log(ps/pb), math.Log((1-ps)/(1-pb))
		c.Weight = woe
		c.IV = (ps-pb)*woe + ((1-ps)-(1-pb))*woeNot
		c.SeedShare = float64(c.SeedCount) / ns
		c.BaseShare = float64(c.BaseCount) / nb
	}
	slices.SortFunc(cands, func(x, y candidate) int {
		return cmp.Or(cmp.Compare(y.IV, x.IV), cmp.Compare(x.Field, y.Field), cmp.Compare(x.Value, y.Value))
	})
	sel := cands[:min(len(cands), m.opts.MaxFeatures)]
	buildSelected(sel, m.rows)
	return sel
}

// buildSelected makes the windows of the selected event features (in IV
// order), in parallel: a window the view keeps is read from it; one the
// view has room for is asked for (so that it is kept from its second
// call on, see index.EventsView.WindowShared); any other is not kept: a
// large one is left to the scorer to write from its days (fill), a
// small one is built for the call. A lookalike asks for every selected
// window on every call, and where they do not fit together (a dozen
// dense windows of 100M profiles beside a field's 64 MiB) asking for all
// of them made each push another out and be built again on every call:
// 12.5 MB of garbage each, a fifth of the CPU gone to the collector.
func buildSelected(sel []candidate, rows uint64) {
	free := map[*index.EventsView]uint64{}
	var todo []*candidate
	var ask []bool
	for i := range sel {
		c := &sel[i]
		if c.bm != nil || c.window == nil {
			continue
		}
		ev := c.window.ev
		f, ok := free[ev]
		if !ok {
			f = ev.WindowFree()
		}
		need := ev.WindowBytes(c.size)
		fits := need <= f
		if fits {
			f -= need
		}
		free[ev] = f
		todo, ask = append(todo, c), append(ask, fits)
	}
	each(runtime.GOMAXPROCS(0), len(todo), func(_, i int) {
		c, w := todo[i], todo[i].window
		if ask[i] {
			if b := w.ev.WindowShared(w.values, w.from, w.to); b != nil {
				c.bm = b
				return
			}
		}
		if c.size*fillShare >= rows {
			c.fill = true
			return
		}
		c.bm = w.ev.WindowFromDays(w.values, w.from, w.to, nil)
	})
}

// fillShare: a window not kept that holds at least one profile in
// fillShare is written into words from its days when scored, rather than
// built as a union. Its union would be set in words anyway (the index
// unions that many members densely) and then wrapped as a bitmap, 12.5
// MB of garbage a window at 100M profiles; the pool lends the words
// again on the next call.
const fillShare = 256

// bucket is a numeric range and its label.
type bucket struct {
	valueRange
	label string
}

// buckets cuts a numeric field into about Buckets ranges of similar
// population, reading the boundaries from an evenly ranked sample of the
// profiles with a value (index.BSIView.Sample: deterministic, no pass
// over every row, and read once per view). Each bucket is "≥ its low
// bound" minus "≥ the next bound".
func buckets(f *schema.Field, v *index.BSIView) []bucket {
	if v.Exists().IsEmpty() {
		return nil
	}
	lo, hi, _ := v.Range()
	sample := v.Sample()
	var bounds []int64 // ascending, each > lo
	for j := 1; j < Buckets; j++ {
		b := sample[j*len(sample)/Buckets]
		if b > lo && (len(bounds) == 0 || b > bounds[len(bounds)-1]) {
			bounds = append(bounds, b)
		}
	}
	out := make([]bucket, 0, len(bounds)+1)
	from := lo
	for i := 0; i <= len(bounds); i++ {
		bk := bucket{valueRange: valueRange{v: v, hasLo: i > 0, hasHi: i < len(bounds)}}
		if bk.hasLo {
			bk.lo = bounds[i-1]
		}
		if bk.hasHi {
			bk.hi = bounds[i]
			bk.label = "[" + format(f, from) + "," + format(f, bounds[i]) + ")"
		} else {
			bk.label = "[" + format(f, from) + "," + format(f, hi) + "]"
		}
		out = append(out, bk)
		if i < len(bounds) {
			from = bounds[i]
		}
	}
	return out
}

// format renders a stored numeric value in the field's own units.
func format(f *schema.Field, x int64) string {
	switch f.Type {
	case schema.Date:
		return schema.FormatDay(schema.Day(x))
	case schema.Decimal:
		if f.Scale == 0 {
			return strconv.FormatInt(x, 10)
		}
		return strconv.FormatFloat(float64(x)/float64(schema.Pow10(f.Scale)), 'f', -1, 64)
	}
	return strconv.FormatInt(x, 10)
}
