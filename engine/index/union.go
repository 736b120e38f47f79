package index

import "github.com/RoaringBitmap/roaring/v2"

// unionMany ORs many bitmaps. Event windows OR dozens to hundreds of
// sparse day bitmaps; roaring's pairwise unions then merge sorted arrays
// over and over (quadratic in the number of days per container). Setting
// bits in one dense word array costs one write per member instead, and a
// single pass turns the words back into a compressed bitmap.
func unionMany(bms []*roaring.Bitmap) *roaring.Bitmap {
	if len(bms) < 8 {
		return roaring.FastOr(bms...)
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
	// Dense only pays when the members are not far fewer than the words
	// the final pass must scan.
	if members < words/4 {
		return roaring.FastOr(bms...)
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
	return roaring.FromDense(dense, false)
}
