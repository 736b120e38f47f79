package runner

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/schema"
)

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for p, want := range map[int]time.Duration{50: 50, 95: 95, 99: 99, 100: 100} {
		if got := percentile(s, p); got != want {
			t.Errorf("p%d of 1..100 = %d, want %d", p, got, want)
		}
	}
	three := []time.Duration{1, 2, 3}
	if percentile(three, 50) != 2 || percentile(three, 95) != 3 || percentile(three[:1], 99) != 1 {
		t.Errorf("nearest rank of 3 samples: p50 %d p95 %d", percentile(three, 50), percentile(three, 95))
	}
}

func TestAndPopcount(t *testing.T) {
	a := []uint64{0b1111, 1 << 63}
	b := []uint64{0b0110, 1 << 63}
	c := []uint64{0b0100, 0}
	acc := make([]uint64, 2)
	if n := AndPopcount(acc, [][]uint64{a, b}, []bool{false, false}); n != 3 {
		t.Errorf("a AND b: %d, want 3", n)
	}
	if n := AndPopcount(acc, [][]uint64{a, b, c}, []bool{false, false, true}); n != 2 {
		t.Errorf("a AND b AND NOT c: %d, want 2", n)
	}
}

// TestAndPopcountBlocks checks the block-wise floor against a bit by bit
// count over sets longer than one block, with a subtracted term.
func TestAndPopcountBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const words = 2500
	sets := make([][]uint64, 4)
	for i := range sets {
		sets[i] = make([]uint64, words)
		for w := range sets[i] {
			sets[i][w] = r.Uint64()
		}
	}
	minus := []bool{false, false, true, false}
	want := 0
	for w := range words {
		for bit := range 64 {
			in := true
			for i, s := range sets {
				if (s[w]>>bit&1 == 1) == minus[i] {
					in = false
				}
			}
			if in {
				want++
			}
		}
	}
	if got := AndPopcount(make([]uint64, words), sets, minus); got != want {
		t.Fatalf("AndPopcount = %d, want %d", got, want)
	}
}

// mixDataset returns a snapshot of 3,000 generated profiles and the
// generator's reference day, for the mix's queries.
func mixDataset(t *testing.T) (*engine.Snapshot, schema.Day) {
	t.Helper()
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := engine.New(engine.Options{Clock: gen.DefaultNow}).Create(Dataset, sc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bench.Load(ds, gen.Options{Profiles: 3000, Seed: 2}, engine.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	return ds.Snapshot(), schema.DayOf(gen.DefaultNow(), sc.Location())
}

// TestFloorCountsMatch checks that the floor of every count query of the
// mix counts what the engine counts (no query of the mix has an OR), so
// the floor reads the same sets the query answers.
func TestFloorCountsMatch(t *testing.T) {
	ctx := context.Background()
	sn, now := mixDataset(t)
	names := map[string]bool{}
	for _, q := range Mix() {
		if names[q.Name] {
			t.Errorf("two queries named %s", q.Name)
		}
		names[q.Name] = true
		if q.Kind != KindCount {
			continue
		}
		cq, err := exec.Compile(sn, q.Text, exec.Options{Now: &now})
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		want, err := cq.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dense, minus, err := DenseLeaves(ctx, cq)
		if err != nil {
			t.Fatal(err)
		}
		if got := AndPopcount(make([]uint64, len(dense[0])), dense, minus); uint64(got) != want {
			t.Errorf("%s: floor counts %d, the engine %d", q.Name, got, want)
		}
	}
}

// TestSlabPasses: the first count's floor, cut into slabs of blocks,
// counts what roaring counts for the same AND and AND-NOT over several
// blocks (rows not a multiple of a block), whatever the slab size, and
// hands each slab's bitsets over exactly once.
func TestSlabPasses(t *testing.T) {
	const rows = 5*65536 + 1234
	r := rand.New(rand.NewPCG(3, 4))
	var bms []*roaring.Bitmap
	for _, per := range []int{2, 3, 5, 1000} { // rows per set bit: bitmap, array and sparse containers
		b := roaring.New()
		for row := 0; row < rows; row++ {
			if r.IntN(per) == 0 {
				b.Add(uint32(row))
			}
		}
		b.AddRange(3*65536, 3*65536+5000) // a run container
		b.RunOptimize()
		bms = append(bms, b)
	}
	minus := []bool{false, false, true, false}
	want := roaring.And(bms[0], bms[1])
	want.AndNot(bms[2])
	want.And(bms[3])
	for _, maxBytes := range []int{1, 4 * 8192 * 2, 1 << 30} {
		passes, words := 0, 0
		got, err := slabPasses(bms, minus, rows, maxBytes, func(slab [][]uint64) error {
			passes++
			words += len(slab[0])
			return nil
		})
		if err != nil || uint64(got) != want.GetCardinality() {
			t.Errorf("slabs of %d bytes: counted %d (%v), want %d", maxBytes, got, err, want.GetCardinality())
		}
		if words != (rows+63)/64 {
			t.Errorf("slabs of %d bytes: %d words passed over, want %d", maxBytes, words, (rows+63)/64)
		}
		if maxBytes == 1 && passes != 6 {
			t.Errorf("one block a slab: %d passes, want 6", passes)
		}
	}
}

// TestFirstFloor: every count of the mix whose leaves read stored bit
// slices or day bitmaps has a first count's floor, and it counts what
// the AND (AND-NOT) of those bitmaps holds; lookups have none.
func TestFirstFloor(t *testing.T) {
	ctx := context.Background()
	sn, now := mixDataset(t)
	floors := 0
	for _, q := range Mix() {
		if q.Kind != KindCount {
			continue
		}
		cq, err := exec.Compile(sn, q.Text, exec.Options{Now: &now, Fresh: true})
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		bms, minus, stored, err := StoredLeaves(ctx, cq)
		if err != nil {
			t.Fatal(err)
		}
		_, got, ok, err := FirstFloor(ctx, cq, 1, 0)
		if err != nil || ok != stored {
			t.Fatalf("%s: first floor %v (%v), stored inputs %v", q.Name, ok, err, stored)
		}
		if !ok {
			continue
		}
		floors++
		want := bms[0].Clone()
		for i, b := range bms[1:] {
			if minus[1+i] {
				want.AndNot(b)
			} else {
				want.And(b)
			}
		}
		if uint64(got) != want.GetCardinality() {
			t.Errorf("%s: first floor counts %d, the AND of its %d stored inputs %d", q.Name, got, len(bms), want.GetCardinality())
		}
	}
	if floors < 8 {
		t.Errorf("%d counts of the mix have a first count's floor; its ranges and windows are more", floors)
	}
}

// TestMachineMemLimit: the report names the Go memory limit when one is
// set (the 100M runs set GOMEMLIMIT), in the JSON and the table, and
// leaves it out otherwise.
func TestMachineMemLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)

	debug.SetMemoryLimit(math.MaxInt64)
	if m := machine(); m.GoMemLimit != 0 {
		t.Fatalf("no limit set, report says %d", m.GoMemLimit)
	}
	debug.SetMemoryLimit(11 << 30)
	r := &Report{Machine: machine()}
	if r.Machine.GoMemLimit != 11<<30 {
		t.Fatalf("limit 11 GiB, report says %d", r.Machine.GoMemLimit)
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "GOMEMLIMIT 11.00 GiB") {
		t.Fatalf("table does not name the limit:\n%s", b.String())
	}
}
