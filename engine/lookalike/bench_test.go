package lookalike

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
)

func benchSnapshot(b testing.TB, profiles int) *engine.Snapshot {
	if b != nil {
		b.Helper()
	}
	ds, err := bench.Generated(profiles, 1, testNow)
	if err != nil {
		b.Fatal(err)
	}
	return ds.Snapshot()
}

// benchSizes is 1M profiles, and 10M with COHORT_BENCH_LARGE=1.
func benchSizes() []int {
	if os.Getenv("COHORT_BENCH_LARGE") != "" {
		return []int{1_000_000, 10_000_000}
	}
	return []int{1_000_000}
}

// benchSeed returns the first n rows of query's segment, and the query.
func benchSeed(b *testing.B, sn *engine.Snapshot, query string, n uint64) (*roaring.Bitmap, *exec.Query) {
	now := sn.Today()
	q, err := exec.Compile(sn, query, exec.Options{Now: &now})
	if err != nil {
		b.Fatal(err)
	}
	all, err := q.Bitmap(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	seed := roaring.New()
	it := all.Iterator()
	for it.HasNext() && seed.GetCardinality() < n {
		seed.Add(it.Next())
	}
	return seed, q
}

// BenchmarkExpand grows a 10K seed (the first 10K profiles interested in
// baby products at level L3 or L4: a realistic, signal-bearing seed) over
// the whole generated dataset. COHORT_BENCH_LARGE=1 adds 10M profiles.
func BenchmarkExpand(b *testing.B) {
	for _, n := range benchSizes() {
		sn := benchSnapshot(b, n)
		now := sn.Today()
		seed, _ := benchSeed(b, sn, "interests HAS 'baby' AND member_level IN ('L3', 'L4')", 10_000)
		for _, model := range []string{ModelNaiveBayes, ModelLogistic} {
			for _, size := range []int{10_000, 100_000, 500_000} {
				b.Run(fmt.Sprintf("profiles=%dM/seed=10K/size=%dK/model=%s", n/1_000_000, size/1000, model), func(b *testing.B) {
					for b.Loop() {
						res, err := Expand(context.Background(), sn, seed, Options{Size: size, Now: now, Model: model, ExcludeFields: []string{"interests", "member_level"}})
						if err != nil {
							b.Fatal(err)
						}
						if len(res.Ranked) != size {
							b.Fatalf("got %d rows", len(res.Ranked))
						}
					}
				})
			}
		}
	}
}

// BenchmarkExpandRunner is the benchmark runner's "lookalike-10k" case
// (bench/runner runLookalike): a seed of the first 1,000 rows of
// member_level = 'L4', Size 10,000, naive Bayes, the seed query's field
// excluded; and the same with 1,000 rows of L4 spread over the dataset.
// COHORT_BENCH_LARGE=1 adds 10M profiles.
func BenchmarkExpandRunner(b *testing.B) {
	for _, n := range benchSizes() {
		sn := benchSnapshot(b, n)
		now := sn.Today()
		seed, q := benchSeed(b, sn, "member_level = 'L4'", 1000)
		opts := Options{Size: 10_000, Now: now, ExcludeFields: QueryFields(q.Checked.Root)}
		// The runner's seed lies in the first rows (one or two roaring
		// containers); seed=L4-1k-spread takes 1,000 rows of L4 evenly
		// over all of them, as a real audience would be, which every
		// count against the seed then meets in every container.
		all, err := q.Bitmap(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		rows := all.ToArray()
		spread := roaring.New()
		for i := range 1000 {
			spread.Add(rows[i*len(rows)/1000])
		}
		for _, sd := range []struct {
			name string
			rows *roaring.Bitmap
		}{{"L4-1k", seed}, {"L4-1k-spread", spread}} {
			b.Run(fmt.Sprintf("profiles=%dM/seed=%s/size=10K", n/1_000_000, sd.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					res, err := Expand(context.Background(), sn, sd.rows, opts)
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Ranked) != opts.Size {
						b.Fatalf("got %d rows", len(res.Ranked))
					}
				}
			})
		}
	}
}
