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
	n, done := vectorCount(words)
	return n + countGo(words[done:])
}

// AndCount returns the number of bits set in a[i] & b[i] over every i
// of a, without writing anything.
func AndCount(a, b []uint64) int {
	b = b[:len(a)]
	n, done := vectorAndCount(a, b)
	return n + andCountGo(a[done:], b[done:])
}

func countGo(words []uint64) int {
	n := 0
	for _, w := range words {
		n += bits.OnesCount64(w)
	}
	return n
}

func andCountGo(a, b []uint64) int {
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

// BlockWords is the block CountAnd works in: 8 KiB, one roaring
// container's worth of rows, which stays in the first-level cache.
const BlockWords = 1024

// CountAnd counts the rows (bits) set in every sets[i] with minus[i]
// false and in no sets[i] with minus[i] true, a block of buf's length at
// a time: the block of sets[0] (which must not be subtracted) is copied
// into buf, every other set ANDed (AND-NOTed) in, and buf counted, so
// each set is read once and nothing but the count is written. Sets may
// differ in length: words past a set's end are zero, so the count stops
// at the shortest set that is not subtracted.
func CountAnd(sets [][]uint64, minus []bool, buf []uint64) int {
	words := len(sets[0])
	for i, s := range sets {
		if !minus[i] {
			words = min(words, len(s))
		}
	}
	if len(buf) == 0 {
		buf = make([]uint64, BlockWords)
	}
	// The last set not subtracted (after the first) is counted with the
	// block rather than ANDed into it: one pass less per block.
	last := -1
	for i := len(sets) - 1; i > 0 && last < 0; i-- {
		if !minus[i] {
			last = i
		}
	}
	c := 0
	for start := 0; start < words; start += len(buf) {
		end := min(start+len(buf), words)
		b := buf[:end-start]
		copy(b, sets[0][start:end])
		for i, s := range sets[1:] {
			switch {
			case i+1 == last:
			case !minus[i+1]:
				And(b, s[start:end])
			default:
				if e := min(end, len(s)); e > start {
					AndNot(b[:e-start], s[start:e])
				}
			}
		}
		if last > 0 {
			c += AndCount(b, sets[last][start:end])
		} else {
			c += Count(b)
		}
	}
	return c
}
