//go:build !amd64

package wordops

// Without the amd64 kernels every word goes through the plain loops.

func vectorAnd(dst, src []uint64) int    { return 0 }
func vectorAndNot(dst, src []uint64) int { return 0 }
func vectorOr(dst, src []uint64) int     { return 0 }
