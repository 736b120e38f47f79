package exec_test

import (
	"context"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/query"
)

// TestStoredInputs: a window's stored inputs are the day bitmaps it is
// the union of, a frequency's cover its answer, a range's are the
// field's own existence bitmap and bit slices, and a lookup reads
// nothing stored beyond its own bitmap (nil).
func TestStoredInputs(t *testing.T) {
	ctx := context.Background()
	sn := smallDataset(t)
	leaf := func(text string) (*exec.Query, *query.Node, *roaring.Bitmap, []*roaring.Bitmap) {
		t.Helper()
		q, err := exec.Compile(sn, text, exec.Options{Fresh: true})
		if err != nil {
			t.Fatal(err)
		}
		if q.Plan.Root.Op != query.NodeLeaf {
			t.Fatalf("%s: the plan's root is not a leaf", text)
		}
		b, err := q.Bitmap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		in, err := q.StoredInputs(q.Plan.Root)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return q, q.Plan.Root, b, in
	}
	for _, text := range []string{`e('m') IN LAST 30 DAYS`, `e() IN LAST 30 DAYS`, `e('m', 'n') BEFORE '2026-11-21'`} {
		_, _, b, in := leaf(text)
		if len(in) == 0 || !roaring.FastOr(in...).Equals(b) {
			t.Errorf("%s: %d stored inputs whose union is not the window's %v", text, len(in), b.ToArray())
		}
	}
	_, _, b, in := leaf(`e('m') AT LEAST 2 TIMES IN LAST 30 DAYS`)
	if len(in) != 2 || !roaring.FastOr(in...).Contains(0) || b.GetCardinality() != 1 {
		t.Errorf("AT LEAST: %d stored inputs for an answer of %v", len(in), b.ToArray())
	}
	_, _, _, in = leaf(`e('m') IN LAST 1 DAYS`)
	if len(in) != 0 {
		t.Errorf("a window of days without events read %d day bitmaps", len(in))
	}
	for _, text := range []string{`n > 10`, `n BETWEEN 5 AND 15`, `n IN (10, 30)`, `n NOT BETWEEN 5 AND 15`} {
		_, _, _, in := leaf(text)
		fv, err := sn.Field("n")
		if err != nil {
			t.Fatal(err)
		}
		bits := fv.BSI.Slices()
		if len(in) != 1+len(bits) || in[0] != fv.BSI.Exists() {
			t.Fatalf("%s: %d stored inputs, want the existence bitmap and %d slices", text, len(in), len(bits))
		}
		for i, s := range bits {
			if in[1+i] != s {
				t.Errorf("%s: input %d is not slice %d", text, 1+i, i)
			}
		}
	}
	for _, text := range []string{`t IN ('上海', '杭州')`, `t NOT IN ('上海', '杭州')`} {
		_, _, b, in := leaf(text)
		fv, err := sn.Field("t")
		if err != nil {
			t.Fatal(err)
		}
		want := []*roaring.Bitmap{fv.Values.Bitmap("上海"), fv.Values.Bitmap("杭州")}
		union := roaring.FastOr(in...)
		if text[2] == 'N' {
			want = append([]*roaring.Bitmap{fv.Exists()}, want...)
			union = roaring.AndNot(in[0], roaring.FastOr(in[1:]...))
		}
		if !slices.Equal(in, want) || !union.Equals(b) {
			t.Errorf("%s: stored inputs are not the values' bitmaps", text)
		}
	}
	for _, text := range []string{`t = '上海'`, `t IN ('上海')`, `b`, `n IS NULL`, `e('m')`} {
		if _, _, _, in := leaf(text); in != nil {
			t.Errorf("%s: %d stored inputs, want none (nil)", text, len(in))
		}
	}
	q, _, _, _ := leaf(`n > 10`)
	if _, err := q.StoredInputs(&query.Node{Op: query.NodeAnd}); err == nil {
		t.Error("an AND node gave stored inputs")
	}
}
