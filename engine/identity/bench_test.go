package identity

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// benchProfiles is the size of BenchmarkIdentifiers; COHORT_BENCH_PROFILES
// overrides it (10000000 for the figure in BENCHMARKS.md).
func benchProfiles(b *testing.B) int {
	if s := os.Getenv("COHORT_BENCH_PROFILES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1_000_000
}

// BenchmarkIdentifiers attaches three identifiers (a phone, an email and
// a WeChat openid, of realistic lengths) to every profile and reports the
// memory per identifier: as the graph counts it and as the heap grew.
func BenchmarkIdentifiers(b *testing.B) {
	n := benchProfiles(b)
	b.Run(fmt.Sprintf("profiles=%d", n), func(b *testing.B) {
		for range b.N {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			g := New()
			var phone, email, openid []byte
			for row := range uint32(n) {
				phone = fmt.Appendf(phone[:0], "+86138%08d", row)
				email = fmt.Appendf(email[:0], "user%d@example.com", row)
				openid = fmt.Appendf(openid[:0], "oX9a%024d", row)
				g.Tick() // one record names the three
				for _, id := range []struct {
					typ string
					v   []byte
				}{{"phone", phone}, {"email", email}, {"openid", openid}} {
					if err := g.Attach(id.typ, string(id.v), row); err != nil {
						b.Fatal(err)
					}
				}
			}
			g.View()
			runtime.GC()
			runtime.ReadMemStats(&after)
			ids := float64(3 * n)
			b.ReportMetric(float64(g.MemoryBytes())/ids, "bytes/identifier")
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/ids, "heap-bytes/identifier")
			b.ReportMetric(float64(14+22+28)/3, "value-bytes/identifier")
			runtime.KeepAlive(g)
		}
	})
}
