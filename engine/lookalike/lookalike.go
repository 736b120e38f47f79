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
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
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
	// each worker's score array is then 2 MiB.
	ShardRows = 1 << 18
	// quantileSample is how many values the bucket boundaries are read
	// from; 1024 evenly ranked rows place a boundary within about 0.1 %
	// of its quantile, far finer than an eighth.
	quantileSample = 1024
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
}

// Feature kinds.
const (
	KindValue  = "value"
	KindBucket = "bucket"
	KindEvent  = "event"
)

// candidate is a feature with its bitmap and counts.
type candidate struct {
	Feature
	bm *roaring.Bitmap
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
		cand = roaring.AndNot(sn.All(), seed)
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
	m := model{opts: opts, seed: seed, base: cand, nSeed: seed.GetCardinality(), nBase: nCand}
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
	ranked, scores, err := score(ctx, sel, cand, min(uint64(opts.Size), nCand), ShardRows)
	if err != nil {
		return nil, err
	}
	res := &Result{Rows: roaring.BitmapOf(ranked...), Ranked: ranked, Scores: scores,
		Candidates: nCand, SeedSize: m.nSeed, Features: make([]Feature, len(sel))}
	for i, c := range sel {
		res.Features[i] = c.Feature
	}
	return res, nil
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
	seed, base   *roaring.Bitmap
	nSeed, nBase uint64
}

// candidates builds every candidate feature of the fields not excluded,
// with its counts. Fields are independent, so they are built in parallel.
func (m *model) candidates(ctx context.Context, sn *engine.Snapshot) ([]candidate, error) {
	excluded := map[string]bool{}
	for _, f := range m.opts.ExcludeFields {
		excluded[schema.Key(f)] = true
	}
	fields := sn.Fields()
	out := make([][]candidate, len(fields))
	errs := make([]error, len(fields))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(fields)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctx.Err(); err != nil {
					errs[i] = fmt.Errorf("lookalike: %w", err)
					continue
				}
				out[i] = m.fieldCandidates(&fields[i])
			}
		}()
	}
	for i := range fields {
		if !excluded[schema.Key(fields[i].Field.Name)] {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var all []candidate
	for _, c := range out {
		all = append(all, c...)
	}
	return all, nil
}

// fieldCandidates lists one field's features that pass the size and
// support rules, counted.
func (m *model) fieldCandidates(fv *engine.FieldView) []candidate {
	var out []candidate
	name := fv.Field.Name
	add := func(value, kind string, bm *roaring.Bitmap) {
		if bm == nil || bm.GetCardinality() < MinProfiles {
			return
		}
		c := candidate{Feature: Feature{Field: name, Value: value, Kind: kind}, bm: bm}
		c.SeedCount = bm.AndCardinality(m.seed)
		if m.opts.Universe == nil {
			// base is every profile outside the seed, and bm holds only
			// profiles: no second intersection needed.
			c.BaseCount = bm.GetCardinality() - c.SeedCount
		} else {
			c.BaseCount = bm.AndCardinality(m.base)
		}
		expected := float64(m.nSeed) * float64(c.BaseCount) / float64(m.nBase)
		if c.SeedCount < MinSupport && expected < MinSupport {
			return
		}
		out = append(out, c)
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
			add(b.label, KindBucket, b.bm)
		}
	case fv.Events != nil:
		from := m.opts.Now - schema.Day(m.opts.WindowDays) + 1
		for _, v := range fv.Events.Values() {
			add(v, KindEvent, fv.Events.Window([]string{v}, from, m.opts.Now))
		}
	}
	return out
}

// selectFeatures weighs the candidates and keeps the MaxFeatures with the
// highest information value, in that order (ties by field and value, so
// the choice is deterministic).
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
	return cands[:min(len(cands), m.opts.MaxFeatures)]
}

type bucket struct {
	label string
	bm    *roaring.Bitmap
}

// buckets cuts a numeric field into about Buckets ranges of similar
// population, reading the boundaries from an evenly ranked sample of the
// profiles with a value (Select on the existence bitmap: deterministic,
// and no pass over every row). Each bucket is "≥ its low bound" minus
// "≥ the next bound", so a field with k boundaries costs k comparisons.
func buckets(f *schema.Field, v *index.BSIView) []bucket {
	exist := v.Exists()
	n := exist.GetCardinality()
	if n == 0 {
		return nil
	}
	lo, hi, _ := v.Range()
	m := min(uint64(quantileSample), n)
	sample := make([]int64, 0, m)
	for i := range m {
		row, err := exist.Select(uint32(i * n / m))
		if err != nil {
			continue
		}
		if x, ok := v.Value(row); ok {
			sample = append(sample, x)
		}
	}
	slices.Sort(sample)
	var bounds []int64 // ascending, each > lo
	for j := 1; j < Buckets; j++ {
		b := sample[j*len(sample)/Buckets]
		if b > lo && (len(bounds) == 0 || b > bounds[len(bounds)-1]) {
			bounds = append(bounds, b)
		}
	}
	ge := make([]*roaring.Bitmap, len(bounds))
	for i, b := range bounds {
		ge[i] = v.Compare(index.GE, b)
	}
	out := make([]bucket, 0, len(bounds)+1)
	from := lo
	for i := 0; i <= len(bounds); i++ {
		var bm *roaring.Bitmap
		var label string
		switch {
		case i == len(bounds) && i == 0:
			bm, label = exist, "["+format(f, lo)+","+format(f, hi)+"]"
		case i == len(bounds):
			bm, label = ge[i-1], "["+format(f, from)+","+format(f, hi)+"]"
		case i == 0:
			bm, label = roaring.AndNot(exist, ge[0]), "["+format(f, from)+","+format(f, bounds[0])+")"
		default:
			bm, label = roaring.AndNot(ge[i-1], ge[i]), "["+format(f, from)+","+format(f, bounds[i])+")"
		}
		out = append(out, bucket{label: label, bm: bm})
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
