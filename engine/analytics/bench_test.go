package analytics_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/analytics"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/schema"
)

// The benchmarks run on the generated demo data (bench/gen), whose city
// field has 300 Zipf-distributed values: the shape of the profile target
// (a 300-value tag breakdown of a ~10% segment in ≤ 20 ms at 10M).
//
//	go test -run=^$ -bench=. -cpu=1 ./engine/analytics/
//	COHORT_BENCH_LARGE=1 go test -run=^$ -bench=. -cpu=1 -timeout=60m ./engine/analytics/

var benchNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

type fixtureCache struct {
	mu sync.Mutex
	m  map[int]*engine.Snapshot
}

var fixtures = fixtureCache{m: map[int]*engine.Snapshot{}}

func fixture(b *testing.B, n int) *engine.Snapshot {
	fixtures.mu.Lock()
	defer fixtures.mu.Unlock()
	if sn, ok := fixtures.m[n]; ok {
		return sn
	}
	ds, err := bench.Generated(n, 1, benchNow)
	if err != nil {
		b.Fatal(err)
	}
	fixtures.m[n] = ds.Snapshot()
	return fixtures.m[n]
}

func benchSizes() []int {
	if os.Getenv("COHORT_BENCH_LARGE") != "" {
		return []int{1_000_000, 10_000_000}
	}
	return []int{1_000_000}
}

// sample returns a pseudo-random one-in-every segment of the dataset's
// rows: spread over every container, the hardest case for intersections.
func sample(sn *engine.Snapshot, every uint64) *roaring.Bitmap {
	seg := roaring.New()
	buf := make([]uint32, 0, 4096)
	for row := range sn.Rows() {
		z := uint64(row)*0x9e3779b97f4a7c15 + 1
		z ^= z >> 29
		z *= 0xbf58476d1ce4e5b9
		z ^= z >> 32
		if z%every == 0 {
			buf = append(buf, row)
			if len(buf) == cap(buf) {
				seg.AddMany(buf)
				buf = buf[:0]
			}
		}
	}
	seg.AddMany(buf)
	seg.RunOptimize()
	return seg
}

func querySegment(b *testing.B, sn *engine.Snapshot, q string) *roaring.Bitmap {
	now := schema.DayOf(benchNow, sn.Schema().Location())
	cq, err := exec.Compile(sn, q, exec.Options{Now: &now})
	if err != nil {
		b.Fatal(err)
	}
	seg, err := cq.Bitmap(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return seg
}

func BenchmarkProfile(b *testing.B) {
	for _, n := range benchSizes() {
		sn := fixture(b, n)
		now := schema.DayOf(benchNow, sn.Schema().Location())
		size := fmt.Sprintf("%dM", n/1_000_000)
		segs := []struct {
			name string
			bm   *roaring.Bitmap
		}{
			{"random10pct", sample(sn, 10)},
			{"female-25-35", querySegment(b, sn, `gender = 'female' AND age BETWEEN 25 AND 35`)},
		}
		for _, seg := range segs {
			for _, f := range []string{"city", "channels", "is_vip", "age", "ltv", "registered_at", "purchase", "all"} {
				opts := analytics.ProfileOptions{Now: now}
				if f != "all" {
					opts.Fields = []string{f}
				}
				b.Run(fmt.Sprintf("profiles=%s/seg=%s/field=%s", size, seg.name, f), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := analytics.Profile(context.Background(), sn, seg.bm, opts); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(seg.bm.GetCardinality()), "segment")
				})
			}
		}
	}
}

func BenchmarkOverlap(b *testing.B) {
	for _, n := range benchSizes() {
		sn := fixture(b, n)
		size := fmt.Sprintf("%dM", n/1_000_000)
		var segs []*roaring.Bitmap
		for _, q := range []string{`city = '上海'`, `gender = 'female'`, `purchase() IN LAST 30 DAYS`, `member_level IN ('L3', 'L4')`} {
			segs = append(segs, querySegment(b, sn, q))
		}
		for _, k := range []int{3, 4} {
			b.Run(fmt.Sprintf("profiles=%s/segments=%d", size, k), func(b *testing.B) {
				for b.Loop() {
					if _, err := analytics.Overlap(context.Background(), segs[:k]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkSplit(b *testing.B) {
	for _, n := range benchSizes() {
		sn := fixture(b, n)
		size := fmt.Sprintf("%dM", n/1_000_000)
		seg := sample(sn, 10)
		groups := []analytics.Group{{"A", 45}, {"B", 45}, {"holdout", 10}}
		for _, c := range []struct {
			name string
			opts analytics.SplitOptions
		}{
			{"nocap", analytics.SplitOptions{Groups: groups, Salt: "exp"}},
			{"cap=random", analytics.SplitOptions{Groups: groups, Salt: "exp", Cap: seg.GetCardinality() / 4}},
			{"cap=ltv", analytics.SplitOptions{Groups: groups, Salt: "exp", Cap: seg.GetCardinality() / 4, CapBy: "ltv"}},
		} {
			b.Run(fmt.Sprintf("profiles=%s/seg=random10pct/%s", size, c.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := analytics.Split(context.Background(), sn, seg, c.opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
