package analytics_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/analytics"
	"github.com/cohortdb/cohort/engine/internal/testgen"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/reference"
	"github.com/cohortdb/cohort/engine/schema"
)

var testNow = time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)

// randomDataset loads random testgen lines into a dataset and the
// reference model alike.
func randomDataset(t *testing.T, seed uint64, lines int) (*engine.Snapshot, *reference.Model, schema.Day, *rand.Rand) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 4242))
	s, err := schema.Parse([]byte(testgen.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return testNow }}).Create("prof", s)
	if err != nil {
		t.Fatal(err)
	}
	model := reference.New(s)
	today := schema.DayOf(testNow, s.Location())
	gen := &testgen.Lines{R: r, Today: func() schema.Day { return today }}
	var ups []record.Update
	for range lines {
		if u, err := record.Decode([]byte(gen.Line(lines/3)), s); err == nil {
			ups = append(ups, u)
		}
	}
	// Several batches, so profiles change after they were first written.
	for len(ups) > 0 {
		n := min(len(ups), 1+r.IntN(200))
		ds.Apply(ups[:n])
		for _, u := range ups[:n] {
			model.Apply(u, today)
		}
		ups = ups[n:]
	}
	return ds.Snapshot(), model, today, r
}

// randomSegments returns named segments: empty, all, a single row, and
// random samples of several densities.
func randomSegments(sn *engine.Snapshot, r *rand.Rand) map[string]*roaring.Bitmap {
	segs := map[string]*roaring.Bitmap{"empty": roaring.New(), "all": sn.All().Clone()}
	if sn.Rows() > 0 {
		segs["one"] = roaring.BitmapOf(uint32(r.IntN(int(sn.Rows()))))
	}
	for _, p := range []int{3, 20, 50, 90} {
		b := roaring.New()
		for row := range sn.Rows() {
			if r.IntN(100) < p {
				b.Add(row)
			}
		}
		segs[fmt.Sprintf("p%d", p)] = b
	}
	return segs
}

// TestProfileAgainstReference compares every field's profile with a
// plain per-profile computation over the reference model.
func TestProfileAgainstReference(t *testing.T) {
	compared := 0
	for seed := uint64(1); seed <= 5; seed++ {
		sn, model, today, r := randomDataset(t, seed, 1500)
		if int(sn.Rows()) != len(model.Profiles) {
			t.Fatalf("engine has %d rows, reference %d", sn.Rows(), len(model.Profiles))
		}
		for name, seg := range randomSegments(sn, r) {
			for range 3 {
				opts := analytics.ProfileOptions{
					Top:        1 + r.IntN(8),
					SortBy:     []string{"", "count", "tgi"}[r.IntN(3)],
					Now:        today - schema.Day(r.IntN(5)),
					WindowDays: 1 + r.IntN(45),
					Buckets:    1 + r.IntN(15),
				}
				got, err := analytics.Profile(context.Background(), sn, seg, opts)
				if err != nil {
					t.Fatal(err)
				}
				want := refProfile(model, seg, opts)
				ctxt := fmt.Sprintf("seed %d, segment %s (%d rows), %+v", seed, name, seg.GetCardinality(), opts)
				if got.Count != seg.GetCardinality() || got.Total != uint64(len(model.Profiles)) {
					t.Fatalf("%s: count %d total %d", ctxt, got.Count, got.Total)
				}
				if len(got.Fields) != len(model.Schema.Fields) {
					t.Fatalf("%s: %d fields profiled, want all %d", ctxt, len(got.Fields), len(model.Schema.Fields))
				}
				for fname, w := range want {
					compareField(t, ctxt+", field "+fname, got.Fields[fname], w)
					compared++
				}
				if _, err := json.Marshal(got); err != nil {
					t.Fatalf("%s: marshal: %v", ctxt, err)
				}
			}
		}
	}
	if compared < 500 {
		t.Fatalf("only %d field profiles compared", compared)
	}
}

// refField is what the reference model says a field's profile is.
type refField struct {
	withValue uint64
	distinct  int
	values    []analytics.ValueStat
	nums      []int64 // sorted values of numeric fields
	sum       *big.Int
}

