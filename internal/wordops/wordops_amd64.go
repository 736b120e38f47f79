package wordops

import "golang.org/x/sys/cpu"

// The assembly kernels take whole groups of 16 words; callers finish the
// tail with the plain loops. x/sys/cpu also checks that the operating
// system saves the YMM registers.

//go:noescape
func andAVX2(dst, src *uint64, groups int)

//go:noescape
func andNotAVX2(dst, src *uint64, groups int)

//go:noescape
func orAVX2(dst, src *uint64, groups int)

//go:noescape
func andCountAVX512(a, b *uint64, groups int) int

//go:noescape
func countAVX512(a *uint64, groups int) int

const groupWords = 16

// hasPopcount512 reports AVX-512 with its word population count
// (VPOPCNTQ), which counts eight words an instruction.
func hasPopcount512() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPOPCNTDQ }

// vectorAndCount counts a AND b over the whole groups of a and returns
// the count and the words done (0 without VPOPCNTQ).
func vectorAndCount(a, b []uint64) (n, done int) {
	g := len(a) / groupWords
	if g == 0 || !hasPopcount512() {
		return 0, 0
	}
	return andCountAVX512(&a[0], &b[0], g), g * groupWords
}

// vectorCount is vectorAndCount for a alone.
func vectorCount(a []uint64) (n, done int) {
	g := len(a) / groupWords
	if g == 0 || !hasPopcount512() {
		return 0, 0
	}
	return countAVX512(&a[0], g), g * groupWords
}

// vectorAnd runs andAVX2 over the whole groups of dst and returns the
// words done (0 without AVX2).
func vectorAnd(dst, src []uint64) int { return inPlace(opAnd, dst, src) }

func vectorAndNot(dst, src []uint64) int { return inPlace(opAndNot, dst, src) }

func vectorOr(dst, src []uint64) int { return inPlace(opOr, dst, src) }

const (
	opAnd = iota
	opAndNot
	opOr
)

// inPlace runs op's kernel over dst's whole groups. (A switch rather than
// a function value: the compiler cannot see through a call by value, and
// would move every caller's arrays to the heap.)
func inPlace(op int, dst, src []uint64) int {
	g := len(dst) / groupWords
	if g == 0 || !cpu.X86.HasAVX2 {
		return 0
	}
	switch op {
	case opAnd:
		andAVX2(&dst[0], &src[0], g)
	case opAndNot:
		andNotAVX2(&dst[0], &src[0], g)
	default:
		orAVX2(&dst[0], &src[0], g)
	}
	return g * groupWords
}

//go:noescape
func betweenAVX512(dst *uint64, groups int, pa **uint64, ma *uint64, na int, pb **uint64, mb *uint64, nb int, fa, fb uint64) int

//go:noescape
func betweenAVX2(dst *uint64, groups int, pa **uint64, ma *uint64, na int, pb **uint64, mb *uint64, nb int, fa, fb uint64)

// BetweenVector reports whether Between runs as a vector kernel (AVX-512,
// or AVX2); without one a caller may prefer passes of And and Or to
// Between's plain loop.
func BetweenVector() bool { return betweenLevel() != levelGo }

func betweenLevel() int {
	switch {
	case hasPopcount512():
		return levelAVX512
	case cpu.X86.HasAVX2:
		return levelAVX2
	}
	return levelGo
}

// betweenOn runs level's Between kernel over dst's whole groups of 16
// words and returns the count and the words done (0 for levelGo).
func betweenOn(level int, dst []uint64, pa, pb []gtStep, fa, fb uint64) (n, done int) {
	g := len(dst) / groupWords
	if g == 0 || level == levelGo {
		return 0, 0
	}
	// The kernels take each walk as an array of slice pointers and one
	// of masks (all ones for an AND step, zero for an OR).
	var ptrA, ptrB [MaxSlices]*uint64
	var maskA, maskB [MaxSlices]uint64
	for i, st := range pa {
		ptrA[i] = &st.s[0]
		if st.and {
			maskA[i] = ^uint64(0)
		}
	}
	for i, st := range pb {
		ptrB[i] = &st.s[0]
		if st.and {
			maskB[i] = ^uint64(0)
		}
	}
	done = g * groupWords
	if level == levelAVX512 {
		n = betweenAVX512(&dst[0], g, &ptrA[0], &maskA[0], len(pa), &ptrB[0], &maskB[0], len(pb), fa, fb)
		return n, done
	}
	// AVX2 has no vector population count: the kept words are counted
	// after, while they are still in the cache.
	betweenAVX2(&dst[0], g, &ptrA[0], &maskA[0], len(pa), &ptrB[0], &maskB[0], len(pb), fa, fb)
	return countGo(dst[:done]), done
}

//go:noescape
func addMaskedManyAVX512(sums *int32, words *[]uint64, ws *int32, nf int, from int, pairs int)

//go:noescape
func atLeastAVX512(dst *uint64, sums *int32, n int, t int32)

//go:noescape
func addMaskedAVX2(sums *int32, words *uint64, n int, w int32)

//go:noescape
func atLeastAVX2(dst *uint64, sums *int32, n int, t int32)

// weighLevel is the best AddMasked/AtLeast kernel this CPU has:
// AVX-512F's mask registers select the lanes of an add and hold a
// compare's result; AVX2 spreads a byte of the word over eight lanes by
// broadcast, AND and compare, and gathers a compare with VMOVMSKPS.
func weighLevel() int {
	switch {
	case cpu.X86.HasAVX512F:
		return levelAVX512
	case cpu.X86.HasAVX2:
		return levelAVX2
	}
	return levelGo
}

// vectorAddMasked runs level's AddMasked kernel over every word (with
// AVX-512, every whole pair of words) and returns the words done (0 for
// levelGo).
func vectorAddMasked(level int, sums []int32, words []uint64, w int32) int {
	if len(words) == 0 {
		return 0
	}
	switch level {
	case levelAVX512:
		// The many-feature kernel with one feature, over whole pairs.
		return vectorAddMaskedMany(level, sums, [][]uint64{words}, []int32{w}, 0, len(words))
	case levelAVX2:
		addMaskedAVX2(&sums[0], &words[0], len(words), w)
	default:
		return 0
	}
	return len(words)
}

// vectorAddMaskedMany runs level's AddMaskedMany kernel over the whole
// pairs of words and returns the words done (0 below AVX-512: the AVX2
// kernel has too few registers to hold a pair's sums, and goes feature
// by feature).
func vectorAddMaskedMany(level int, sums []int32, words [][]uint64, ws []int32, from, n int) int {
	pairs := n / 2
	if level != levelAVX512 || pairs == 0 || len(words) == 0 {
		return 0
	}
	addMaskedManyAVX512(&sums[0], &words[0], &ws[0], len(words), from, pairs)
	return 2 * pairs
}

// vectorAtLeast is vectorAddMasked for AtLeast.
func vectorAtLeast(level int, dst []uint64, sums []int32, t int32) int {
	if len(dst) == 0 {
		return 0
	}
	switch level {
	case levelAVX512:
		atLeastAVX512(&dst[0], &sums[0], len(dst), t)
	case levelAVX2:
		atLeastAVX2(&dst[0], &sums[0], len(dst), t)
	default:
		return 0
	}
	return len(dst)
}
