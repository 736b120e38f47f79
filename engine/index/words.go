package index

import (
	"runtime"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/internal/wordops"
)

// Word space: an AND that ends in the dense range kernels wants its other
// terms as words (row r is bit r%64 of word r/64) anyway, and building
// them there costs a copy per bitmap container and a write per array
// member, where roaring's AND and OR allocate a container per result
// chunk (a union of a tag's values clones each bitmap container first).
// The helpers below take a scratch array of dst's length.

// WriteWordsTo sets dst to b's rows (cut to dst's rows).
func WriteWordsTo(dst []uint64, b *roaring.Bitmap) {
	clear(dst)
	writeWords(dst, b)
}

// AndWords clears the words of dst whose rows are not in b.
func AndWords(dst, scratch []uint64, b *roaring.Bitmap) {
	WriteWordsTo(scratch, b)
	wordops.And(dst, scratch)
}

// UnionWordsTo sets dst to the union of bs (scratch: an array of dst's
// length). The bitmap with the most bitmap containers is written first,
// straight in; the others are ORed in as unions of event days are
// (orMembers): most IN lists then need no scratch pass at all.
func UnionWordsTo(dst, scratch []uint64, bs []*roaring.Bitmap) {
	clear(dst)
	if len(bs) == 0 {
		return
	}
	most, top := 0, uint64(0)
	for i, b := range bs {
		if n := b.Stats().BitmapContainers; n > top {
			most, top = i, n
		}
	}
	writeWords(dst, bs[most])
	orMembers(nil, dst, append(bs[:most:most], bs[most+1:]...), scratch)
}

// WordSets is a running intersection held as word arrays (row r is bit
// r%64 of word r/64; an array shorter than another holds no rows past its
// end): the rows in every array of And, in no array of AndNot, and in at
// least one array of each group of AnyOf (an IN list's values). And and
// AnyOf may not both be empty.
type WordSets struct {
	And    [][]uint64
	AndNot [][]uint64
	AnyOf  [][][]uint64
}

// fill writes the block of the intersection starting at word start into
// dst.
func (s *WordSets) fill(dst []uint64, start int, sc *scratch) {
	end := start + len(dst)
	view := func(w []uint64) []uint64 {
		if len(w) <= start {
			return nil
		}
		return w[start:min(end, len(w))]
	}
	first := true
	and := func(v []uint64) {
		if first {
			copy(dst, v)
			first = false
		} else {
			wordops.And(dst[:len(v)], v)
		}
		clear(dst[len(v):])
	}
	for _, w := range s.And {
		and(view(w))
	}
	for _, g := range s.AnyOf {
		u := sc.any[:len(dst)]
		clear(u)
		for _, w := range g {
			v := view(w)
			wordops.Or(u[:len(v)], v)
		}
		and(u)
	}
	for _, w := range s.AndNot {
		v := view(w)
		wordops.AndNot(dst[:len(v)], v)
	}
}

// CountSets counts the rows of the intersection of sets over words
// words, a block at a time (each block combined in the cache and counted,
// nothing written out whole). sets must hold a positive term (And or
// AnyOf); it reports false otherwise.
func CountSets(sets WordSets, words int) (uint64, bool) {
	if len(sets.And) == 0 && len(sets.AnyOf) == 0 {
		return 0, false
	}
	sc := new(scratch)
	var n uint64
	for start := 0; start < words; start += blockWords {
		dst := sc.base[:min(blockWords, words-start)]
		sets.fill(dst, start, sc)
		n += uint64(wordops.Count(dst))
	}
	return n, true
}

// CountAllSets is CountAllWords for a running intersection given as
// WordSets: each block of it is combined from the sets just before the
// ranges read that block, while it sits in the cache, so the
// intersection is never written out whole and read back (an AND of
// mirrored tag values and ranges reads each set once).
func CountAllSets(pool *WordPool, sets WordSets, conds []RangeCond) uint64 {
	return countAllSetsOn(pool, sets, conds, runtime.GOMAXPROCS(0), minParallelWords)
}

func countAllSetsOn(pool *WordPool, sets WordSets, conds []RangeCond, procs, minWords int) uint64 {
	ds, words := densesOf(conds)
	if words == 0 {
		return 0
	}
	cur := pool.Get(words)
	defer pool.Put(cur)
	return countFilledOn(cur, sets.fill, ds, conds, procs, minWords)
}
