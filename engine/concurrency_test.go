package engine_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
)

// TestConcurrentReadersAndWriter runs one writer against several readers.
// Under -race it proves readers never touch memory the writer changes;
// the invariants prove each reader sees one consistent state.
func TestConcurrentReadersAndWriter(t *testing.T) {
	h := newHarness(t, 7)
	h.batch(200, 300)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for range 150 {
			h.batch(40, 2000)
		}
	}()
	errs := make(chan error, 4)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			for i := 0; i < 2000; i++ {
				select {
				case <-done:
					if i > 50 {
						return
					}
				default:
				}
				if err := checkInvariants(h.ds.Snapshot(), rng); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func checkInvariants(sn *engine.Snapshot, rng *rand.Rand) error {
	if got := sn.All().GetCardinality(); got != sn.Profiles() || got > uint64(sn.Rows()) {
		return fmt.Errorf("seq %d: all has %d rows, snapshot says %d profiles of %d rows", sn.Seq(), got, sn.Profiles(), sn.Rows())
	}
	tag, _ := sn.Field("t")
	var sum uint64
	for _, v := range tag.Values.Values() {
		sum += tag.Values.Count(v)
	}
	if exist := tag.Exists().GetCardinality(); sum != exist {
		return fmt.Errorf("seq %d: tag values sum to %d, %d profiles have one", sn.Seq(), sum, exist)
	}
	n, _ := sn.Field("n")
	c := int64(rng.IntN(320) - 10)
	lt, ge := n.BSI.Compare(index.LT, c), n.BSI.Compare(index.GE, c)
	if lt.Intersects(ge) || lt.GetCardinality()+ge.GetCardinality() != n.Exists().GetCardinality() {
		return fmt.Errorf("seq %d: n < %d and n >= %d do not partition the profiles with n", sn.Seq(), c, c)
	}
	e, _ := sn.Field("e")
	today := sn.Today()
	from := today - schema.Day(rng.IntN(40))
	w := e.Events.Window(nil, from, today)
	if !w.Equals(e.Events.AtLeast(nil, 1, from, today)) {
		return fmt.Errorf("seq %d: window and at-least-1 differ", sn.Seq())
	}
	two := e.Events.AtLeast(nil, 2, from, today)
	if two.AndCardinality(w) != two.GetCardinality() {
		return fmt.Errorf("seq %d: at-least-2 is not inside the window", sn.Seq())
	}
	if !w.Equals(e.Events.Window(nil, from, today)) {
		return fmt.Errorf("seq %d: the same query answered twice differently", sn.Seq())
	}
	return nil
}
