package iddict

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// appendBenchID appends the id of profile i, "u%09d", without fmt's cost.
func appendBenchID(dst []byte, i int) []byte {
	dst = append(dst, 'u')
	var digits [20]byte
	s := strconv.AppendInt(digits[:0], int64(i), 10)
	for range 9 - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func benchIDs(n int) []string {
	ids := make([]string, n)
	var buf []byte
	for i := range ids {
		buf = appendBenchID(buf[:0], i)
		ids[i] = string(buf)
	}
	return ids
}

// BenchmarkAssign measures Assign of new ids while a Dict grows from empty
// to 1M profiles (one op = one new id), table doublings included. Run:
//
//	cd /work/main && go test -run='^$' -bench='^BenchmarkAssign$' -count=10 ./engine/iddict/ | tee assign.txt && benchstat assign.txt
func BenchmarkAssign(b *testing.B) {
	const n = 1_000_000
	ids := benchIDs(n)
	b.Run("profiles=1M", func(b *testing.B) {
		d := New(Options{})
		for i := range b.N {
			if i%n == 0 && i > 0 {
				b.StopTimer()
				d = New(Options{})
				b.StartTimer()
			}
			if _, _, err := d.Assign(ids[i%n]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBulkLoad fills an empty Dict with the ids of a checkpoint, in
// chunks of 65,536 as the loader reads them: one Assign per id, AppendNew
// per chunk (inserts sorted by table slot, a chunk at a time), and
// AppendUnindexed per chunk then one Index (what the loader does: sorted
// batches of up to 2^22 rows). One op = one whole load.
// COHORT_BENCH_LARGE=1 adds 10M and 50M. Run:
//
//	go test -run='^$' -bench='^BenchmarkBulkLoad$' -count=6 ./engine/iddict/ | tee bulk.txt && benchstat -col /method bulk.txt
func BenchmarkBulkLoad(b *testing.B) {
	sizes := []int{1_000_000}
	if os.Getenv("COHORT_BENCH_LARGE") != "" {
		sizes = append(sizes, 10_000_000, 50_000_000)
	}
	for _, n := range sizes {
		strs := benchIDs(n)
		ids := make([][]byte, n)
		for i, s := range strs {
			ids[i] = []byte(s)
		}
		size := fmt.Sprintf("%dM", n/1_000_000)
		b.Run("profiles="+size+"/method=assign", func(b *testing.B) {
			for b.Loop() {
				d := New(Options{})
				for _, id := range strs {
					if _, _, err := d.Assign(id); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run("profiles="+size+"/method=append-new", func(b *testing.B) {
			for b.Loop() {
				d := New(Options{})
				for off := 0; off < n; off += 1 << 16 {
					if err := d.AppendNew(ids[off:min(off+1<<16, n)]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run("profiles="+size+"/method=append-then-index", func(b *testing.B) {
			for b.Loop() {
				d := New(Options{})
				for off := 0; off < n; off += 1 << 16 {
					if err := d.AppendUnindexed(ids[off:min(off+1<<16, n)]); err != nil {
						b.Fatal(err)
					}
				}
				if err := d.Index(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLookup measures Lookup hits in a Dict of 1M profiles, in random
// order so neither the table nor the arena is walked sequentially. Run:
//
//	cd /work/main && go test -run='^$' -bench='^BenchmarkLookup$' -count=10 ./engine/iddict/ | tee lookup.txt && benchstat lookup.txt
func BenchmarkLookup(b *testing.B) {
	const n = 1_000_000
	ids := benchIDs(n)
	d := New(Options{})
	for _, id := range ids {
		if _, _, err := d.Assign(id); err != nil {
			b.Fatal(err)
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	b.Run("profiles=1M", func(b *testing.B) {
		for i := range b.N {
			if _, ok := d.Lookup(ids[i%n]); !ok {
				b.Fatalf("Lookup(%q) missed", ids[i%n])
			}
		}
	})
}

// BenchmarkMemory builds a Dict of 1M (and, with COHORT_BENCH_LARGE=1, 10M)
// profiles "u%09d" and reports its memory per profile: overhead-B/profile
// is MemoryBytes minus the ids' own bytes, per profile (target ≤ 24);
// B/profile is MemoryBytes per profile; heap-B/profile is the live-heap
// growth measured by the runtime, a cross-check that MemoryBytes counts
// everything. ns/op is the time to build the whole Dict. Run:
//
//	cd /work/main && COHORT_BENCH_LARGE=1 go test -run='^$' -bench='^BenchmarkMemory$' -benchtime=1x ./engine/iddict/
func BenchmarkMemory(b *testing.B) {
	// Sub-benchmark names are key=value so benchstat can compare them.
	sizes := []struct {
		name  string
		n     int
		large bool // needs COHORT_BENCH_LARGE=1
	}{
		{"profiles=1M", 1_000_000, false},
		{"profiles=10M", 10_000_000, true},
	}
	for _, size := range sizes {
		b.Run(size.name, func(b *testing.B) {
			if size.large && os.Getenv("COHORT_BENCH_LARGE") != "1" {
				b.Skip("set COHORT_BENCH_LARGE=1 to run")
			}
			var mem, heap, idBytes int
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				d := New(Options{})
				var buf []byte
				idBytes = 0
				for i := range size.n {
					buf = appendBenchID(buf[:0], i)
					idBytes += len(buf)
					if _, _, err := d.Assign(string(buf)); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				mem = d.MemoryBytes()
				heap = int(after.HeapAlloc) - int(before.HeapAlloc)
				runtime.KeepAlive(d)
				b.StartTimer()
			}
			n := float64(size.n)
			b.ReportMetric(float64(mem-idBytes)/n, "overhead-B/profile")
			b.ReportMetric(float64(mem)/n, "B/profile")
			b.ReportMetric(float64(heap)/n, "heap-B/profile")
			if testing.Verbose() {
				b.Logf("%s: MemoryBytes %d, id bytes %d, heap growth %d", size.name, mem, idBytes, heap)
			}
		})
	}
}

// Make sure the id helper matches the documented "u%09d" shape.
func TestAppendBenchID(t *testing.T) {
	for _, i := range []int{0, 7, 123456789, 1_000_000_000} {
		if got, want := string(appendBenchID(nil, i)), fmt.Sprintf("u%09d", i); got != want {
			t.Errorf("appendBenchID(%d) = %q, want %q", i, got, want)
		}
	}
}
