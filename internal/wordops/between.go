package wordops

import "math/bits"

// A bit-sliced index holds bit i of every row's value in slice i (row r
// is bit r%64 of word r/64). Between answers a range over such slices in
// one pass over the words, each slice word read once, the running "value
// greater than" sets held in registers; a pass per slice and bound
// instead (load, combine, store the running set a slice at a time) costs
// several times the instructions, and that, not reading the slices, is
// what bounds a range on a block that sits in the cache.

// MaxSlices is the most slices Between takes.
const MaxSlices = 64

// gtStep is one step of an "offset > x" walk: q &= s when and is set,
// q |= s otherwise.
type gtStep struct {
	s   []uint64
	and bool
}

// gtWalk is the O'Neil–Quass "offset > x" walk over slices, from the
// least significant: where x has a 1, a row stays greater only with a 1
// too (q &= s); where it has a 0, a 1 makes it greater (q |= s). Steps
// whose effect is known are left out: an AND into the empty set (q starts
// empty, and stays so until the first OR), an OR of a nil (empty) slice,
// and an AND of one, which empties q and so drops every step before it.
// An empty walk is the empty set.
func gtWalk(dst []gtStep, x uint64, slices [][]uint64) []gtStep {
	dst = dst[:0]
	for i, s := range slices {
		one := x>>uint(i)&1 == 1
		switch {
		case one && s == nil:
			dst = dst[:0]
		case one && len(dst) == 0:
		case one:
			dst = append(dst, gtStep{s, true})
		case s != nil:
			dst = append(dst, gtStep{s, false})
		}
	}
	return dst
}

// Between keeps in dst the rows whose value (bit i in slices[i]; a nil
// slice holds no bit) is greater than a, when hasA, and not greater than
// b, when hasB, and returns how many rows it kept. Every slice that is
// not nil holds at least len(dst) words; there are at most MaxSlices, and
// a and b have no bit at or above len(slices). Together with the rows
// that have a value in dst, that is lo <= value <= hi as a = lo-1, b = hi.
func Between(dst []uint64, slices [][]uint64, a, b uint64, hasA, hasB bool) int {
	return betweenAt(betweenLevel(), dst, slices, a, b, hasA, hasB)
}

// Kernel levels of Between, best first; betweenLevel is the best this CPU
// has.
const (
	levelAVX512 = iota // AVX-512 with VPOPCNTQ
	levelAVX2
	levelGo
)

// betweenAt is Between with level's kernel (tests run each one the CPU
// has).
func betweenAt(level int, dst []uint64, slices [][]uint64, a, b uint64, hasA, hasB bool) int {
	// A missing bound has no walk (its slices are not read): fa lets
	// every row through a missing lower bound, and a missing upper
	// bound's empty set removes none.
	var wa, wb [MaxSlices]gtStep
	var pa, pb []gtStep
	var fa, fb uint64
	if hasA {
		pa = gtWalk(wa[:0], a, slices)
	} else {
		fa = ^uint64(0)
	}
	if hasB {
		pb = gtWalk(wb[:0], b, slices)
		fb = ^uint64(0)
	}
	n, done := betweenOn(level, dst, pa, pb, fa, fb)
	return n + betweenGo(dst, done, pa, pb, fa, fb)
}

// betweenGo is Between's plain loop over dst from word from.
func betweenGo(dst []uint64, from int, pa, pb []gtStep, fa, fb uint64) int {
	n := 0
	for w := from; w < len(dst); w++ {
		qa, qb := gtWord(pa, w), gtWord(pb, w)
		r := dst[w] & (qa | fa) &^ (qb & fb)
		dst[w] = r
		n += bits.OnesCount64(r)
	}
	return n
}

// gtWord is a walk's set at word w.
func gtWord(steps []gtStep, w int) uint64 {
	var q uint64
	for _, st := range steps {
		if st.and {
			q &= st.s[w]
		} else {
			q |= st.s[w]
		}
	}
	return q
}