func refProfile(m *reference.Model, seg *roaring.Bitmap, opts analytics.ProfileOptions) map[string]refField {
	n, total := seg.GetCardinality(), uint64(len(m.Profiles))
	from, to := opts.Now-schema.Day(opts.WindowDays)+1, opts.Now
	out := map[string]refField{}
	for fi, f := range m.Schema.Fields {
		var rf refField
		segCount, allCount := map[string]uint64{}, map[string]uint64{}
		for row, p := range m.Profiles {
			in := seg.Contains(uint32(row))
			var vals []string
			has := false
			switch f.Type {
			case schema.Tag:
				if v, ok := p.Tags[fi]; ok {
					vals, has = []string{v}, true
				}
			case schema.Set:
				for v := range p.Sets[fi] {
					vals, has = append(vals, v), true
				}
			case schema.Bool:
				if v, ok := p.Bools[fi]; ok {
					vals, has = []string{fmt.Sprint(v)}, true
				}
			case schema.Event:
				for v := range p.Events[fi] {
					if reference.EventDays(p, fi, []string{v}, from, to) > 0 {
						vals, has = append(vals, v), true
					}
				}
			default:
				if v, ok := p.Nums[fi]; ok {
					has = true
					if in {
						rf.nums = append(rf.nums, v)
					}
				}
			}
			for _, v := range vals {
				allCount[v]++
				if in {
					segCount[v]++
				}
			}
			if in && has {
				rf.withValue++
			}
		}
		if f.Type == schema.Bool {
			segCount["true"] += 0
			segCount["false"] += 0
		}
		for v, c := range segCount {
			if c == 0 && f.Type != schema.Bool {
				continue
			}
			s := analytics.ValueStat{Value: v, Count: c, CountAll: allCount[v]}
			if n > 0 {
				s.Share = float64(c) / float64(n)
			}
			if total > 0 {
				s.ShareAll = float64(allCount[v]) / float64(total)
			}
			if s.ShareAll > 0 {
				s.TGI = 100 * s.Share / s.ShareAll
			}
			rf.values = append(rf.values, s)
		}
		rf.distinct = len(rf.values)
		slices.SortFunc(rf.values, func(a, b analytics.ValueStat) int {
			if opts.SortBy == "tgi" {
				return cmp.Or(cmp.Compare(b.TGI, a.TGI), strings.Compare(a.Value, b.Value))
			}
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
		})
		rf.values = rf.values[:min(opts.Top, len(rf.values))]
		slices.Sort(rf.nums)
		rf.sum = new(big.Int)
		for _, v := range rf.nums {
			rf.sum.Add(rf.sum, big.NewInt(v))
		}
		out[f.Name] = rf
	}
	return out
}

