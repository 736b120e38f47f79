package parallel

import (
	"sync"
	"testing"
)

// TestEach: every task runs once, on a goroutine numbered below procs,
// and each goroutine sees its tasks in increasing order.
func TestEach(t *testing.T) {
	for _, c := range []struct{ procs, n int }{{1, 0}, {1, 5}, {2, 1}, {2, 100}, {8, 37}, {3, 3}} {
		var mu sync.Mutex
		ran := make([]int, c.n)
		last := map[int]int{}
		Each(c.procs, c.n, func(w, i int) {
			mu.Lock()
			defer mu.Unlock()
			if w < 0 || w >= c.procs {
				t.Errorf("procs %d: goroutine %d", c.procs, w)
			}
			if l, ok := last[w]; ok && i <= l {
				t.Errorf("procs %d: goroutine %d got %d after %d", c.procs, w, i, l)
			}
			last[w] = i
			ran[i]++
		})
		for i, k := range ran {
			if k != 1 {
				t.Fatalf("procs %d, n %d: task %d ran %d times", c.procs, c.n, i, k)
			}
		}
	}
}
