package analytics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

// Defaults and limits of ProfileOptions.
const (
	DefaultTop        = 10
	DefaultWindowDays = 30
	DefaultBuckets    = 10
	// MaxBuckets bounds a histogram: each bucket is one pass over the bit
	// slices, and a chart cannot show more anyway.
	MaxBuckets = 1000
)

// ProfileOptions configure Profile.
type ProfileOptions struct {
	// Fields to profile, looked up case-insensitively; empty means every
	// field of the schema.
	Fields []string
	// Top is how many values per categorical field to return (0 = 10).
	Top int
	// SortBy orders the values: "count" (the default) or "tgi", largest
	// first, ties by value name so the answer is deterministic.
	SortBy string
	// Now is the last day of event windows; 0 means today in the dataset's
	// time zone (1970-01-01 is never a meaningful window end).
	Now schema.Day
	// WindowDays is the length of the event window ending on Now (0 = 30).
	WindowDays int
	// Buckets is the number of histogram buckets of numeric fields
	// (0 = 10); integer bounds may make fewer.
	Buckets int
}

// ProfileResult is the profile of a segment (DESIGN §3).
type ProfileResult struct {
	// Count is the segment's size, Total the dataset's: the denominators
	// of share and share_all, which count every profile, with or without
	// a value for the field.
	Count  uint64                   `json:"count"`
	Total  uint64                   `json:"total"`
	Fields map[string]*FieldProfile `json:"fields"`
}

// ValueStat is one value of a categorical field in the segment.
type ValueStat struct {
	Value string `json:"value"`
	// Count is the segment's profiles holding the value, CountAll the
	// dataset's.
	Count    uint64  `json:"count"`
	CountAll uint64  `json:"count_all"`
	Share    float64 `json:"share"`     // Count / segment size
	ShareAll float64 `json:"share_all"` // CountAll / dataset size
	// TGI is 100·Share/ShareAll: 100 means as common in the segment as in
	// the dataset, 200 twice as common. 0 when ShareAll is 0.
	TGI float64 `json:"tgi"`
}

// EventWindow is the inclusive range of days an event field was profiled
// over.
type EventWindow struct {
	From schema.Day
	To   schema.Day
}