func compareField(t *testing.T, ctxt string, got *analytics.FieldProfile, want refField) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: missing", ctxt)
	}
	if got.WithValue != want.withValue {
		t.Fatalf("%s: with_value %d, want %d", ctxt, got.WithValue, want.withValue)
	}
	if !got.Type.Numeric() {
		if got.Type != schema.Bool && got.Distinct != want.distinct {
			t.Fatalf("%s: distinct %d, want %d", ctxt, got.Distinct, want.distinct)
		}
		if !slices.Equal(got.Values, want.values) && len(got.Values)+len(want.values) > 0 {
			t.Fatalf("%s: values\n got  %+v\n want %+v", ctxt, got.Values, want.values)
		}
		return
	}
	n := uint64(len(want.nums))
	if n == 0 {
		if got.Min != nil || got.Mean != nil || got.P50 != nil || len(got.Histogram) != 0 {
			t.Fatalf("%s: statistics without values: %+v", ctxt, got)
		}
		return
	}
	at := func(p uint64) int64 { return want.nums[(p*n+99)/100-1] } // nearest rank
	checks := []struct {
		name string
		got  *analytics.Value
		want int64
	}{{"min", got.Min, want.nums[0]}, {"max", got.Max, want.nums[n-1]}, {"p25", got.P25, at(25)}, {"p50", got.P50, at(50)}, {"p75", got.P75, at(75)}}
	for _, c := range checks {
		if c.got == nil || c.got.Stored != c.want {
			t.Fatalf("%s: %s %+v, want %d (values %v)", ctxt, c.name, c.got, c.want, want.nums)
		}
	}
	if got.Type == schema.Date {
		if got.Sum != nil {
			t.Fatalf("%s: a date field has a sum", ctxt)
		}
	} else if got.Sum == nil || got.Sum.Stored.Cmp(want.sum) != 0 {
		t.Fatalf("%s: sum %v, want %v", ctxt, got.Sum, want.sum)
	}
	mean, _ := new(big.Rat).SetFrac(want.sum, new(big.Int).SetUint64(n)).Float64()
	if got.Mean == nil || got.Mean.Stored != mean {
		t.Fatalf("%s: mean %+v, want %v", ctxt, got.Mean, mean)
	}
	// Buckets: contiguous, equal width but the last, covering [min, max],
	// each counting exactly the values inside it.
	var total uint64
	h := got.Histogram
	for i, b := range h {
		var c uint64
		for _, v := range want.nums {
			if b.From.Stored <= v && v <= b.To.Stored {
				c++
			}
		}
		if b.Count != c {
			t.Fatalf("%s: bucket %d [%d, %d] counts %d, want %d", ctxt, i, b.From.Stored, b.To.Stored, b.Count, c)
		}
		if i > 0 && b.From.Stored != h[i-1].To.Stored+1 {
			t.Fatalf("%s: bucket %d starts at %d after %d", ctxt, i, b.From.Stored, h[i-1].To.Stored)
		}
		if i < len(h)-1 && b.To.Stored-b.From.Stored != h[0].To.Stored-h[0].From.Stored {
			t.Fatalf("%s: bucket %d has another width", ctxt, i)
		}
		total += b.Count
	}
	if total != got.WithValue || h[0].From.Stored != want.nums[0] || h[len(h)-1].To.Stored != want.nums[n-1] {
		t.Fatalf("%s: histogram %+v does not cover %d values in [%d, %d]", ctxt, h, n, want.nums[0], want.nums[n-1])
	}
}

