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

const groupWords = 16

// vectorAnd runs andAVX2 over the whole groups of dst and returns the
// words done (0 without AVX2).
func vectorAnd(dst, src []uint64) int {
	g := len(dst) / groupWords
	if g == 0 || !cpu.X86.HasAVX2 {
		return 0
	}
	andAVX2(&dst[0], &src[0], g)
	return g * groupWords
}

func vectorAndNot(dst, src []uint64) int {
	g := len(dst) / groupWords
	if g == 0 || !cpu.X86.HasAVX2 {
		return 0
	}
	andNotAVX2(&dst[0], &src[0], g)
	return g * groupWords
}

func vectorOr(dst, src []uint64) int {
	g := len(dst) / groupWords
	if g == 0 || !cpu.X86.HasAVX2 {
		return 0
	}
	orAVX2(&dst[0], &src[0], g)
	return g * groupWords
}
