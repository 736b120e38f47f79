package index

import (
	"runtime"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/internal/wordops"
)

// unionMany ORs many bitmaps. Event windows OR dozens to hundreds of
// sparse day bitmaps; roaring's pairwise unions then merge sorted arrays
// over and over (quadratic in the number of days per container). Setting
// bits in one dense word array costs one write per member instead, and a
// single pass turns the words back into a compressed bitmap.
func unionMany(bms []*roaring.Bitmap) *roaring.Bitmap {
	b, _ := unionWords(bms, 0)
	return b
}

// unionWords is unionMany for a result the view keeps (keptCache.use):
// when it is computed densely, the words are returned too, n of them
// (the view's rows; 0: up to the last member), and the bitmap shares
// them, so the cache does not write them again from the bitmap (a third
// of the CPU of keeping a lookalike's windows at 10M profiles).
// Otherwise words is nil.
func unionWords(bms []*roaring.Bitmap, n int) (*roaring.Bitmap, []uint64) {
	dense := denseUnionOn(bms, runtime.GOMAXPROCS(0), minParallelMembers, n)
	if dense == nil {
		return roaring.FastOr(bms...), nil
	}
	return roaring.FromDense(dense, false), dense
}

// minParallelMembers is the fewest members a union splits across cores
// for: below it a goroutine and an extra array cost more than they save.
const minParallelMembers = 1 << 19

// denseUnionOn sets the members of bms in a word array of n words (of
// maxRow/64+1 if n does not cover the last member), or returns nil when
// the members are too few for a dense pass to pay (see unionMany). Large
// unions are split across up to procs cores by bitmap, each core setting
// bits in its own array, and the arrays ORed.
func denseUnionOn(bms []*roaring.Bitmap, procs, minMembers, n int) []uint64 {
	if len(bms) < 8 {
		return nil
	}
	var maxRow uint32
	var members uint64
	for _, b := range bms {
		if b.IsEmpty() {
			continue
		}
		maxRow = max(maxRow, b.Maximum())
		members += b.GetCardinality()
	}
	words := uint64(maxRow)/64 + 1
	if members < words/4 {
		return nil
	}
	dense := make([]uint64, max(words, uint64(n)))
	orMembersOn(nil, dense, bms, members, procs, minMembers)
	return dense
}

// orMembersOn sets the members of bms (members in all) that fall inside
// dense, on up to procs goroutines when there are at least minMembers:
// the bitmaps are dealt out so that each goroutine sets about as many
// bits in its own array, and the arrays are ORed into dense. Its arrays
// come from wp (nil: allocated).
func orMembersOn(wp *WordPool, dense []uint64, bms []*roaring.Bitmap, members uint64, procs, minMembers int) {
	procs = min(procs, len(bms))
	if procs < 2 || members < uint64(minMembers) {
		orMembers(wp, dense, bms, nil)
		return
	}
	// Deal the bitmaps out so that each part gets about as many members.
	parts := make([][]*roaring.Bitmap, procs)
	load := make([]uint64, procs)
	for _, b := range bms {
		p := 0
		for i := range load {
			if load[i] < load[p] {
				p = i
			}
		}
		parts[p] = append(parts[p], b)
		load[p] += b.GetCardinality()
	}
	arrays := make([][]uint64, procs)
	arrays[0] = dense
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p > 0 {
				arrays[p] = wp.Get(len(dense))
				clear(arrays[p])
			}
			orMembers(wp, arrays[p], parts[p], nil)
		}()
	}
	wg.Wait()
	for _, a := range arrays[1:] {
		wordops.Or(dense, a)
		wp.Put(a)
	}
}

// orMembers sets the members of bms in dense, one write per member (a
// dense bitmap through scratch, an array of dense's length, taken from wp
// when nil and needed: nil wp allocates); members past the rows dense
// covers are left out.
func orMembers(wp *WordPool, dense []uint64, bms []*roaring.Bitmap, scratch []uint64) {
	limit := uint64(len(dense)) * 64
	buf := make([]uint32, 512)
	for _, b := range bms {
		if b.IsEmpty() {
			continue
		}
		// Checking every member against the limit costs a compare per
		// member; only a bitmap reaching past it needs that.
		clip := uint64(b.Maximum()) >= limit
		// roaring's own dense writer sets an array or run container's
		// bits in a tight loop, a third cheaper than the iterator even
		// counting the look at the container types (measured on 90
		// sparse days over 10M rows), but it copies a bitmap
		// container's words over what is there: use it only without
		// those.
		if !clip {
			if b.Stats().BitmapContainers == 0 {
				b.WriteDenseTo(dense)
				continue
			}
			// A bitmap with more members than a quarter of the words is
			// cheaper written into scratch words (a copy per bitmap
			// container) and ORed in with vector passes than set a
			// member at a time.
			if b.GetCardinality()*4 > uint64(len(dense)) {
				if scratch == nil {
					scratch = wp.Get(len(dense))
					defer wp.Put(scratch)
				}
				WriteWordsTo(scratch[:len(dense)], b)
				wordops.Or(dense, scratch)
				continue
			}
		}
		it := b.ManyIterator()
		for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
			if clip {
				for _, r := range buf[:n] {
					if uint64(r) < limit {
						dense[r>>6] |= 1 << (r & 63)
					}
				}
				continue
			}
			for _, r := range buf[:n] {
				dense[r>>6] |= 1 << (r & 63)
			}
		}
	}
}

// unionCount is the cardinality of the union of bms, never built: when
// the members are many against the rows, their bits are set in an array
// of words from wp and counted; otherwise roaring's union is counted.
// The words come from the pool rather than a new array: at 100M
// profiles an array is 12.5 MB, and the fresh pages of one per count
// cost more than the count (49–75 ms first counts of 7- and 30-day
// windows where the pass itself takes a few).
func unionCount(wp *WordPool, bms []*roaring.Bitmap) uint64 {
	switch len(bms) {
	case 0:
		return 0
	case 1:
		return bms[0].GetCardinality()
	}
	var maxRow uint32
	var members uint64
	for _, b := range bms {
		if !b.IsEmpty() {
			maxRow = max(maxRow, b.Maximum())
			members += b.GetCardinality()
		}
	}
	words := int(maxRow/64) + 1
	// Few bitmaps with a member per 64 rows or fewer are counted faster
	// by roaring (the lookalike counts hundreds of such windows).
	if members < uint64(words)/4 || len(bms) < 8 && members < uint64(words) {
		return roaring.FastOr(bms...).GetCardinality()
	}
	dense := wp.Get(words)
	clear(dense)
	orMembersOn(wp, dense, bms, members, runtime.GOMAXPROCS(0), minParallelMembers)
	n := wordops.Count(dense)
	wp.Put(dense)
	return uint64(n)
}
