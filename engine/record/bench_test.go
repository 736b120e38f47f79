package record

import (
	"testing"

	"github.com/cohortdb/cohort/engine/schema"
)

// BenchmarkDecode decodes the 5,000 generated base records of seed 3 (what
// a bulk load reads: ~800 bytes and six events a record on average) with
// Decode (impl=fast: the fast path, falling back when it must) and with the
// encoding/json reference alone (impl=reference). Bulk load needs 200K
// records/s on two cores, with decoding one of several stages.
//
//	go test -run='^$' -bench=BenchmarkDecode -benchmem -count=5 ./engine/record/
func BenchmarkDecode(b *testing.B) {
	s := genSchema(b)
	lines := baseRecords(5000)
	size := 0
	for _, line := range lines {
		size += len(line)
		if _, ok := decodeFast(line, s, nil); !ok {
			b.Fatalf("fast path falls back on %s", line)
		}
	}
	for _, impl := range []struct {
		name   string
		decode func([]byte, *schema.Schema) (Update, error)
	}{
		{"fast", Decode},
		{"reference", decodeReference},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.SetBytes(int64(size / len(lines)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := impl.decode(lines[i], s); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(lines) {
					i = 0
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