// TestProfileJSON pins the wire shape on a small hand-made dataset.
func TestProfileJSON(t *testing.T) {
	s, err := schema.Parse([]byte(`{"fields":[
		{"name":"city","type":"tag"},{"name":"vip","type":"bool"},
		{"name":"age","type":"int","min":0,"max":120},
		{"name":"ltv","type":"decimal","scale":2,"min":-100,"max":100000},
		{"name":"reg","type":"date"},{"name":"buy","type":"event"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return testNow }}).Create("shape", s)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		`{"id":"u1","set":{"city":"上海","vip":true,"age":20,"ltv":10.50,"reg":"2026-01-01"},"events":[{"field":"buy","value":"milk","time":"2026-11-20"}]}`,
		`{"id":"u2","set":{"city":"上海","vip":false,"age":30,"ltv":-1.25,"reg":"2026-01-03"}}`,
		`{"id":"u3","set":{"city":"杭州","age":41}}`,
		`{"id":"u4","set":{"city":"北京"},"events":[{"field":"buy","value":"milk","time":"2026-10-01"}]}`,
	}
	res, err := ds.ApplyNDJSON(strings.NewReader(strings.Join(lines, "\n")), engine.LoadOptions{})
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("load: %v %+v", err, res.Errors)
	}
	sn := ds.Snapshot()
	seg := roaring.BitmapOf(0, 1, 2) // u1, u2, u3
	now := schema.Day(testNow.Unix() / 86400)
	p, err := analytics.Profile(context.Background(), sn, seg, analytics.ProfileOptions{
		Fields: []string{"CITY", "vip", "age", "ltv", "reg", "buy"}, Top: 2, Now: now, Buckets: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"count":3,"total":4,"fields":{` +
		`"age":{"type":"int","with_value":3,"count":3,"min":20,"max":41,"sum":91,"mean":30.333333333333332,"p25":20,"p50":30,"p75":41,` +
		`"histogram":[{"from":20,"to":30,"count":2},{"from":31,"to":41,"count":1}]},` +
		`"buy":{"type":"event","with_value":1,"distinct":1,"window":{"from":"2026-10-24","to":"2026-11-22"},` +
		`"values":[{"value":"milk","count":1,"count_all":1,"share":0.3333333333333333,"share_all":0.25,"tgi":133.33333333333331}]},` +
		`"city":{"type":"tag","with_value":3,"distinct":2,"values":[` +
		`{"value":"上海","count":2,"count_all":2,"share":0.6666666666666666,"share_all":0.5,"tgi":133.33333333333331},` +
		`{"value":"杭州","count":1,"count_all":1,"share":0.3333333333333333,"share_all":0.25,"tgi":133.33333333333331}]},` +
		`"ltv":{"type":"decimal","with_value":2,"count":2,"min":-1.25,"max":10.50,"sum":9.25,"mean":4.625,"p25":-1.25,"p50":-1.25,"p75":10.50,` +
		`"histogram":[{"from":-1.25,"to":4.62,"count":1},{"from":4.63,"to":10.50,"count":1}]},` +
		`"reg":{"type":"date","with_value":2,"count":2,"min":"2026-01-01","max":"2026-01-03","mean":"2026-01-02","p25":"2026-01-01","p50":"2026-01-01","p75":"2026-01-03",` +
		`"histogram":[{"from":"2026-01-01","to":"2026-01-02","count":1},{"from":"2026-01-03","to":"2026-01-03","count":1}]},` +
		`"vip":{"type":"bool","with_value":2,"values":[` +
		`{"value":"false","count":1,"count_all":1,"share":0.3333333333333333,"share_all":0.25,"tgi":133.33333333333331},` +
		`{"value":"true","count":1,"count_all":1,"share":0.3333333333333333,"share_all":0.25,"tgi":133.33333333333331}]}}}`
	if string(got) != want {
		t.Fatalf("JSON\n got  %s\n want %s", got, want)
	}
}

func TestProfileErrors(t *testing.T) {
	sn, _, _, _ := randomDataset(t, 9, 50)
	ctx := context.Background()
	for _, c := range []struct {
		opts analytics.ProfileOptions
		msg  string
	}{
		{analytics.ProfileOptions{Fields: []string{"nope"}}, `no field "nope"`},
		{analytics.ProfileOptions{SortBy: "share"}, "sort_by"},
		{analytics.ProfileOptions{Top: -1}, "top"},
		{analytics.ProfileOptions{Buckets: analytics.MaxBuckets + 1}, "buckets"},
		{analytics.ProfileOptions{WindowDays: -3}, "window_days"},
	} {
		if _, err := analytics.Profile(ctx, sn, sn.All(), c.opts); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.opts, err, c.msg)
		}
	}
	beyond := roaring.BitmapOf(sn.Rows())
	if _, err := analytics.Profile(ctx, sn, beyond, analytics.ProfileOptions{}); err == nil || !strings.Contains(err.Error(), "only") {
		t.Errorf("a row beyond the snapshot: error %v", err)
	}
	if _, err := analytics.Split(ctx, sn, beyond, analytics.SplitOptions{Groups: []analytics.Group{{"A", 100}}}); err == nil {
		t.Error("split of a row beyond the snapshot accepted")
	}
	twice, err := analytics.Profile(ctx, sn, sn.All(), analytics.ProfileOptions{Fields: []string{"t", "T", "n"}})
	if err != nil || len(twice.Fields) != 2 {
		t.Errorf("a field asked twice: %v, %d fields", err, len(twice.Fields))
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := analytics.Profile(cancelled, sn, sn.All(), analytics.ProfileOptions{}); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("a cancelled context: %v", err)
	}
	if _, err := analytics.Split(cancelled, sn, sn.All(), analytics.SplitOptions{Groups: []analytics.Group{{"A", 100}}}); err == nil {
		t.Error("split: a cancelled context went unnoticed")
	}
	if _, err := analytics.Overlap(cancelled, []*roaring.Bitmap{sn.All(), sn.All()}); err == nil {
		t.Error("overlap: a cancelled context went unnoticed")
	}
}
