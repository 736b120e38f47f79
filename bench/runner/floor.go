package runner

import (
	"context"
	"fmt"
	"time"

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
	bms, minus, err := leafBitmaps(ctx, q, func(*query.Node) ([]*roaring.Bitmap, error) { return nil, nil })
	if err != nil {
		return nil, nil, err
	}
	dense = make([][]uint64, len(bms))
	for i, bm := range bms {
		dense[i] = Dense(bm, q.Rows())
	}
	return dense, minus, nil
}

// StoredLeaves is DenseLeaves' walk for a first count: a leaf that reads
// stored bitmaps (exec.Query.StoredInputs: a range's bit slices, a
// window's day bitmaps) gives them in its place, each with the leaf's
// sign; others give their own bitmap. stored reports whether any leaf
// gave stored inputs. The bitmaps are the index's own: read-only.
func StoredLeaves(ctx context.Context, q *exec.Query) (bms []*roaring.Bitmap, minus []bool, stored bool, err error) {
	bms, minus, err = leafBitmaps(ctx, q, func(n *query.Node) ([]*roaring.Bitmap, error) {
		in, err := q.StoredInputs(n)
		stored = stored || in != nil
		return in, err
	})
	return bms, minus, stored, err
}

// leafBitmaps walks q's plan and returns, for every leaf, what inputs
// gives (nil: the leaf evaluated on its own), with whether the plan
// subtracts it. A plan of subtractions only starts from every profile.
func leafBitmaps(ctx context.Context, q *exec.Query, inputs func(*query.Node) ([]*roaring.Bitmap, error)) (bms []*roaring.Bitmap, minus []bool, err error) {
	var walk func(n *query.Node, m bool) error
	walk = func(n *query.Node, m bool) error {
		if n.Op == query.NodeLeaf || n.Op == query.NodeAll {
			var in []*roaring.Bitmap
			if n.Op == query.NodeLeaf {
				if in, err = inputs(n); err != nil {
					return fmt.Errorf("floor: inputs of a leaf of %s: %w", q.Text, err)
				}
			}
			if in == nil {
				bm, err := q.WithPlan(&query.Plan{Root: n}).Bitmap(ctx)
				if err != nil {
					return fmt.Errorf("floor: evaluating a leaf of %s: %w", q.Text, err)
				}
				in = []*roaring.Bitmap{bm}
			}
			for _, bm := range in {
				bms = append(bms, bm)
				minus = append(minus, m)
			}
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
	if len(bms) == 0 {
		return nil, nil, fmt.Errorf("floor: the plan of %s has no leaf", q.Text)
	}
	if minus[0] {
		// Only subtractions: they are taken from every profile.
		all, err := q.WithPlan(&query.Plan{Root: &query.Node{Op: query.NodeAll}}).Bitmap(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("floor: every profile: %w", err)
		}
		bms = append([]*roaring.Bitmap{all}, bms...)
		minus = append([]bool{false}, minus...)
	}
	return bms, minus, nil
}

// slabBytes bounds the bitsets a first count's floor holds at once: a
// 90-day window over 100M profiles reads 90 day bitmaps, 1.1 GB as
// bitsets.
const slabBytes = 256 << 20

// FirstFloor is the floor of a first count: AndPopcount over the dense
// form of every stored bitmap its leaves read (StoredLeaves), a slab of
// rows at a time so that the bitsets held at once stay near slabBytes,
// the slabs' p50s added (the pass is linear in the rows, and a slab is
// far larger than the caches). ok is false when no leaf reads stored
// inputs: the first count's floor is then the count's own. count is
// what the pass counted (comparable only without ORs, as for the
// floor).
func FirstFloor(ctx context.Context, q *exec.Query, runs int, warmFor time.Duration) (p50 time.Duration, count int, ok bool, err error) {
	bms, minus, stored, err := StoredLeaves(ctx, q)
	if err != nil || !stored {
		return 0, 0, false, err
	}
	acc := make([]uint64, wordops.BlockWords)
	count, err = slabPasses(bms, minus, q.Rows(), slabBytes, func(slab [][]uint64) error {
		lat, err := measure(3, warmFor, runs, func() error {
			AndPopcount(acc, slab, minus)
			return nil
		})
		p50 += lat.P50
		return err
	})
	if err != nil {
		return 0, 0, false, err
	}
	return p50, count, true, nil
}

// slabPasses cuts the rows into slabs of whole 65,536-row blocks, each
// holding about maxBytes of bitsets of bms, writes each slab's bitsets
// and calls pass with them; it returns what AndPopcount counts over all
// slabs.
func slabPasses(bms []*roaring.Bitmap, minus []bool, rows uint32, maxBytes int, pass func(slab [][]uint64) error) (int, error) {
	const blockRows = wordops.BlockWords * 64
	blocks := (uint64(rows) + blockRows - 1) / blockRows
	slabBlocks := max(1, uint64(maxBytes)/(uint64(len(bms))*wordops.BlockWords*8))
	sets := make([][]uint64, len(bms))
	for i := range sets {
		sets[i] = make([]uint64, min(slabBlocks, blocks)*wordops.BlockWords)
	}
	slab := make([][]uint64, len(sets))
	acc := make([]uint64, wordops.BlockWords)
	count := 0
	for first := uint64(0); first < blocks; first += slabBlocks {
		end := min(first+slabBlocks, blocks)
		lo, hi := first*blockRows, min(end*blockRows, uint64(rows))
		for i, bm := range bms {
			denseSlab(sets[i][:(end-first)*wordops.BlockWords], bm, lo, hi)
			slab[i] = sets[i][:(hi-lo+63)/64]
		}
		count += AndPopcount(acc, slab, minus)
		if err := pass(slab); err != nil {
			return 0, err
		}
	}
	return count, nil
}

// denseSlab writes the rows [lo, hi) of bm into words (row lo is bit 0;
// lo a multiple of 65,536, words whole containers long), over what was
// there: the rows' containers cut out, re-keyed to start at 0 and
// written by roaring (the per-row iterator of Dense is slow for the
// dense bit slices of 100M profiles).
func denseSlab(words []uint64, bm *roaring.Bitmap, lo, hi uint64) {
	clear(words)
	cut := roaring.New()
	cut.AddRange(lo, hi)
	part := roaring.And(cut, bm)
	if lo > 0 {
		part = roaring.AddOffset64(part, -int64(lo))
	}
	part.WriteDenseTo(words)
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
