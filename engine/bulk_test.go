package engine_test

import (
	"testing"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
)

// TestBulkMatchesApply applies the same random updates to one dataset
// batch by batch (Apply, published every batch) and to another through a
// Bulk (published every 700 records, its grown tails rebuilt between
// publications at random points): readers of the bulk dataset see only
// what was published, and once it finishes both hold the same state,
// checkpoint for checkpoint and query for query.
func TestBulkMatchesApply(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		h := newHarness(t, seed)
		h.lines.IDs = 3
		e2 := engine.New(engine.Options{Clock: h.clock.Now})
		ds2, err := e2.Create("bulk", h.s)
		if err != nil {
			t.Fatal(err)
		}
		bulk := ds2.Bulk(700)
		published, pending := uint32(0), 0
		for round := range 10 {
			var ups []record.Update
			for range 150 + h.rng.IntN(300) {
				if u, err := record.Decode([]byte(h.lines.Line(500)), h.s); err == nil {
					ups = append(ups, u)
				}
			}
			r1, r2 := h.ds.Apply(ups), bulk.Apply(ups)
			if r1.Applied != r2.Applied || r1.Created != r2.Created || r1.Merged != r2.Merged || len(r1.Errors) != len(r2.Errors) {
				t.Fatalf("seed %d round %d: %+v vs %+v", seed, round, r1, r2)
			}
			pending += len(ups)
			if pending >= 700 {
				pending, published = 0, h.ds.Snapshot().Rows()
			}
			if got := ds2.Snapshot().Rows(); got != published {
				t.Fatalf("seed %d round %d: readers see %d rows, want the %d published", seed, round, got, published)
			}
			if h.rng.IntN(3) == 0 {
				ds2.CompactForTest()
			}
			if round == 5 {
				h.clock.now = h.clock.now.AddDate(0, 0, 20)
			}
		}
		bulk.Finish()
		if bulk.Unpublished() {
			t.Fatal("records unpublished after Finish")
		}
		sn, sn2 := h.ds.Snapshot(), ds2.Snapshot()
		var cp, cp2 memCheckpoint
		if err := sn.WriteCheckpoint(&cp); err != nil {
			t.Fatal(err)
		}
		if err := sn2.WriteCheckpoint(&cp2); err != nil {
			t.Fatal(err)
		}
		sameCheckpoint(t, &cp, &cp2)
		h.sameAnswers(sn, sn2, 50)
	}
}
