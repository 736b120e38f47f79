package runner

import (
	"context"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/internal/wordops"
	"github.com/cohortdb/cohort/query"
)

// DenseLeaves evaluates every leaf of q's plan on its own and returns each
// as a plain bitset of the snapshot's rows, with whether the plan
// subtracts it. It is the logic of engine/exec's BenchmarkCount floor,
// outside a test file so that the runner measures the same floor.
func DenseLeaves(ctx context.Context, q *exec.Query) (dense [][]uint64, minus []bool, err error) {
	var walk func(n *query.Node, m bool) error
	walk = func(n *query.Node, m bool) error {
		if n.Op == query.NodeLeaf || n.Op == query.NodeAll {
			bm, err := q.WithPlan(&query.Plan{Root: n}).Bitmap(ctx)
			if err != nil {
				return fmt.Errorf("floor: evaluating a leaf of %s: %w", q.Text, err)
			}
			dense = append(dense, Dense(bm, q.Rows()))
			minus = append(minus, m)
		}
		if n.Op == query.NodeNot {
			// A NOT the planner left standing (not under an AND) is a
			// subtraction from every profile.
			return walk(n.Children[0], !m)
		}
		for _, c := range n.Children {
			if err := walk(c, false); err != nil {
				return err
			}
		}
		for _, c := range n.Minus {
			if err := walk(c, true); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(q.Plan.Root, false); err != nil {
		return nil, nil, err
	}
	if len(dense) == 0 {
		return nil, nil, fmt.Errorf("floor: the plan of %s has no leaf", q.Text)
	}
	if minus[0] {
		// Only subtractions: they are taken from every profile.
		all, err := q.WithPlan(&query.Plan{Root: &query.Node{Op: query.NodeAll}}).Bitmap(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("floor: every profile: %w", err)
		}
		dense = append([][]uint64{Dense(all, q.Rows())}, dense...)
		minus = append([]bool{false}, minus...)
	}
	return dense, minus, nil
}

// Dense returns bm as a bitset of rows bits.
func Dense(bm *roaring.Bitmap, rows uint32) []uint64 {
	words := make([]uint64, (uint64(rows)+63)/64)
	DenseInto(words, bm)
	return words
}

// DenseInto writes bm into words as a bitset, over what was there, and
// drops rows past its end.
func DenseInto(words []uint64, bm *roaring.Bitmap) {
	clear(words)
	rows := uint64(len(words)) * 64
	it := bm.Iterator()
	for it.HasNext() {
		r := it.Next()
		if uint64(r) < rows {
			words[r/64] |= 1 << (r % 64)
		}
	}
}

// AndPopcount intersects (or, for AND-NOT terms, subtracts) the dense
// sets and counts the result, a block at a time with the vector word
// operations (wordops.CountAnd, acc holding the block), so each set is
// read once and nothing but the count is written back: the least any
// engine reading these sets can do. The first set is never subtracted:
// DenseLeaves puts a positive term (or "all") first.
func AndPopcount(acc []uint64, dense [][]uint64, minus []bool) int {
	return wordops.CountAnd(dense, minus, acc[:min(wordops.BlockWords, len(acc))])
}
