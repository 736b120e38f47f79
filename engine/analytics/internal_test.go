package analytics

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNthSmallest checks the selection behind random caps against a sort,
// on inputs with many duplicates and on ordered ones.
func TestNthSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for trial := range 500 {
		n := 1 + r.IntN(300)
		xs := make([]uint64, n)
		for i := range xs {
			switch trial % 3 {
			case 0:
				xs[i] = r.Uint64()
			case 1:
				xs[i] = uint64(r.IntN(5))
			default:
				xs[i] = uint64(i)
			}
		}
		sorted := slices.Sorted(slices.Values(xs))
		k := r.IntN(n)
		if got := nthSmallest(slices.Clone(xs), k); got != sorted[k] {
			t.Fatalf("trial %d: element %d is %d, want %d", trial, k, got, sorted[k])
		}
	}
}
