package lookalike

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/schema"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// testData is one small generated dataset shared by the tests of a run
// (read-only once built).
type testData struct {
	once sync.Once
	sn   *engine.Snapshot
	err  error
}

func (d *testData) get(t testing.TB, profiles int) *engine.Snapshot {
	t.Helper()
	d.once.Do(func() {
		ds, err := bench.Generated(profiles, 7, testNow)
		if err != nil {
			d.err = err
			return
		}
		d.sn = ds.Snapshot()
	})
	if d.err != nil {
		t.Fatal(d.err)
	}
	return d.sn
}

func snapshot(t testing.TB) *engine.Snapshot {
	return small.get(t, 6000)
}

// small is built once per test binary: tests only read it.
var small testData

func today(sn *engine.Snapshot) schema.Day { return sn.Today() }

func randomSubset(r *rand.Rand, all *roaring.Bitmap, share float64) *roaring.Bitmap {
	out := roaring.New()
	all.Iterate(func(x uint32) bool {
		if r.Float64() < share {
			out.Add(x)
		}
		return true
	})
	return out
}

// featureQuery writes the segment-language condition that should match
// exactly the profiles holding f, so the naive check goes through the
// query engine rather than the bitmaps Expand built.
func featureQuery(t *testing.T, sn *engine.Snapshot, f Feature, window int) string {
	t.Helper()
	fd, ok := sn.Schema().Field(f.Field)
	if !ok {
		t.Fatalf("feature of unknown field %q", f.Field)
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch f.Kind {
	case KindEvent:
		return fmt.Sprintf("%s(%s) IN LAST %d DAYS", f.Field, quote(f.Value), window)
	case KindValue:
		switch fd.Type {
		case schema.Set:
			return fmt.Sprintf("%s HAS %s", f.Field, quote(f.Value))
		case schema.Bool:
			return fmt.Sprintf("%s = %s", f.Field, f.Value)
		}
		return fmt.Sprintf("%s = %s", f.Field, quote(f.Value))
	case KindBucket:
		closed := strings.HasSuffix(f.Value, "]")
		lo, hi, ok := strings.Cut(f.Value[1:len(f.Value)-1], ",")
		if !ok {
			t.Fatalf("bad bucket %q", f.Value)
		}
		if fd.Type == schema.Date {
			lo, hi = quote(lo), quote(hi)
		}
		op := "<"
		if closed {
			op = "<="
		}
		return fmt.Sprintf("%s >= %s AND %s %s %s", f.Field, lo, f.Field, op, hi)
	}
	t.Fatalf("unknown kind %q", f.Kind)
	return ""
}

func run(t *testing.T, sn *engine.Snapshot, text string, now schema.Day) *roaring.Bitmap {
	t.Helper()
	q, err := exec.Compile(sn, text, exec.Options{Now: &now})
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	b, err := q.Bitmap(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return b
}

// TestScoresMatchNaive checks Expand against a per-row computation: every
// selected feature's members (recomputed through the query engine), its
// counts and weight (recomputed from those members), and every
// candidate's score and rank.
func TestScoresMatchNaive(t *testing.T) {
	sn := snapshot(t)
	now := today(sn)
	for trial := range 6 {
		r := rand.New(rand.NewPCG(uint64(trial), 99))
		seed := randomSubset(r, sn.All(), 0.02+0.1*r.Float64())
		// Plant some signal so weights are not all noise.
		seed.Or(roaring.And(run(t, sn, "member_level = 'L4'", now), randomSubset(r, sn.All(), 0.3)))
		opts := Options{Size: int(sn.Rows()), MaxFeatures: 5 + r.IntN(60), Now: now,
			WindowDays: []int{0, 7, 90}[trial%3], Smoothing: []float64{0, 1, 0.1}[trial%3]}
		if trial%2 == 1 {
			// A narrow universe (trial 1) leaves most of a shard's rows
			// outside the candidates: the scorer then reads them by row.
			opts.Universe = randomSubset(r, sn.All(), []float64{0.7, 0.3, 0.7}[trial%3])
		}
		if trial >= 4 {
			opts.Model = ModelLogistic
		}
		res, err := Expand(context.Background(), sn, seed, opts)
		if err != nil {
			t.Fatal(err)
		}
		window, alpha := cmp0(opts.WindowDays, DefaultWindowDays), opts.Smoothing
		if alpha == 0 {
			alpha = DefaultSmoothing
		}
		base := sn.All().Clone()
		if opts.Universe != nil {
			base.And(opts.Universe)
		}
		base.AndNot(seed)
		ns, nb := float64(seed.GetCardinality()), float64(base.GetCardinality())
		members := make([]*roaring.Bitmap, len(res.Features))
		for i, f := range res.Features {
			members[i] = run(t, sn, featureQuery(t, sn, f, window), now)
			sc, bc := members[i].AndCardinality(seed), members[i].AndCardinality(base)
			if sc != f.SeedCount || bc != f.BaseCount {
				t.Fatalf("trial %d: %s=%s: counts %d/%d, naive %d/%d", trial, f.Field, f.Value, f.SeedCount, f.BaseCount, sc, bc)
			}
			ps, pb := (float64(sc)+alpha)/(ns+2*alpha), (float64(bc)+alpha)/(nb+2*alpha)
			if w := math.Log(ps / pb); opts.Model == "" && math.Abs(w-f.Weight) > 1e-12 {
				t.Fatalf("trial %d: %s=%s: weight %v, naive %v", trial, f.Field, f.Value, f.Weight, w)
			}
			if i > 0 && res.Features[i-1].IV < f.IV {
				t.Fatalf("trial %d: features not by IV", trial)
			}
		}
		if len(res.Features) > opts.MaxFeatures {
			t.Fatalf("trial %d: %d features, max %d", trial, len(res.Features), opts.MaxFeatures)
		}
		// Every candidate is ranked (Size covers them all), by naive score.
		if uint64(len(res.Ranked)) != base.GetCardinality() {
			t.Fatalf("trial %d: ranked %d of %d candidates", trial, len(res.Ranked), base.GetCardinality())
		}
		// Scores are sums of the weights rounded to multiples of
		// 2^-shift: exactly that sum, and within half a step per feature
		// of the float sum.
		ws := make([]float64, len(res.Features))
		for j, f := range res.Features {
			ws[j] = f.Weight
		}
		q, shift := quantize(ws)
		if shift < 16 {
			t.Fatalf("trial %d: weights rounded to steps of 2^-%d", trial, shift)
		}
		for i, row := range res.Ranked {
			var sum int64
			exact := 0.0
			for j := range res.Features {
				if members[j].Contains(row) {
					sum += int64(q[j])
					exact += ws[j]
				}
			}
			if want := math.Ldexp(float64(sum), -shift); res.Scores[i] != want {
				t.Fatalf("trial %d: row %d score %v, naive %v", trial, row, res.Scores[i], want)
			}
			if d := math.Abs(res.Scores[i] - exact); d > math.Ldexp(float64(len(q)), -shift-1) {
				t.Fatalf("trial %d: row %d score %v is %v from the unrounded %v", trial, row, res.Scores[i], d, exact)
			}
			if i > 0 && (res.Scores[i-1] < res.Scores[i] || res.Scores[i-1] == res.Scores[i] && res.Ranked[i-1] > row) {
				t.Fatalf("trial %d: rank %d out of order", trial, i)
			}
		}
		if !res.Rows.Equals(base) {
			t.Fatalf("trial %d: rows are not the candidates", trial)
		}
	}
}

func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func TestTopNAndUniverse(t *testing.T) {
	sn := snapshot(t)
	now := today(sn)
	seed := run(t, sn, "member_level = 'L4' AND gender = 'female'", now)
	universe := run(t, sn, "city IN ('上海', '北京', '广州', '深圳')", now)
	full, err := Expand(context.Background(), sn, seed, Options{Size: 1 << 30, Universe: universe, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 17, 500} {
		res, err := Expand(context.Background(), sn, seed, Options{Size: n, Universe: universe, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Ranked) != n || res.Rows.GetCardinality() != uint64(n) {
			t.Fatalf("size %d: got %d", n, len(res.Ranked))
		}
		if !slices.Equal(res.Ranked, full.Ranked[:n]) {
			t.Fatalf("size %d: top n is not the prefix of the full ranking", n)
		}
		if res.Rows.Intersects(seed) {
			t.Fatalf("size %d: result holds seed members", n)
		}
		if !roaring.AndNot(res.Rows, universe).IsEmpty() {
			t.Fatalf("size %d: result leaves the universe", n)
		}
	}
}

func TestDeterministicAcrossShards(t *testing.T) {
	sn := snapshot(t)
	now := today(sn)
	seed := run(t, sn, "interests HAS 'baby'", now)
	_, cand, sel := selected(t, sn, seed, Options{Size: 700, Now: now})
	wantRows, wantScores, err := score(context.Background(), sel, cand, 700, scoring{shardRows: ShardRows})
	if err != nil {
		t.Fatal(err)
	}
	// Shards of other sizes, and features written whole (all of them,
	// or the first few) rather than cut shard by shard, rank alike.
	words := uint64(cand.Maximum())/64 + 1
	for _, sc := range []scoring{{shardRows: 1 << 10}, {shardRows: 1 << 12},
		{shardRows: ShardRows, wholeBytes: wholeBytes, pool: sn.WordPool()},
		{shardRows: 1 << 12, wholeBytes: 3 * words * 8}} {
		rows, scores, err := score(context.Background(), sel, cand, 700, sc)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows, wantRows) || !slices.Equal(scores, wantScores) {
			t.Fatalf("shards of %d rows, %d bytes written whole, rank differently", sc.shardRows, sc.wholeBytes)
		}
	}
	a, err := Expand(context.Background(), sn, seed, Options{Size: 700, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Expand(context.Background(), sn, seed, Options{Size: 700, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Ranked, b.Ranked) || !slices.Equal(a.Scores, b.Scores) || !slices.Equal(a.Features, b.Features) {
		t.Fatal("two runs differ")
	}
	for _, m := range []string{ModelNaiveBayes, ModelLogistic} {
		a, err := Expand(context.Background(), sn, seed, Options{Size: 700, Now: now, Model: m})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Expand(context.Background(), sn, seed, Options{Size: 700, Now: now, Model: m})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Ranked, b.Ranked) || !slices.Equal(a.Scores, b.Scores) {
			t.Fatalf("%s: two runs differ", m)
		}
	}
}

func TestExcludeFields(t *testing.T) {
	sn := snapshot(t)
	now := today(sn)
	text := "member_level = 'L4' AND purchase('milk_powder') IN LAST 90 DAYS OR is_vip"
	q, err := exec.Compile(sn, text, exec.Options{Now: &now})
	if err != nil {
		t.Fatal(err)
	}
	fields := QueryFields(q.Checked.Root)
	if !slices.Equal(fields, []string{"member_level", "purchase", "is_vip"}) {
		t.Fatalf("QueryFields = %v", fields)
	}
	seed := run(t, sn, "member_level = 'L4'", now)
	res, err := Expand(context.Background(), sn, seed, Options{Size: 100, Now: now, ExcludeFields: []string{"MEMBER_LEVEL", "is_vip"}, MaxFeatures: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Features {
		if f.Field == "member_level" || f.Field == "is_vip" {
			t.Fatalf("excluded field %s in features", f.Field)
		}
	}
	res, err = Expand(context.Background(), sn, seed, Options{Size: 100, Now: now, MaxFeatures: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Features[0].Field != "member_level" {
		t.Fatalf("without exclusion the seed's own field should lead, got %+v", res.Features[0])
	}
}

func TestErrors(t *testing.T) {
	sn := snapshot(t)
	seed := roaring.BitmapOf(1, 2, 3)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		seed *roaring.Bitmap
		opts Options
		want string
	}{
		{"zero size", ctx, seed, Options{}, "size must be positive"},
		{"negative size", ctx, seed, Options{Size: -1}, "size must be positive"},
		{"nil seed", ctx, nil, Options{Size: 1}, "seed audience is empty"},
		{"empty seed", ctx, roaring.New(), Options{Size: 1}, "seed audience is empty"},
		{"seed outside", ctx, roaring.BitmapOf(1 << 30), Options{Size: 1}, "no seed row"},
		{"empty universe", ctx, seed, Options{Size: 1, Universe: roaring.New()}, "universe is empty"},
		{"seed covers universe", ctx, seed, Options{Size: 1, Universe: roaring.BitmapOf(1, 2)}, "covers the whole universe"},
		{"unknown exclude", ctx, seed, Options{Size: 1, ExcludeFields: []string{"citty"}}, `no such field`},
		{"window", ctx, seed, Options{Size: 1, WindowDays: -3}, "window_days"},
		{"max features", ctx, seed, Options{Size: 1, MaxFeatures: 1 << 20}, "max_features"},
		{"smoothing", ctx, seed, Options{Size: 1, Smoothing: math.NaN()}, "smoothing"},
		{"model", ctx, seed, Options{Size: 1, Model: "svm"}, "unknown model"},
		{"cancelled", cancelled, seed, Options{Size: 1}, "context canceled"},
	} {
		_, err := Expand(c.ctx, sn, c.seed, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// Size beyond the candidates is not an error: everyone is returned.
	res, err := Expand(ctx, sn, seed, Options{Size: 1 << 30, Universe: roaring.BitmapOf(1, 2, 3, 4, 5)})
	if err != nil || !slices.Equal(res.Ranked, []uint32{4, 5}) && !slices.Equal(res.Ranked, []uint32{5, 4}) {
		t.Fatalf("small universe: %v %v", res, err)
	}
}

// TestTopN checks the selection against a full sort, with many tied
// scores so the row tie-break matters.
func TestTopN(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		n := 1 + r.IntN(9000)
		k := 1 + r.IntN(n+10)
		all := make([]entry, n)
		for i, row := range r.Perm(n) {
			all[i] = newEntry(int32(r.IntN(1+trial%40))-20, uint32(row))
		}
		top := topN{n: k}
		for _, e := range all {
			top.offer(e)
		}
		top.compact()
		got := slices.Clone(top.buf[:min(len(top.buf), k)])
		order := func(a, b entry) int {
			if better(a, b) {
				return -1
			}
			if better(b, a) {
				return 1
			}
			return 0
		}
		slices.SortFunc(got, order)
		slices.SortFunc(all, order)
		if !slices.Equal(got, all[:min(k, n)]) {
			t.Fatalf("trial %d (n %d, k %d): top differs", trial, n, k)
		}
	}
}

// TestWindowsNotKept: selected windows the view cannot keep (here a view
// without a cache) are filled into words from their days when dense, or
// built for the call when sparse, and score exactly as their unions do;
// a filled window's rows within a set (the logistic model's samples) are
// the union's.
func TestWindowsNotKept(t *testing.T) {
	sn := snapshot(t)
	now := today(sn)
	r := rand.New(rand.NewPCG(5, 6))
	seed := roaring.And(run(t, sn, "member_level = 'L4'", now), randomSubset(r, sn.All(), 0.5))
	m, cand, sel := selected(t, sn, seed, Options{Size: 500, Now: now, MaxFeatures: 200})
	ref := slices.Clone(sel)
	uncached := slices.Clone(sel)
	var windows int
	for i := range sel {
		w := sel[i].window
		if w == nil {
			continue
		}
		windows++
		ref[i].bm = w.ev.WindowFromDays(w.values, w.from, w.to, nil)
		uncached[i].bm, uncached[i].fill = nil, false
		uncached[i].window = &eventWindow{w.ev.Uncached(), w.values, w.from, w.to}
	}
	buildSelected(uncached, m.rows)
	var filled, built int
	sample := randomSubset(r, sn.All(), 0.1)
	for i, c := range uncached {
		switch {
		case c.fill:
			filled++
			if c.bm != nil {
				t.Fatalf("%s=%s: filled and built", c.Field, c.Value)
			}
			if !c.within(sample).Equals(roaring.And(ref[i].bm, sample)) {
				t.Fatalf("%s=%s: rows within a sample differ from the union's", c.Field, c.Value)
			}
		case c.window != nil:
			built++
			if !c.bm.Equals(ref[i].bm) {
				t.Fatalf("%s=%s: built window differs from the union", c.Field, c.Value)
			}
		}
	}
	if filled == 0 || windows == 0 {
		t.Fatalf("%d windows selected, %d filled: the test does not reach the fill path", windows, filled)
	}
	t.Logf("%d windows: %d filled, %d built", windows, filled, built)
	sc := scoring{shardRows: ShardRows, wholeBytes: wholeBytes, pool: sn.WordPool()}
	wantRows, wantScores, err := score(context.Background(), ref, cand, 500, sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, budget := range []uint64{wholeBytes, 0} {
		// With no budget, only the filled windows are written whole.
		sc.wholeBytes = budget
		gotRows, gotScores, err := score(context.Background(), uncached, cand, 500, sc)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gotRows, wantRows) || !slices.Equal(gotScores, wantScores) {
			t.Fatalf("budget %d: filled windows rank differently from their unions", budget)
		}
	}
}

// selected runs Expand's steps up to the selected features, with their
// windows made: the model, the candidates' rows and the features.
func selected(t *testing.T, sn *engine.Snapshot, seed *roaring.Bitmap, o Options) (*model, *roaring.Bitmap, []candidate) {
	t.Helper()
	opts, err := o.withDefaults(sn)
	if err != nil {
		t.Fatal(err)
	}
	cand := roaring.AndNot(sn.All(), seed)
	m := newModel(sn, opts, seed, cand)
	cands, err := m.candidates(context.Background(), sn)
	if err != nil {
		t.Fatal(err)
	}
	return m, cand, m.selectFeatures(cands)
}
