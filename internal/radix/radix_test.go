package radix

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortAgainstSlices checks Sort against the standard library's sort
// for both widths, lengths around the insertion cutoff, values confined
// to a few bits (skipped passes) and spread over all of them, and with
// and without scratch.
func TestSortAgainstSlices(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 400 {
		n := []int{0, 1, 2, minLen - 1, minLen, minLen + 1, 1000, 10_000}[trial%8] + r.IntN(3)
		mask := []uint64{1, 0xff, 0x7ff, 0xfff00, 1<<32 - 1, 0xffff_0000_0000, ^uint64(0)}[trial%7]
		a64 := make([]uint64, n)
		for i := range a64 {
			a64[i] = r.Uint64() & mask
		}
		a32 := make([]uint32, n)
		for i := range a32 {
			a32[i] = uint32(a64[i] ^ a64[i]>>32)
		}
		check(t, a64, trial%2 == 0)
		check(t, a32, trial%2 == 1)
	}
}

func check[T uint32 | uint64](t *testing.T, a []T, scratch bool) {
	t.Helper()
	want := slices.Clone(a)
	slices.Sort(want)
	var tmp []T
	if scratch {
		tmp = make([]T, len(a)+3)
	}
	Sort(a, tmp)
	if !slices.Equal(a, want) {
		t.Fatalf("%d elements (%T): sorted differently from slices.Sort", len(a), a)
	}
}

// TestSortRows sorts row numbers of every magnitude, as AT LEAST n TIMES
// does (engine/index atLeastSparse; this test stood there beside its own
// radix sort, which this package replaced).
func TestSortRows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 255, 256, 1000, 100_000} {
		a := make([]uint32, n)
		for i := range a {
			a[i] = r.Uint32() >> uint(r.IntN(32))
		}
		want := slices.Clone(a)
		slices.Sort(want)
		Sort(a, nil)
		if !slices.Equal(a, want) {
			t.Fatalf("Sort of %d values", n)
		}
	}
}

// BenchmarkSort sorts 10,000 random values, the size of a lookalike's
// result; impl=slices is the standard library's sort of the same input.
func BenchmarkSort(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]uint64, 10_000)
	for i := range src {
		src[i] = r.Uint64()
	}
	a, tmp := make([]uint64, len(src)), make([]uint64, len(src))
	b.Run("n=10K/impl=radix", func(b *testing.B) {
		for b.Loop() {
			copy(a, src)
			Sort(a, tmp)
		}
	})
	b.Run("n=10K/impl=slices", func(b *testing.B) {
		for b.Loop() {
			copy(a, src)
			slices.Sort(a)
		}
	})
}
