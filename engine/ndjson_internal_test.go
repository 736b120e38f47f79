package engine

import "testing"

// TestDefaultPublishEvery: a bulk load publishes every 2^20 records
// until the dataset holds 8 × 2^20 rows, then every eighth of its rows,
// so the container indexes it copies add up to a few times the final
// ones rather than growing with the square of the load.
func TestDefaultPublishEvery(t *testing.T) {
	for _, tc := range []struct {
		rows uint32
		want int
	}{{0, 1 << 20}, {8 << 20, 1 << 20}, {8<<20 + 8, 1<<20 + 1}, {100_000_000, 12_500_000}, {1<<32 - 1, 1<<29 - 1}} {
		if got := defaultPublishEvery(tc.rows); got != tc.want {
			t.Errorf("%d rows: publish every %d records, want %d", tc.rows, got, tc.want)
		}
	}
	publications, rows := 0, uint32(0)
	for rows < 100_000_000 {
		rows += uint32(defaultPublishEvery(rows))
		publications++
	}
	if publications > 32 {
		t.Errorf("a load of 100M records publishes %d times", publications)
	}
}
