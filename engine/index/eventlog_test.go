package index

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestEventLogAgainstAModel drives an Events index through adds (more
// than the log holds at once, and in row orders that are not ascending),
// unsets, moves and expiries, and after each view compares every value's
// day bitmaps with a plain model: the log must never show.
func TestEventLogAgainstAModel(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	x := NewEvents("purchase")
	model := map[string]map[Day]map[uint32]bool{} // value → day → rows
	add := func(row uint32, v string, d Day) {
		if model[v] == nil {
			model[v] = map[Day]map[uint32]bool{}
		}
		if model[v][d] == nil {
			model[v][d] = map[uint32]bool{}
		}
		model[v][d][row] = true
		x.Add(row, v, d)
	}
	check := func(step int) {
		t.Helper()
		view := x.View()
		for i, v := range view.Values() {
			_, first, days := view.ValueBitmaps(i)
			seen := 0
			for j, b := range days {
				d := first + Day(j)
				want := model[v][d]
				if b == nil {
					if len(want) != 0 {
						t.Fatalf("step %d: %s day %d has no bitmap, want %d rows", step, v, d, len(want))
					}
					continue
				}
				if b.GetCardinality() != uint64(len(want)) {
					t.Fatalf("step %d: %s day %d holds %d rows, want %d", step, v, d, b.GetCardinality(), len(want))
				}
				for row := range want {
					if !b.Contains(row) {
						t.Fatalf("step %d: %s day %d lacks row %d", step, v, d, row)
					}
				}
				seen += len(want)
			}
			total := 0
			for _, rows := range model[v] {
				total += len(rows)
			}
			if seen != total {
				t.Fatalf("step %d: %s: %d rows on its days, want %d", step, v, seen, total)
			}
		}
	}
	const rows = 5000
	for step := range 40 {
		n := 2000
		if step == 5 {
			n = maxLogged + 1000 // past the log's bound within one batch
		}
		for range n {
			row := uint32(r.IntN(rows))
			add(row, fmt.Sprint("v", r.IntN(30)), Day(20000+r.IntN(400)))
		}
		switch step % 4 {
		case 1:
			row := uint32(r.IntN(rows))
			x.Unset(row)
			for _, days := range model {
				for _, rs := range days {
					delete(rs, row)
				}
			}
		case 2:
			from, to := uint32(r.IntN(rows)), uint32(r.IntN(rows))
			x.Move(from, to)
			if from != to {
				for _, days := range model {
					for _, rs := range days {
						if rs[from] {
							delete(rs, from)
							rs[to] = true
						}
					}
				}
			}
		case 3:
			cutoff := Day(20000 + step*5)
			x.Expire(cutoff)
			for _, days := range model {
				for d := range days {
					if d < cutoff {
						delete(days, d)
					}
				}
			}
		}
		check(step)
	}
}
