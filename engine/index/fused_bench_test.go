package index

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkSparseBlock counts ranges inside running results of falling
// density, from words: where the word-by-word walk (sparseBlock) starts
// to beat a pass per slice over whole blocks.
func BenchmarkSparseBlock(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const rows = 1 << 20
	age, wide := NewBSI(0, 120), NewBSI(0, 1<<20)
	for row := range uint32(rows) {
		age.Set(row, r.Int64N(121))
		wide.Set(row, r.Int64N(1<<20))
	}
	av, wv := age.View(), wide.View()
	ageCond, _ := av.BetweenCond(25, 35)
	wideCond, _ := wv.CompareCond(LT, 1<<19)
	for _, every := range []int{4, 16, 64, 128, 256, 512, 1024, 4096} {
		within := make([]uint64, rows/64)
		for range rows / every {
			row := r.IntN(rows)
			within[row/64] |= 1 << (row % 64)
		}
		for _, c := range []struct {
			name  string
			conds []RangeCond
		}{{"age", []RangeCond{ageCond}}, {"age+wide", []RangeCond{ageCond, wideCond}}} {
			b.Run(fmt.Sprintf("every=%d/%s", every, c.name), func(b *testing.B) {
				cur := make([]uint64, len(within))
				for b.Loop() {
					copy(cur, within)
					countAllWordsOn(cur, c.conds, 1, minParallelWords)
				}
			})
		}
	}
}

// BenchmarkSmallWithin compares, for a range counted inside a running
// result of one row in every, the roaring walk (compareSlices), the dense
// kernel over the words (with its word-by-word path for sparse blocks)
// and countSparse, which goes from within's rows to their words: CountAll
// takes countSparse below one row in sparseShare.
func BenchmarkSmallWithin(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const rows = 1 << 23
	age := NewBSI(0, 120)
	for row := range uint32(rows) {
		age.Set(row, r.Int64N(121))
	}
	av := age.View()
	cond, _ := av.BetweenCond(25, 35)
	for _, every := range []int{17, 64, 256, 1024, 4096, 16384} {
		within := randomRows(r, rows, every)
		b.Run(fmt.Sprintf("every=%d/roaring", every), func(b *testing.B) {
			for b.Loop() {
				av.CountBetweenWithin(25, 35, within)
			}
		})
		b.Run(fmt.Sprintf("every=%d/dense", every), func(b *testing.B) {
			ds, words := densesOf([]RangeCond{cond})
			for b.Loop() {
				countWordsOn(rowWords(within, words), ds, []RangeCond{cond}, 1, minParallelWords)
			}
		})
		b.Run(fmt.Sprintf("every=%d/sparse", every), func(b *testing.B) {
			for b.Loop() {
				countSparse(within, []RangeCond{cond})
			}
		})
	}
}
