package wordops

import "math/bits"

// Weighing: a score per row kept as an int32, rows as bits of words (row
// r is bit r%64 of word r/64, and sums[r] its score). A lookalike adds
// each selected feature's weight to the rows that have it, then keeps the
// rows whose score reaches a threshold; with AVX-512 a word's 64 rows are
// four masked vector adds (with AVX2, eight adds of lanes selected by
// compares), where a loop over its set bits costs a branch and a
// scattered add per member.

// AddMasked adds w to sums[r] for every bit r set in words; sums holds
// 64 entries per word (len(sums) >= 64·len(words)). Sums wrap on
// overflow: the caller keeps its weights small enough.
func AddMasked(sums []int32, words []uint64, w int32) {
	addMaskedAt(weighLevel(), sums, words, w)
}

// AddMaskedMany is AddMasked for every feature f at once: it adds ws[f]
// to sums[r] for every bit r set in words[f][from:], over the
// len(sums)/64 words from there (each words[f] must hold them). With
// AVX-512 the sums of 128 rows stay in registers while every feature is
// added in, where a call of AddMasked per feature loads and stores them
// once per feature.
func AddMaskedMany(sums []int32, words [][]uint64, ws []int32, from int) {
	addMaskedManyAt(weighLevel(), sums, words, ws, from)
}

// AtLeast sets dst[i] to the rows r of word i with sums[r] >= t
// (len(sums) >= 64·len(dst)).
func AtLeast(dst []uint64, sums []int32, t int32) {
	atLeastAt(weighLevel(), dst, sums, t)
}

// addMaskedAt is AddMasked with level's kernel (the Between levels; tests
// run each one the CPU has).
func addMaskedAt(level int, sums []int32, words []uint64, w int32) {
	sums = sums[:64*len(words)]
	done := vectorAddMasked(level, sums, words, w)
	addMaskedGo(sums[64*done:], words[done:], w)
}

func addMaskedManyAt(level int, sums []int32, words [][]uint64, ws []int32, from int) {
	n := len(sums) / 64
	if len(ws) != len(words) {
		panic("wordops: AddMaskedMany takes a weight per feature")
	}
	for _, w := range words {
		// The kernel reads words past no array's end.
		_ = w[from : from+n]
	}
	sums = sums[:64*n]
	done := vectorAddMaskedMany(level, sums, words, ws, from, n)
	for f, w := range words {
		addMaskedAt(level, sums[64*done:], w[from+done:from+n], ws[f])
	}
}

func atLeastAt(level int, dst []uint64, sums []int32, t int32) {
	sums = sums[:64*len(dst)]
	done := vectorAtLeast(level, dst, sums, t)
	atLeastGo(dst[done:], sums[64*done:], t)
}

func addMaskedGo(sums []int32, words []uint64, w int32) {
	for i, x := range words {
		s := sums[64*i : 64*i+64]
		for x != 0 {
			s[bits.TrailingZeros64(x)] += w
			x &= x - 1
		}
	}
}

func atLeastGo(dst []uint64, sums []int32, t int32) {
	for i := range dst {
		var x uint64
		for j, s := range sums[64*i : 64*i+64] {
			if s >= t {
				x |= 1 << j
			}
		}
		dst[i] = x
	}
}
