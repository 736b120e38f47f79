package lookalike

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/internal/parallel"
	"github.com/cohortdb/cohort/internal/radix"
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
	parallel.Each(runtime.GOMAXPROCS(0), len(todo), func(_, i int) {
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
