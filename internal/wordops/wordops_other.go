//go:build !amd64

package wordops

// Without the amd64 kernels every word goes through the plain loops.

func vectorAnd(dst, src []uint64) int            { return 0 }
func vectorAndNot(dst, src []uint64) int         { return 0 }
func vectorOr(dst, src []uint64) int             { return 0 }
func vectorAndCount(a, b []uint64) (n, done int) { return 0, 0 }
func vectorCount(a []uint64) (n, done int)       { return 0, 0 }

func betweenOn(level int, dst []uint64, pa, pb []gtStep, fa, fb uint64) (n, done int) {
	return 0, 0
}

func betweenLevel() int { return levelGo }

// BetweenVector reports whether Between runs as a vector kernel.
func BetweenVector() bool { return false }

func vectorAddMasked(level int, sums []int32, words []uint64, w int32) int { return 0 }
func vectorAddMaskedMany(level int, sums []int32, words [][]uint64, ws []int32, from, n int) int {
	return 0
}
func vectorAtLeast(level int, dst []uint64, sums []int32, t int32) int { return 0 }

func weighLevel() int { return levelGo }
