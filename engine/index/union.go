package index

import (
	"math/bits"

	"github.com/RoaringBitmap/roaring/v2"
)

// unionMany ORs many bitmaps. Event windows OR dozens to hundreds of
// sparse day bitmaps; roaring's pairwise unions then merge sorted arrays
// over and over (quadratic in the number of days per container). Setting
// bits in one dense word array costs one write per member instead, and a
// single pass turns the words back into a compressed bitmap.
func unionMany(bms []*roaring.Bitmap) *roaring.Bitmap {
	dense := denseUnion(bms)
	if dense == nil {
		return roaring.FastOr(bms...)
	}
	return roaring.FromDense(dense, false)
}

// denseUnion sets the members of bms in a word array covering rows
// 0..maxRow, or returns nil when the members are too few for a dense pass
// to pay (see unionMany).
func denseUnion(bms []*roaring.Bitmap) []uint64 {
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
	dense := make([]uint64, words)
	buf := make([]uint32, 512)
	for _, b := range bms {
		it := b.ManyIterator()
		for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
			for _, r := range buf[:n] {
				dense[r>>6] |= 1 << (r & 63)
			}
		}
	}
	return dense
}

// unionCount is the cardinality of the union of bms, without building it
// when a dense pass pays.
func unionCount(bms []*roaring.Bitmap) uint64 {
	dense := denseUnion(bms)
	if dense == nil {
		return roaring.FastOr(bms...).GetCardinality()
	}
	var n int
	for _, w := range dense {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}
