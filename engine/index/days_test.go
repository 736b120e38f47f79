package index

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDayListAgainstAMap drives a dayList and a map through the same puts
// and drops and compares them after every step.
func TestDayListAgainstAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for round := range 200 {
		var l dayList
		model := map[Day]*cowBitmap{}
		base := Day(r.IntN(40000))
		for step := range 300 {
			if r.IntN(20) == 0 {
				cutoff := base + Day(r.IntN(400)) - 50
				want := 0
				for d := range model {
					if d < cutoff {
						delete(model, d)
						want++
					}
				}
				if got := l.dropBefore(cutoff); got != want {
					t.Fatalf("round %d step %d: dropBefore(%d) dropped %d, want %d", round, step, cutoff, got, want)
				}
			} else {
				d := base + Day(r.IntN(365))
				b := newCOW()
				model[d] = b
				l.put(d, b)
			}
			if l.n != len(model) {
				t.Fatalf("round %d step %d: %d bitmaps, want %d", round, step, l.n, len(model))
			}
			var days []Day
			l.each(func(d Day, b *cowBitmap) {
				if model[d] != b {
					t.Fatalf("round %d step %d: day %d holds the wrong bitmap", round, step, d)
				}
				days = append(days, d)
			})
			if !slices.IsSorted(days) || len(days) != len(model) {
				t.Fatalf("round %d step %d: each visited %v", round, step, days)
			}
			for probe := base - 60; probe < base+420; probe++ {
				if l.get(probe) != model[probe] {
					t.Fatalf("round %d step %d: get(%d) disagrees", round, step, probe)
				}
			}
			if len(l.bms) > 0 && (l.bms[0] == nil || l.bms[len(l.bms)-1] == nil) {
				t.Fatalf("round %d step %d: span not trimmed to its bitmaps", round, step)
			}
		}
	}
}
