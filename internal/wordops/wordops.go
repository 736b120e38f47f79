package wordops

import "math/bits"

// And sets dst[i] &= src[i] for every i of dst.
func And(dst, src []uint64) {
	src = src[:len(dst)]
	n := vectorAnd(dst, src)
	andGo(dst[n:], src[n:])
}

// AndNot sets dst[i] &^= src[i] for every i of dst.
func AndNot(dst, src []uint64) {
	src = src[:len(dst)]
	n := vectorAndNot(dst, src)
	andNotGo(dst[n:], src[n:])
}

// Or sets dst[i] |= src[i] for every i of dst.
func Or(dst, src []uint64) {
	src = src[:len(dst)]
	n := vectorOr(dst, src)
	orGo(dst[n:], src[n:])
}

// Count returns the number of bits set in words.
func Count(words []uint64) int {
	n := 0
	for _, w := range words {
		n += bits.OnesCount64(w)
	}
	return n
}

// AndCount returns the number of bits set in a[i] & b[i] over every i
// of a, without writing anything.
func AndCount(a, b []uint64) int {
	b = b[:len(a)]
	n := 0
	for i, w := range a {
		n += bits.OnesCount64(w & b[i])
	}
	return n
}

func andGo(dst, src []uint64) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] &= src[i]
	}
}

func andNotGo(dst, src []uint64) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] &^= src[i]
	}
}

func orGo(dst, src []uint64) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] |= src[i]
	}
}
