// Package parallel runs independent tasks on the cores.
package parallel

import (
	"sync"
	"sync/atomic"
)

// Each calls f(w, i) for every i in [0, n) on up to procs goroutines,
// w numbering the goroutine (below procs: an index into state of its
// own, sized by the caller with the same procs). The i are handed out in
// increasing order, one at a time, so that unequal tasks share the cores
// evenly and each goroutine sees its i ascend.
func Each(procs, n int, f func(w, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(procs, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(w, i)
			}
		})
	}
	wg.Wait()
}
