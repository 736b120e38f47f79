package wordops

import (
	"math/rand/v2"
	"testing"
)

// TestBetween checks Between against each row's value read bit by bit,
// with every kernel the CPU has (AVX-512, AVX2, the plain loop), over
// lengths around the 16-word groups (a kernel's and the plain loop's
// share), depths up to MaxSlices, empty (nil) slices, slices longer than
// dst, and every combination of bounds.
func TestBetween(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	lengths := []int{0, 1, 15, 16, 17, 31, 32, 47, 1024, 1029}
	for _, depth := range []int{1, 2, 3, 7, 10, 23, MaxSlices} {
		for _, n := range lengths {
			for trial := range 6 {
				slices := make([][]uint64, depth)
				for i := range slices {
					if r.IntN(5) > 0 {
						slices[i] = sparseWords(r, n+r.IntN(3), i)
					}
				}
				dst := randomWords(r, n)
				mask := ^uint64(0)
				if depth < 64 {
					mask = 1<<uint(depth) - 1
				}
				// Bounds near the values present as well as random ones.
				a, b := r.Uint64()&mask, r.Uint64()&mask
				if trial%2 == 1 && n > 0 {
					a = valueAt(slices, r.IntN(n*64))
					b = valueAt(slices, r.IntN(n*64))
				}
				for _, has := range [][2]bool{{true, true}, {true, false}, {false, true}, {false, false}} {
					want := append([]uint64(nil), dst...)
					wantN := 0
					for row := range n * 64 {
						w, bit := row/64, uint64(1)<<(row%64)
						if want[w]&bit == 0 {
							continue
						}
						v := valueAt(slices, row)
						if (has[0] && v <= a) || (has[1] && v > b) {
							want[w] &^= bit
							continue
						}
						wantN++
					}
					for level := betweenLevel(); level <= levelGo; level++ {
						got := append([]uint64(nil), dst...)
						gotN := betweenAt(level, got, slices, a, b, has[0], has[1])
						if gotN != wantN {
							t.Fatalf("level %d depth %d n %d a %d b %d has %v: count %d, want %d", level, depth, n, a, b, has, gotN, wantN)
						}
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("level %d depth %d n %d a %d b %d has %v: word %d = %x, want %x", level, depth, n, a, b, has, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// sparseWords returns n random words, thinned for some slices so that
// values repeat and bounds fall on them.
func sparseWords(r *rand.Rand, n, i int) []uint64 {
	w := randomWords(r, n)
	if i%3 == 2 {
		for j := range w {
			w[j] &= r.Uint64()
		}
	}
	return w
}

// valueAt reads row's value bit by bit from the slices.
func valueAt(slices [][]uint64, row int) uint64 {
	var v uint64
	for i, s := range slices {
		if s != nil && s[row/64]>>(row%64)&1 == 1 {
			v |= 1 << uint(i)
		}
	}
	return v
}

// BenchmarkBetween runs Between over one block that stays in the cache:
// the kernel's own speed.
func BenchmarkBetween(b *testing.B) { benchmarkBetween(b, BlockWords) }

// BenchmarkBetweenCold runs Between block by block over slices far larger
// than the caches, as a first range count does: what it measures is how
// fast the slices stream in.
func BenchmarkBetweenCold(b *testing.B) { benchmarkBetween(b, 4<<20) } // 32 MiB a slice

// benchmarkBetween runs a 7-slice BETWEEN over slices of words words, a
// block at a time; bytes/s counts the slices read.
func benchmarkBetween(b *testing.B, words int) {
	r := rand.New(rand.NewPCG(1, 2))
	slices := make([][]uint64, 7)
	for i := range slices {
		slices[i] = randomWords(r, words)
	}
	base := randomWords(r, BlockWords)
	dst := make([]uint64, BlockWords)
	sl := make([][]uint64, len(slices))
	b.SetBytes(8 * int64(words) * int64(len(slices)))
	for b.Loop() {
		for start := 0; start < words; start += BlockWords {
			for i, s := range slices {
				sl[i] = s[start : start+BlockWords]
			}
			copy(dst, base)
			Between(dst, sl, 24, 35, true, true)
		}
	}
}
