// Package radix sorts unsigned integers by their bytes (least significant
// digit first) in a fixed number of linear passes.
//
// It sorts the lookalike's results (ten thousand rows and scores on every
// call, where the comparison sort of the standard library spent about
// 44 ns an element on mispredicted compares: 0.44 ms a sort of 10,000 on
// the AMD EPYC of BENCHMARKS.md, this one 10 ns) and the member lists of
// AT LEAST n TIMES (tens of millions of rows at 100M profiles), whatever
// order the input comes in.
package radix

import "unsafe"

// digitBits is the width of a digit: 4,096 counters (32 KiB) stay in the
// first-level cache; rows below 2^24 (10M profiles) take two passes, a
// uint64 six. (11 bits sorted 10,000 uint64 4 % faster, but rows of 10M
// profiles in three passes.)
const digitBits = 12

// minLen is the length below which insertion into place wins: the
// counters' setup and the passes cost more than the compares they save.
const minLen = 256

// Sort sorts a in increasing order. tmp is scratch of at least len(a)
// elements (nil: allocated); the result is in a either way.
func Sort[T ~uint32 | ~uint64](a, tmp []T) {
	if len(a) < minLen {
		insertion(a)
		return
	}
	if len(tmp) < len(a) {
		tmp = make([]T, len(a))
	}
	tmp = tmp[:len(a)]
	var zero T
	width := uint(unsafe.Sizeof(zero)) * 8
	// The bits that differ somewhere in a: digits wholly outside them
	// are the same for every element, and their pass is skipped.
	var or, and T = 0, ^zero
	for _, v := range a {
		or |= v
		and &= v
	}
	differ := or ^ and
	src, dst := a, tmp
	var count [1 << digitBits]int
	for shift := uint(0); shift < width; shift += digitBits {
		if (differ>>shift)&(1<<digitBits-1) == 0 {
			continue
		}
		clear(count[:])
		for _, v := range src {
			count[(v>>shift)&(1<<digitBits-1)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, v := range src {
			d := (v >> shift) & (1<<digitBits - 1)
			dst[count[d]] = v
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}

func insertion[T ~uint32 | ~uint64](a []T) {
	for i := 1; i < len(a); i++ {
		v := a[i]
		j := i
		for ; j > 0 && a[j-1] > v; j-- {
			a[j] = a[j-1]
		}
		a[j] = v
	}
}