// MarshalJSON writes the window as {"from":"YYYY-MM-DD","to":"YYYY-MM-DD"}.
func (w EventWindow) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"from":%q,"to":%q}`, schema.FormatDay(w.From), schema.FormatDay(w.To)), nil
}

// FieldProfile is the profile of one field. Categorical fields (tag, set,
// bool, event) fill Values; numeric fields (int, decimal, date) fill the
// statistics, which are nil when no profile of the segment has a value.
type FieldProfile struct {
	Type schema.Type
	// WithValue counts the segment's profiles with a value (for events:
	// with an event of any value inside the window).
	WithValue uint64
	// Distinct counts the values held by at least one profile of the
	// segment (tag, set, event); Values lists the top ones. Values no
	// profile of the segment holds are left out.
	Distinct int
	Values   []ValueStat
	Window   *EventWindow // event fields

	// Numeric statistics over the WithValue profiles. Percentiles use
	// the nearest-rank definition: the p-th percentile is the value at
	// rank ceil(p/100·n) in ascending order, so it is always a value some
	// profile holds. Sum is nil for dates: a sum of days is no quantity.
	Min, Max      *Value
	Sum           *Sum
	Mean          *Mean
	P25, P50, P75 *Value
	Histogram     []Bucket
}

// categoricalJSON and numericJSON fix the wire shape per kind of field,
// so a client always finds "values" (or "histogram"), even empty.
type categoricalJSON struct {
	Type      schema.Type  `json:"type"`
	WithValue uint64       `json:"with_value"`
	Distinct  *int         `json:"distinct,omitempty"`
	Window    *EventWindow `json:"window,omitempty"`
	Values    []ValueStat  `json:"values"`
}

type numericJSON struct {
	Type      schema.Type `json:"type"`
	WithValue uint64      `json:"with_value"`
	Count     uint64      `json:"count"`
	Min       *Value      `json:"min,omitempty"`
	Max       *Value      `json:"max,omitempty"`
	Sum       *Sum        `json:"sum,omitempty"`
	Mean      *Mean       `json:"mean,omitempty"`
	P25       *Value      `json:"p25,omitempty"`
	P50       *Value      `json:"p50,omitempty"`
	P75       *Value      `json:"p75,omitempty"`
	Histogram []Bucket    `json:"histogram"`
}

// MarshalJSON writes the shape of DESIGN §3 for the field's type.
func (f *FieldProfile) MarshalJSON() ([]byte, error) {
	if f.Type.Numeric() {
		return jsonMarshal(numericJSON{
			Type: f.Type, WithValue: f.WithValue, Count: f.WithValue,
			Min: f.Min, Max: f.Max, Sum: f.Sum, Mean: f.Mean,
			P25: f.P25, P50: f.P50, P75: f.P75,
			Histogram: orEmpty(f.Histogram),
		})
	}
	c := categoricalJSON{Type: f.Type, WithValue: f.WithValue, Window: f.Window, Values: orEmpty(f.Values)}
	if f.Type != schema.Bool {
		c.Distinct = &f.Distinct
	}
	return jsonMarshal(c)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Profile describes the segment seg (rows of sn) by the fields of opts:
// per value of each categorical field its count, shares and TGI; per
// numeric field min, max, sum, mean, quartiles and a histogram, computed
// on the bit-sliced index without visiting profiles.
func Profile(ctx context.Context, sn *engine.Snapshot, seg *roaring.Bitmap, opts ProfileOptions) (*ProfileResult, error) {
	if sn == nil || seg == nil {
		return nil, errors.New("profile: snapshot and segment are required")
	}
	if err := checkRows(sn, seg); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	opts, err := opts.withDefaults(sn)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	// Resolve every field first: a typo in the last one should not cost
	// the work of profiling the others.
	var fields []*engine.FieldView
	seen := map[string]bool{}
	for _, name := range opts.Fields {
		fv, err := sn.Field(name)
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		if !seen[fv.Field.Name] { // asked twice, perhaps in another case
			seen[fv.Field.Name] = true
			fields = append(fields, fv)
		}
	}
	if len(opts.Fields) == 0 {
		for i := range sn.Fields() {
			fields = append(fields, &sn.Fields()[i])
		}
	}
	res := &ProfileResult{
		Count:  seg.GetCardinality(),
		Total:  sn.All().GetCardinality(),
		Fields: make(map[string]*FieldProfile, len(fields)),
	}
	for _, fv := range fields {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		p, err := profileField(ctx, fv, seg, res, &opts)
		if err != nil {
			return nil, fmt.Errorf("profile of field %s: %w", fv.Field.Name, err)
		}
		// Keyed by the schema's spelling, whatever case was asked for.
		res.Fields[fv.Field.Name] = p
	}
	return res, nil
}

// checkRows refuses a segment with rows the snapshot does not hold
// (typically one computed on a newer snapshot): its counts would not add
// up, and its rows have no external id to hash.
func checkRows(sn *engine.Snapshot, seg *roaring.Bitmap) error {
	if !seg.IsEmpty() && seg.Maximum() >= sn.Rows() {
		return fmt.Errorf("segment holds row %d, the snapshot only %d rows", seg.Maximum(), sn.Rows())
	}
	return nil
}

func (o ProfileOptions) withDefaults(sn *engine.Snapshot) (ProfileOptions, error) {
	switch {
	case o.Top < 0:
		return o, fmt.Errorf("top must not be negative (got %d)", o.Top)
	case o.WindowDays < 0:
		return o, fmt.Errorf("window_days must not be negative (got %d)", o.WindowDays)
	case o.Buckets < 0 || o.Buckets > MaxBuckets:
		return o, fmt.Errorf("buckets must lie in 0..%d (got %d)", MaxBuckets, o.Buckets)
	}
	switch strings.ToLower(o.SortBy) {
	case "", "count":
		o.SortBy = "count"
	case "tgi":
		o.SortBy = "tgi"
	default:
		return o, fmt.Errorf("sort_by must be \"count\" or \"tgi\", not %q", o.SortBy)
	}
	if o.Top == 0 {
		o.Top = DefaultTop
	}
	if o.WindowDays == 0 {
		o.WindowDays = DefaultWindowDays
	}
	if o.Buckets == 0 {
		o.Buckets = DefaultBuckets
	}
	if o.Now == 0 {
		o.Now = sn.Today()
	}
	return o, nil
}

func profileField(ctx context.Context, fv *engine.FieldView, seg *roaring.Bitmap, res *ProfileResult, opts *ProfileOptions) (*FieldProfile, error) {
	p := &FieldProfile{Type: fv.Field.Type}
	switch {
	case fv.Values != nil:
		vv := fv.Values
		p.WithValue = vv.Exists().AndCardinality(seg)
		stats, err := valueStats(ctx, vv.Values(), res, func(v string) (uint64, uint64) {
			b := vv.Bitmap(v)
			// Most values of a long tail are absent from a small segment:
			// intersect first, and pay for the dataset count only on a hit.
			c := seg.AndCardinality(b)
			if c == 0 {
				return 0, 0
			}
			return c, b.GetCardinality()
		})
		if err != nil {
			return nil, err
		}
		p.Distinct, p.Values = len(stats), rank(stats, opts.SortBy, opts.Top)
	case fv.Bool != nil:
		bv := fv.Bool
		p.WithValue = bv.Exists().AndCardinality(seg)
		yes := bv.True().AndCardinality(seg)
		yesAll := bv.True().GetCardinality()
		// Both entries always, even at zero: a bool has exactly two values.
		stats := []ValueStat{
			stat("true", yes, yesAll, res),
			stat("false", p.WithValue-yes, bv.Exists().GetCardinality()-yesAll, res),
		}
		p.Distinct, p.Values = 2, rank(stats, opts.SortBy, opts.Top)
	case fv.Events != nil:
		ev := fv.Events
		w := EventWindow{From: opts.Now - schema.Day(opts.WindowDays) + 1, To: opts.Now}
		p.Window = &w
		active := ev.WindowWithin(nil, w.From, w.To, seg)
		p.WithValue = active.GetCardinality()
		one := make([]string, 1)
		stats, err := valueStats(ctx, ev.Values(), res, func(v string) (uint64, uint64) {
			one[0] = v
			// Restricting to the segment's active profiles, not the whole
			// segment, keeps each per-day intersection small.
			c := ev.WindowWithin(one, w.From, w.To, active).GetCardinality()
			if c == 0 {
				return 0, 0
			}
			return c, ev.WindowCount(one, w.From, w.To)
		})
		if err != nil {
			return nil, err
		}
		p.Distinct, p.Values = len(stats), rank(stats, opts.SortBy, opts.Top)
	case fv.BSI != nil:
		if err := numericProfile(ctx, fv, seg, opts.Buckets, p); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("field has no index")
	}
	return p, nil
}

// valueStats counts every value and keeps those the segment holds.
// count returns the segment's and the dataset's count of a value.
func valueStats(ctx context.Context, values []string, res *ProfileResult, count func(string) (seg, all uint64)) ([]ValueStat, error) {
	var stats []ValueStat
	for i, v := range values {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if c, all := count(v); c > 0 {
			stats = append(stats, stat(v, c, all, res))
		}
	}
	return stats, nil
}

func stat(v string, c, all uint64, res *ProfileResult) ValueStat {
	s := ValueStat{Value: v, Count: c, CountAll: all, Share: ratio(c, res.Count), ShareAll: ratio(all, res.Total)}
	if s.ShareAll > 0 {
		s.TGI = 100 * s.Share / s.ShareAll
	}
	return s
}

// ratio is a/b, 0 for an empty denominator (an empty segment has no
// shares rather than NaN ones, which JSON cannot carry).
func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// rank orders stats by count or TGI, largest first, ties by value, and
// keeps the first top.
func rank(stats []ValueStat, by string, top int) []ValueStat {
	slices.SortFunc(stats, func(a, b ValueStat) int {
		if by == "tgi" {
			if c := cmp.Compare(b.TGI, a.TGI); c != 0 {
				return c
			}
		} else if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return stats[:min(top, len(stats))]
}
