package exec_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/internal/testgen"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/reference"
	"github.com/cohortdb/cohort/engine/schema"
)

// TestCountDenseAgainstReference counts ANDs of dense terms (tag and set
// values held by many profiles, != and NOT IN, HAS ALL, and from their
// second use kept ranges, IN lists and windows) in word space, and checks
// each count, repeated so that kept results are built and read, against
// the reference model. The random differential test reaches these paths
// too, but rarely with every term dense.
func TestCountDenseAgainstReference(t *testing.T) {
	s, ds, model, today := modelDataset(t, "dense")
	lines := &testgen.Lines{R: rand.New(rand.NewPCG(3, 9)), Today: func() schema.Day { return today }}
	var ups []record.Update
	for range 3000 {
		if u, err := record.Decode([]byte(lines.Line(2500)), s); err == nil {
			ups = append(ups, u)
		}
	}
	// Two values held by fewer profiles than the word mirrors start at
	// (one in 64): in an IN list beside mirrored values they are written
	// into an array of their own (exec's wordSets).
	for i := range 21 {
		v := "rare"
		if i >= 15 {
			v = "rarer"
		}
		if u, err := record.Decode(fmt.Appendf(nil, `{"id":"p%d","set":{"t":%q}}`, i*19%2500, v), s); err == nil {
			ups = append(ups, u)
		} else {
			t.Fatal(err)
		}
	}
	ds.Apply(ups)
	for _, u := range ups {
		model.Apply(u, today)
	}
	sn := ds.Snapshot()
	refq := &reference.Query{M: model, Now: today}
	for _, text := range []string{
		`t = 'a' AND s HAS 'x'`,
		`t != 'a' AND s HAS 'y'`,
		`t NOT IN ('a', 'b') AND s HAS ALL ('x', 'y')`,
		`t IN ('a', 'b') AND s HAS ANY ('x', 'y') AND n BETWEEN 10 AND 200`,
		`NOT t = 'a' AND s HAS 'x' AND n > 20`,
		`t IN ('a', '上海') AND NOT s HAS 'z' AND d <= 500`,
		`e('m') IN LAST 20 DAYS AND t != '上海' AND s HAS 'x'`,
		`dt IN LAST 3650 DAYS AND n >= 50 AND t != 'b'`,
		`n BETWEEN 0 AND 150 AND d > 100 AND s HAS ANY ('x', '微信')`,
		// Rare values beside mirrored ones, and IN lists subtracted.
		`t IN ('a', 'rare', 'rarer') AND s HAS 'x' AND n > 20`,
		`t IN ('rare', 'b') AND n BETWEEN 0 AND 300`,
		`NOT t IN ('a', 'rare') AND s HAS 'x' AND d <= 700`,
		`NOT t IN ('a', 'b') AND NOT s HAS 'z' AND n >= 0`,
		`NOT t IN ('a', 'b') AND n >= 0`,
		// Two set values alone: counted from their mirrors' AND.
		`s HAS ANY ('x', 'y')`,
		`s HAS ALL ('x', 'y')`,
		`s HAS ANY ('x', '微信')`,
		// Three values: the union or intersection is built.
		`s HAS ANY ('x', 'y', 'z')`,
		`s HAS ALL ('x', 'y', '微信')`,
	} {
		q, err := exec.Compile(sn, text, exec.Options{Now: &today})
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		want, err := refq.Rows(q.Checked)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: no profile matches; the data should make it dense", text)
		}
		for run := range 4 {
			n, err := q.Count(context.Background())
			if err != nil || n != uint64(len(want)) {
				t.Fatalf("%s (run %d)\nplan:\n%scount %d (%v), want %d", text, run, q.Plan, n, err, len(want))
			}
		}
	}
}
