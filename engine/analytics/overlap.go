package analytics

import (
	"context"
	"errors"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
)

// MaxOverlapSegments bounds Overlap: the matrix grows with the square of
// the segments, and a chart of more is unreadable anyway.
const MaxOverlapSegments = 16

// OverlapResult compares segments pairwise.
type OverlapResult struct {
	// Sizes[i] is the size of segment i.
	Sizes []uint64 `json:"sizes"`
	// Matrix[i][j] is |segment i ∩ segment j|; the diagonal holds sizes.
	Matrix [][]uint64 `json:"matrix"`
	// Venn lists, for 2 or 3 segments, every exclusive region of the
	// diagram: the profiles in exactly the segments In (for example
	// In=[0] is "A only", [0,1] "A∩B only", [0,1,2] "A∩B∩C"). Regions
	// come by number of segments, then in index order.
	Venn []VennRegion `json:"venn,omitempty"`
}

// VennRegion is one exclusive region of a Venn diagram.
type VennRegion struct {
	In    []int  `json:"in"`
	Count uint64 `json:"count"`
}

// Overlap intersects up to 16 segments pairwise and, for 2 or 3, lists
// the regions of their Venn diagram.
func Overlap(ctx context.Context, segs []*roaring.Bitmap) (*OverlapResult, error) {
	switch {
	case len(segs) == 0:
		return nil, errors.New("overlap: no segments given")
	case len(segs) > MaxOverlapSegments:
		return nil, fmt.Errorf("overlap: %d segments, at most %d allowed", len(segs), MaxOverlapSegments)
	}
	for i, s := range segs {
		if s == nil {
			return nil, fmt.Errorf("overlap: segment %d is missing", i)
		}
	}
	k := len(segs)
	res := &OverlapResult{Sizes: make([]uint64, k), Matrix: make([][]uint64, k)}
	for i, s := range segs {
		res.Sizes[i] = s.GetCardinality()
		res.Matrix[i] = make([]uint64, k)
		res.Matrix[i][i] = res.Sizes[i]
	}
	for i := range k {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("overlap: %w", err)
		}
		for j := i + 1; j < k; j++ {
			c := segs[i].AndCardinality(segs[j])
			res.Matrix[i][j], res.Matrix[j][i] = c, c
		}
	}
	if k == 2 || k == 3 {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("overlap: %w", err)
		}
		res.Venn = venn(segs)
	}
	return res, nil
}

// venn counts each exclusive region directly (intersection of the
// segments in, minus the others): with at most 3 segments that is 7
// small computations, simpler and no slower than inclusion–exclusion.
func venn(segs []*roaring.Bitmap) []VennRegion {
	k := len(segs)
	var out []VennRegion
	for size := 1; size <= k; size++ {
		for mask := 1; mask < 1<<k; mask++ {
			var in, out2 []*roaring.Bitmap
			var idx []int
			for i := range k {
				if mask&(1<<i) != 0 {
					in, idx = append(in, segs[i]), append(idx, i)
				} else {
					out2 = append(out2, segs[i])
				}
			}
			if len(idx) != size {
				continue
			}
			r := in[0].Clone()
			for _, b := range in[1:] {
				r.And(b)
			}
			for _, b := range out2 {
				r.AndNot(b)
			}
			out = append(out, VennRegion{In: idx, Count: r.GetCardinality()})
		}
	}
	return out
}
