package index

import (
	"fmt"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestDictLimit: a field refuses values that would take it past
// MaxValues, counting only the values it does not hold yet, also when the
// no-lookup fast path (room for every value) does not apply.
func TestDictLimit(t *testing.T) {
	var d dict
	for i := range MaxValues - 1 {
		d.intern(fmt.Sprint(i))
	}
	if err := d.canAdd("city", "new"); err != nil {
		t.Fatalf("one new value at MaxValues-1: %v", err)
	}
	if err := d.canAdd("city", "0", "1", "new"); err != nil {
		t.Fatalf("two held values and one new: %v", err)
	}
	err := d.canAdd("city", "0", "new", "newer")
	if err == nil || !strings.Contains(err.Error(), "field city would hold more than") {
		t.Fatalf("two new values at MaxValues-1: %v", err)
	}
}

// TestKeptUnion: an IN list's union is kept from its second use, equals
// the union of its values in any order, and starts over with a new view;
// a single value is never kept (its bitmap is already there).
func TestKeptUnion(t *testing.T) {
	x := NewValues("t", false)
	for row := range uint32(5000) {
		x.SetTag(row, []string{"a", "b", "c", "d"}[row%4])
	}
	v := x.View()
	if v.KeptUnion([]string{"a", "c"}) != nil {
		t.Fatal("kept on first use")
	}
	got := v.KeptUnion([]string{"c", "a", "zz"})
	want := roaring.Or(v.Bitmap("a"), v.Bitmap("c"))
	if got != nil {
		t.Fatal("another list (an unknown value more) shares the entry")
	}
	got = v.KeptUnion([]string{"c", "a"})
	if got == nil || !got.Equals(want) || v.KeptUnion([]string{"a", "c"}) != got {
		t.Fatalf("second use: %v, want the union of a and c kept and shared", got)
	}
	if v.KeptUnion([]string{"a"}) != nil || v.KeptUnion([]string{"a"}) != nil {
		t.Fatal("a single value was kept")
	}
	x.SetTag(6000, "a")
	w := x.View()
	if w.KeptUnion([]string{"a", "c"}) != nil {
		t.Fatal("a new view handed out an earlier view's union")
	}
}
