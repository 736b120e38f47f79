package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestAtLeastPathsAgree checks the sparse AT LEAST path (sort the
// members, keep rows seen n times) against the saturating counters and
// against a plain count per row, on random day bitmaps of every density;
// the sparse path's arrays come from a pool that hands them back dirty
// (and larger than asked) in even trials, are allocated in odd ones.
func TestAtLeastPathsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	pool := new(WordPool)
	for trial := range 60 {
		var wp *WordPool
		if trial%2 == 0 {
			wp = pool
			for range 2 {
				dirty := wp.GetRows(50_000 + r.IntN(100_000))
				for i := range dirty {
					dirty[i] = r.Uint32()
				}
				wp.PutRows(dirty)
			}
		}
		rows := uint32(1 + r.IntN(100_000))
		density := []float64{0.00001, 0.0005, 0.01, 0.05}[trial%4]
		days := make([]*roaring.Bitmap, 1+r.IntN(40))
		count := map[uint32]int{}
		var members uint64
		for i := range days {
			days[i] = roaring.New()
			for range int(float64(rows)*density) + r.IntN(3) {
				days[i].Add(uint32(r.IntN(int(rows))))
			}
			days[i].Iterate(func(x uint32) bool { count[x]++; return true })
			members += days[i].GetCardinality()
		}
		for n := 1; n <= 6; n++ {
			var want []uint32
			for row, c := range count {
				if c >= n {
					want = append(want, row)
				}
			}
			slices.Sort(want)
			sparse := atLeastSparse(wp, days, n, members).ToArray()
			if len(sparse) == 0 {
				sparse = nil
			}
			if !slices.Equal(sparse, want) {
				t.Fatalf("trial %d n %d: sparse path %d rows, want %d", trial, n, len(sparse), len(want))
			}
			if n <= maxSaturating {
				sat := atLeastSaturating(days, n).ToArray()
				if len(sat) == 0 {
					sat = nil
				}
				if !slices.Equal(sat, want) {
					t.Fatalf("trial %d n %d: saturating path %d rows, want %d", trial, n, len(sat), len(want))
				}
			}
		}
	}
}

// TestEventsCompactBetween: rebuilding grown tails between publications
// (as a bulk load does) leaves every day, value and the existence bitmap
// as added, in the view published after, and changes nothing in views
// published before.
func TestEventsCompactBetween(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := NewEvents("e")
	type key struct {
		value string
		day   Day
	}
	want := map[key]*roaring.Bitmap{}
	var views []*EventsView
	var copies []map[key]*roaring.Bitmap
	row := uint32(0)
	for round := range 12 {
		for range 30_000 {
			row += uint32(1 + r.IntN(40))
			for range 1 + r.IntN(3) {
				k := key{fmt.Sprintf("v%d", r.IntN(4)), Day(20_000 + r.IntN(30))}
				x.Add(row, k.value, k.day)
				if want[k] == nil {
					want[k] = roaring.New()
				}
				want[k].Add(row)
			}
		}
		x.Compact()
		if round%3 == 2 {
			v := x.View()
			snapshot := map[key]*roaring.Bitmap{}
			for k, b := range want {
				snapshot[k] = b.Clone()
			}
			views, copies = append(views, v), append(copies, snapshot)
		}
	}
	for i, v := range views {
		for k, b := range copies[i] {
			if got := v.Window([]string{k.value}, k.day, k.day); !got.Equals(b) {
				t.Fatalf("view %d, value %s day %d: %d rows, want %d", i, k.value, k.day, got.GetCardinality(), b.GetCardinality())
			}
		}
	}
}
