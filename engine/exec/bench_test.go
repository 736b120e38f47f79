package exec_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/bench/runner"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
)

// BenchQueries is the fixed query mix of the count benchmarks, by shape.
var benchQueries = []struct{ name, q string }{
	{"tag-eq", `city = '上海'`},
	{"tag-2", `gender = 'female' AND city IN ('上海', '杭州')`},
	{"tag-range-3", `gender = 'female' AND member_level IN ('L3', 'L4') AND age BETWEEN 25 AND 35`},
	{"tag-range-5", `gender = 'female' AND city IN ('上海', '北京', '杭州') AND member_level != 'L0' AND age BETWEEN 25 AND 35 AND churn_score < 500`},
	{"int-between", `age BETWEEN 25 AND 35`},
	{"decimal-gt", `ltv > 1000`},
	{"date-last-365", `registered_at IN LAST 365 DAYS`},
	{"set-any", `channels HAS ANY ('wechat', 'app')`},
	{"set-all", `channels HAS ALL ('wechat', 'app')`},
	{"not-set", `NOT channels HAS 'wechat'`},
	{"event-any-7", `purchase() IN LAST 7 DAYS`},
	{"event-30", `view('skincare') IN LAST 30 DAYS`},
	{"event-90", `purchase('milk_powder') IN LAST 90 DAYS`},
	{"event-atleast-3-in-30", `purchase('coffee') AT LEAST 3 TIMES IN LAST 30 DAYS`},
	{"design-example", `gender = 'female' AND age BETWEEN 25 AND 35 AND city IN ('上海', '杭州') AND purchase('milk_powder') IN LAST 90 DAYS AND lifecycle != 'churned'`},
	{"cart-not-bought-7", `add_to_cart() IN LAST 7 DAYS AND NOT purchase() IN LAST 7 DAYS`},
}

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

// BenchmarkCount measures count latency per query shape, and beside each
// the physical floor: AND (AND-NOT for subtracted terms) + popcount over
// the dense, uncompressed form of each leaf condition's bitmap, the least
// work any engine that reads those sets must do. Leaves are taken as
// already computed (a range's slices or a window's days already
// combined), so the floor is stricter than "read every bitmap touched".
// An OR in the plan is treated as an AND of its terms, so the floor's
// count differs for such queries; its time is still the floor.
//
//	go test -run=^$ -bench=BenchmarkCount -cpu=1 ./engine/exec/
//	COHORT_BENCH_LARGE=1 go test -run=^$ -bench=BenchmarkCount -cpu=1 -timeout=60m ./engine/exec/
func BenchmarkCount(b *testing.B) {
	for _, n := range benchSizes() {
		sn := fixture(b, n)
		size := fmt.Sprintf("%dM", n/1_000_000)
		for _, bq := range benchQueries {
			q, err := exec.Compile(sn, bq.q, exec.Options{})
			if err != nil {
				b.Fatalf("%s: %v", bq.name, err)
			}
			var count uint64
			b.Run(fmt.Sprintf("profiles=%s/query=%s/impl=cohort", size, bq.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					count, err = q.Count(context.Background())
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(count), "profiles")
			})
			// A first count: what a snapshot that has never seen the
			// query's ranges and windows pays (see Options.Fresh).
			fresh, err := exec.Compile(sn, bq.q, exec.Options{Fresh: true})
			if err != nil {
				b.Fatalf("%s: %v", bq.name, err)
			}
			b.Run(fmt.Sprintf("profiles=%s/query=%s/impl=first", size, bq.name), func(b *testing.B) {
				for b.Loop() {
					if count, err = fresh.Count(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(count), "profiles")
			})
			dense, minus, err := runner.DenseLeaves(context.Background(), q)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("profiles=%s/query=%s/impl=floor", size, bq.name), func(b *testing.B) {
				acc := make([]uint64, len(dense[0]))
				var c int
				for b.Loop() {
					c = runner.AndPopcount(acc, dense, minus)
				}
				b.ReportMetric(float64(c), "profiles")
			})
		}
	}
}
