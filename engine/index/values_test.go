package index

import (
	"fmt"
	"strings"
	"testing"
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
