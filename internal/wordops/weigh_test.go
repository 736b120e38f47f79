package wordops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestWeigh checks AddMasked and AtLeast, every vector kernel the CPU
// has and the plain loops alike, against a row-by-row computation: words of every
// density (zero words included, which the kernel skips), weights of both
// signs and at the int32 extremes (sums wrap as Go's do), thresholds at
// and next to the sums present.
func TestWeigh(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// Every kernel this CPU has, best first, and the plain loops.
	var levels []int
	for l := weighLevel(); l <= levelGo; l++ {
		levels = append(levels, l)
	}
	for _, n := range []int{0, 1, 2, 7, 64, 129} {
		for trial := range 20 {
			sums := make([]int32, 64*n+r.IntN(3))
			for i := range sums {
				sums[i] = int32(r.IntN(200) - 100)
			}
			want := append([]int32(nil), sums...)
			for step := range 5 {
				words := weighWords(r, n)
				w := []int32{1, -7, 123456, math.MaxInt32, math.MinInt32}[(trial+step)%5]
				for row := range 64 * n {
					if words[row/64]&(1<<(row%64)) != 0 {
						want[row] += w
					}
				}
				addMaskedAt(levels[(trial+step)%len(levels)], sums, words, w)
				for i := range sums {
					if sums[i] != want[i] {
						t.Fatalf("n %d trial %d step %d: sums[%d] = %d, want %d", n, trial, step, i, sums[i], want[i])
					}
				}
			}
			ths := []int32{math.MinInt32, math.MaxInt32, 0}
			if len(sums) > 0 {
				ths = append(ths, sums[r.IntN(len(sums))]+int32(r.IntN(3))-1)
			}
			for _, th := range ths {
				for _, level := range levels {
					got := randomWords(r, n)
					atLeastAt(level, got, sums, th)
					for i := range n {
						var x uint64
						for j := range 64 {
							if sums[64*i+j] >= th {
								x |= 1 << j
							}
						}
						if got[i] != x {
							t.Fatalf("n %d trial %d level %d: AtLeast(%d) word %d = %x, want %x", n, trial, level, th, i, got[i], x)
						}
					}
				}
			}
		}
	}
}

// BenchmarkAddMasked adds a weight over one tile of 4096 rows (the
// lookalike's) for features of a few densities.
func BenchmarkAddMasked(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	sums := make([]int32, 4096)
	for _, density := range []int{1, 8, 32} {
		words := make([]uint64, 64)
		for i := range words {
			for range density {
				words[i] |= 1 << r.IntN(64)
			}
		}
		for level := weighLevel(); level <= levelGo; level++ {
			name := []string{"avx512", "avx2", "go"}[level]
			b.Run(fmt.Sprintf("bits_per_word=%d/impl=%s", density, name), func(b *testing.B) {
				b.SetBytes(int64(len(sums) * 4))
				for b.Loop() {
					addMaskedAt(level, sums, words, 3)
				}
			})
		}
	}
}

// weighWords returns n words mixing zero words, single bits, random words
// and sparse ones.
func weighWords(r *rand.Rand, n int) []uint64 {
	w := make([]uint64, n)
	for i := range w {
		switch r.IntN(4) {
		case 1:
			w[i] = 1 << r.IntN(64)
		case 2:
			w[i] = r.Uint64()
		case 3:
			w[i] = r.Uint64() & r.Uint64() & r.Uint64()
		}
	}
	return w
}

// TestAddMaskedMany checks AddMaskedMany, every kernel the CPU has, against
// a row-by-row sum: feature counts from one up, odd and even word counts
// (the AVX-512 kernel takes pairs), arrays read from an offset and longer
// than needed, zero words mixed in.
func TestAddMaskedMany(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var levels []int
	for l := weighLevel(); l <= levelGo; l++ {
		levels = append(levels, l)
	}
	for _, nf := range []int{1, 2, 5, 64, 70} {
		for _, n := range []int{0, 1, 2, 3, 8, 65} {
			for trial := range 6 {
				from := r.IntN(4)
				words := make([][]uint64, nf)
				ws := make([]int32, nf)
				for f := range words {
					words[f] = weighWords(r, from+n+r.IntN(3))
					ws[f] = []int32{1, -7, 123456, math.MaxInt32, math.MinInt32, int32(r.Uint32())}[r.IntN(6)]
				}
				sums := make([]int32, 64*n)
				for i := range sums {
					sums[i] = int32(r.IntN(200) - 100)
				}
				want := append([]int32(nil), sums...)
				for f, w := range words {
					for row := range 64 * n {
						if w[from+row/64]&(1<<(row%64)) != 0 {
							want[row] += ws[f]
						}
					}
				}
				level := levels[trial%len(levels)]
				addMaskedManyAt(level, sums, words, ws, from)
				for i := range sums {
					if sums[i] != want[i] {
						t.Fatalf("features %d words %d level %d: sums[%d] = %d, want %d", nf, n, level, i, sums[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkAddMaskedMany adds 64 features' weights over one tile of 4096
// rows, as the lookalike scores, at once (impl=many) and a feature at a
// time (impl=each).
func BenchmarkAddMaskedMany(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	sums := make([]int32, 4096)
	// density -1: a word in three has one bit, the rest are zero (sparse
	// features, whose zero pairs the kernel skips unpredictably).
	for _, density := range []int{-1, 1, 8, 32} {
		words := make([][]uint64, 64)
		ws := make([]int32, len(words))
		for f := range words {
			words[f] = make([]uint64, 64)
			for i := range words[f] {
				if density < 0 && r.IntN(3) == 0 {
					words[f][i] = 1 << r.IntN(64)
				}
				for range density {
					words[f][i] |= 1 << r.IntN(64)
				}
			}
			ws[f] = int32(r.IntN(1000))
		}
		b.Run(fmt.Sprintf("bits_per_word=%d/impl=many", density), func(b *testing.B) {
			for b.Loop() {
				AddMaskedMany(sums, words, ws, 0)
			}
		})
		b.Run(fmt.Sprintf("bits_per_word=%d/impl=each", density), func(b *testing.B) {
			for b.Loop() {
				for f, w := range words {
					AddMasked(sums, w, ws[f])
				}
			}
		})
	}
}
