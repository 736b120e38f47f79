package index

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestCOWCompaction publishes a bitmap many times while adding and
// removing rows (so every phase of compaction comes round, with array,
// bitmap and mixed containers, rows added at the end as a bulk load adds
// them or anywhere), and checks after every publication that the writer
// and the published bitmap hold exactly the rows added, and that every
// bitmap published before still holds what it held then: rebuilding the
// writer, whole or its tail, must neither lose rows nor write into a
// bitmap readers hold.
func TestCOWCompaction(t *testing.T) {
	for _, anywhere := range []bool{false, true} {
		for _, density := range []int{3, 40, 900} { // rows per 1000: array, mixed, bitmap containers
			r := rand.New(rand.NewPCG(uint64(density), 5))
			c := newCOW()
			want := roaring.New()
			type held struct{ pub, copy *roaring.Bitmap }
			var published []held
			row := uint32(0)
			var done [3]int
			for pub := range 4 * compactEvery {
				for i := range 20_000 {
					row += uint32(1 + r.IntN(1000/density*2))
					c.add(row)
					want.Add(row)
					if i%7_000 == 6_999 {
						// As a bulk load does between publications.
						c.compactBetween()
						if !c.writer().Equals(want) {
							t.Fatalf("density %d publication %d: the writer lost rows to a rebuild between publications", density, pub)
						}
					}
				}
				if anywhere {
					for range 500 {
						x := uint32(r.IntN(int(row) + 1))
						c.add(x)
						want.Add(x)
					}
				}
				for range 50 {
					x := uint32(r.IntN(int(row) + 1))
					c.remove(x)
					want.Remove(x)
				}
				// What publish would do first, to count it; publish's own
				// call then finds nothing grown or the same phase.
				done[c.compactGrown()]++
				b := c.publish()
				if !b.Equals(want) || !c.writer().Equals(want) {
					t.Fatalf("density %d publication %d: published %d rows, writer %d, want %d", density, pub, b.GetCardinality(), c.writer().GetCardinality(), want.GetCardinality())
				}
				published = append(published, held{b, want.Clone()})
				for i, h := range published {
					if !h.pub.Equals(h.copy) {
						t.Fatalf("density %d: publication %d changed after publication %d", density, i, pub)
					}
				}
			}
			whole, tail := done[compactedWhole], done[compactedTail]
			switch {
			case density == 900 && whole+tail > 0:
				t.Fatalf("a bitmap of bitmap containers was rebuilt %d times, its tail %d", whole, tail)
			case density < 900 && anywhere && (whole < 3 || tail > 0):
				t.Fatalf("density %d, rows added anywhere: rebuilt %d times whole (want 3 or more), %d times its tail (want none)", density, whole, tail)
			case density < 900 && !anywhere && (whole < 1 || tail < 2*compactEvery):
				t.Fatalf("density %d, rows added at the end: rebuilt %d times whole, %d times its tail in %d publications", density, whole, tail, 4*compactEvery)
			}
		}
	}
}

// TestCOWReplaceNotRebuilt: a bitmap replaced whole (as a checkpoint
// restores it) is not rebuilt, however often it is published, until rows
// are added to it.
func TestCOWReplaceNotRebuilt(t *testing.T) {
	for n := range uint32(2 * compactEvery) {
		c := newCOW()
		b := roaring.New()
		for i := range n + 1 {
			b.Add(i * 37)
		}
		for range 2 * compactEvery {
			c.replace(b)
			c.publish()
			if c.w != b {
				t.Fatalf("a bitmap of %d rows was rebuilt after its replacement", n+1)
			}
		}
		rebuilt := false
		for range compactEvery {
			c.add(100_000 + n)
			before := c.w
			c.publish()
			rebuilt = rebuilt || c.w != before
		}
		if !rebuilt {
			t.Fatalf("a bitmap of %d rows grown after its replacement was never rebuilt", n+1)
		}
	}
}

// TestCOWPendingKept: a bitmap written often keeps its buffer of adds
// over a publication (empty), one written rarely lets it go, and both
// publish exactly the rows added.
func TestCOWPendingKept(t *testing.T) {
	for _, n := range []uint32{10, keepPending + 1} {
		c := newCOW()
		for round := range uint32(3) {
			for i := range n {
				c.add(round*1_000_000 + i*3)
			}
			b := c.publish()
			if b.GetCardinality() != uint64((round+1)*n) || !b.Contains(round*1_000_000+(n-1)*3) {
				t.Fatalf("%d adds a round, round %d: published %d rows", n, round, b.GetCardinality())
			}
			kept := c.pending != nil
			if kept != (n > keepPending) || len(c.pending) != 0 {
				t.Fatalf("%d adds a round: buffer kept %v with %d rows after a publication", n, kept, len(c.pending))
			}
		}
	}
}
