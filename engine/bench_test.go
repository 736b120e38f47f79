package engine_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// benchNow fixes "today" for benchmarks so windows select the same data.
var benchNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func benchSchema(tb testing.TB) *schema.Schema {
	s, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func genOptions(profiles int) gen.Options {
	return gen.Options{Profiles: profiles, Seed: 1, Now: benchNow}
}

// fixtures caches loaded datasets across benchmarks of one run: loading
// 1M profiles takes seconds and would dominate otherwise.
type fixtures struct {
	mu sync.Mutex
	m  map[int]*engine.Dataset
}

var loaded = fixtures{m: map[int]*engine.Dataset{}}

func fixture(b *testing.B, profiles int) *engine.Dataset {
	b.Helper()
	loaded.mu.Lock()
	defer loaded.mu.Unlock()
	if ds, ok := loaded.m[profiles]; ok {
		return ds
	}
	ds := newBenchDataset(b)
	res, err := bench.Load(ds, genOptions(profiles), engine.LoadOptions{})
	if err != nil || len(res.Errors) > 0 {
		b.Fatalf("load: %v %v", err, res.Errors)
	}
	loaded.m[profiles] = ds
	return ds
}

func newBenchDataset(tb testing.TB) *engine.Dataset {
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return benchNow }}).Create("bench", benchSchema(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return ds
}

func sizes() []int {
	if os.Getenv("COHORT_BENCH_LARGE") != "" {
		return []int{1_000_000, 10_000_000}
	}
	return []int{1_000_000}
}

func sizeName(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dK", n/1000)
}

// BenchmarkApply measures ingest: NDJSON decoded in parallel and applied
// by the single writer, from generated records held in memory.
//
//	go test -run=^$ -bench=BenchmarkApply -benchtime=3x ./engine/
func BenchmarkApply(b *testing.B) {
	const n = 200_000
	var buf bytes.Buffer
	g := gen.New(genOptions(n))
	for line, ok := g.Next(nil); ok; line, ok = g.Next(line[:0]) {
		buf.Write(line)
	}
	b.Run("stage=decode+apply/profiles=200K", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			ds := newBenchDataset(b)
			res, err := ds.ApplyNDJSON(bytes.NewReader(buf.Bytes()), engine.LoadOptions{})
			if err != nil || res.Applied != n {
				b.Fatalf("applied %d: %v", res.Applied, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	// The same records carrying identifiers (a phone for 88 %, an openid
	// for those on WeChat): the cost of OneID on ingest.
	var withIDs bytes.Buffer
	opts := genOptions(n)
	opts.Identifiers = true
	gi := gen.New(opts)
	for line, ok := gi.Next(nil); ok; line, ok = gi.Next(line[:0]) {
		withIDs.Write(line)
	}
	b.Run("stage=decode+apply/profiles=200K/ids=phone+openid", func(b *testing.B) {
		b.SetBytes(int64(withIDs.Len()))
		for b.Loop() {
			ds := newBenchDataset(b)
			res, err := ds.ApplyNDJSON(bytes.NewReader(withIDs.Bytes()), engine.LoadOptions{})
			if err != nil || res.Applied != n || res.Merged != 0 {
				b.Fatalf("applied %d, merged %d: %v", res.Applied, res.Merged, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	// Batches of 65,536 like the bulk path (ApplyNDJSON), which publishes
	// a snapshot that often.
	b.Run("stage=apply/profiles=200K", func(b *testing.B) {
		s := benchSchema(b)
		var ups []record.Update
		for line := range bytes.Lines(buf.Bytes()) {
			u, err := record.Decode(line, s)
			if err != nil {
				b.Fatal(err)
			}
			ups = append(ups, u)
		}
		b.ResetTimer()
		for b.Loop() {
			ds := newBenchDataset(b)
			for i := 0; i < len(ups); i += 1 << 16 {
				ds.Apply(ups[i:min(i+1<<16, len(ups))])
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkMemory loads generated profiles and reports the heap they hold.
// 10M profiles opt in with COHORT_BENCH_LARGE=1.
//
//	COHORT_BENCH_LARGE=1 go test -run=^$ -bench=BenchmarkMemory -benchtime=1x -timeout=30m ./engine/
func BenchmarkMemory(b *testing.B) {
	for _, n := range sizes() {
		b.Run("profiles="+sizeName(n), func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				ds := newBenchDataset(b)
				if _, err := bench.Load(ds, genOptions(n), engine.LoadOptions{}); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heap-B/profile")
				runtime.KeepAlive(ds)
			}
		})
	}
}

// BenchmarkIndexOps measures each index operation on a loaded snapshot.
//
//	go test -run=^$ -bench=BenchmarkIndexOps ./engine/
func BenchmarkIndexOps(b *testing.B) {
	for _, n := range sizes() {
		sn := fixture(b, n).Snapshot()
		today := sn.Today()
		f := func(name string) *engine.FieldView {
			fv, err := sn.Field(name)
			if err != nil {
				b.Fatal(err)
			}
			return fv
		}
		cases := []struct {
			name string
			run  func() uint64
		}{
			{"tag-eq", func() uint64 { return f("city").Values.Bitmap("上海").GetCardinality() }},
			{"tag-exists", func() uint64 { return f("gender").Exists().GetCardinality() }},
			{"set-has", func() uint64 { return f("channels").Values.Bitmap("wechat").GetCardinality() }},
			{"int-ge", func() uint64 { return f("churn_score").BSI.Compare(index.GE, 800).GetCardinality() }},
			{"int-between", func() uint64 { return f("age").BSI.Between(25, 35).GetCardinality() }},
			{"decimal-gt", func() uint64 { return f("ltv").BSI.Compare(index.GT, 500000).GetCardinality() }},
			{"date-last-30", func() uint64 { return f("registered_at").BSI.Between(int64(today-29), int64(today)).GetCardinality() }},
			{"event-ever", func() uint64 { return f("purchase").Events.Ever([]string{"milk_powder"}).GetCardinality() }},
			{"event-last-7", func() uint64 { return f("purchase").Events.Window(nil, today-6, today).GetCardinality() }},
			{"event-last-90", func() uint64 {
				return f("purchase").Events.Window([]string{"milk_powder"}, today-89, today).GetCardinality()
			}},
			{"event-atleast-3-in-30", func() uint64 {
				return f("purchase").Events.AtLeast([]string{"coffee"}, 3, today-29, today).GetCardinality()
			}},
			{"event-atmost-1-in-90", func() uint64 { return f("view").Events.AtMost(sn.All(), nil, 1, today-89, today).GetCardinality() }},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("profiles=%s/op=%s", sizeName(n), c.name), func(b *testing.B) {
				b.ReportAllocs()
				var count uint64
				for b.Loop() {
					count = c.run()
				}
				b.ReportMetric(float64(count), "profiles")
			})
		}
	}
}

// BenchmarkMerge measures merges of two generated profiles (every field
// type, events over 400 days) through Apply, in batches of 500 merges as
// an ingest request would bring them (a snapshot is published per
// batch): one record attaches a phone to profile 2i, the next names
// profile 2i+1 and that phone. The first record's cost is included, so
// the figure is a little above the merge's.
func BenchmarkMerge(b *testing.B) {
	const (
		profiles = 200_000
		batch    = 500
	)
	var ds *engine.Dataset
	i := profiles
	for done := 0; done < b.N; {
		if i+2*batch > profiles {
			b.StopTimer()
			ds = newBenchDataset(b)
			if res, err := bench.Load(ds, genOptions(profiles), engine.LoadOptions{}); err != nil || len(res.Errors) > 0 {
				b.Fatalf("load: %v %v", err, res.Errors)
			}
			i = 0
			b.StartTimer()
		}
		n := min(batch, b.N-done)
		var ups []record.Update
		sn := ds.Snapshot()
		for k := range n {
			for _, row := range []int{i + 2*k, i + 2*k + 1} {
				u, err := ds.Decode(fmt.Appendf(nil, `{"id":"%s","ids":{"phone":"m%d"}}`, sn.ExternalID(uint32(row)), i+2*k))
				if err != nil {
					b.Fatal(err)
				}
				ups = append(ups, u)
			}
		}
		if res := ds.Apply(ups); res.Merged != n {
			b.Fatalf("merged %d of %d", res.Merged, n)
		}
		i += 2 * n
		done += n
	}
}
