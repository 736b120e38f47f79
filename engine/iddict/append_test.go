package iddict

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestAppendNew: ids appended in batches (across chunk boundaries, more
// than one sorted batch, tables that grow on the way) get the rows Assign
// would give them, and every id is found again, by Lookup and by Assign.
func TestAppendNew(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = maxBatch + 70_000 // two sorted batches in one call
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = fmt.Appendf(nil, "u%d-%x", i, r.Uint64()%1000)
	}
	for _, sizes := range [][]int{{n}, {1, 65_535, 65_536, 3, n - 131_075}} {
		d := New(Options{})
		off := 0
		for _, k := range sizes {
			if err := d.AppendNew(ids[off : off+k]); err != nil {
				t.Fatalf("batches %v: %v", sizes, err)
			}
			off += k
		}
		if d.Len() != n {
			t.Fatalf("batches %v: %d rows, want %d", sizes, d.Len(), n)
		}
		for i := 0; i < n; i += 97 {
			if row, ok := d.Lookup(string(ids[i])); !ok || row != uint32(i) {
				t.Fatalf("batches %v: id %s at row %d (%v), want %d", sizes, ids[i], row, ok, i)
			}
			if got := d.External(uint32(i)); got != string(ids[i]) {
				t.Fatalf("row %d holds %q, want %q", i, got, ids[i])
			}
		}
		if row, created, err := d.Assign(string(ids[n-1])); err != nil || created || row != n-1 {
			t.Fatalf("Assign of a known id: row %d created %v err %v", row, created, err)
		}
		if row, created, err := d.Assign("new"); err != nil || !created || row != n {
			t.Fatalf("Assign of a new id: row %d created %v err %v", row, created, err)
		}
	}
}

// TestAppendNewRefuses: a known id, a repeated id within the batch, an
// empty or too long id are errors naming the problem.
func TestAppendNewRefuses(t *testing.T) {
	b := func(ss ...string) [][]byte {
		out := make([][]byte, len(ss))
		for i, s := range ss {
			out[i] = []byte(s)
		}
		return out
	}
	for name, tc := range map[string]struct {
		before []string
		batch  [][]byte
		want   error
		msg    string
	}{
		"known":    {[]string{"a", "b"}, b("c", "a"), nil, `external id "a" of row 3 is row 0 already`},
		"repeated": {nil, b("x", "y", "x"), nil, `is row`},
		"empty":    {nil, b("x", ""), ErrEmptyID, ""},
		"too long": {nil, b(strings.Repeat("z", MaxIDLen+1)), ErrIDTooLong, ""},
	} {
		d := New(Options{})
		for _, id := range tc.before {
			if _, _, err := d.Assign(id); err != nil {
				t.Fatal(err)
			}
		}
		err := d.AppendNew(tc.batch)
		switch {
		case err == nil:
			t.Errorf("%s: no error", name)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		case !strings.Contains(err.Error(), tc.msg):
			t.Errorf("%s: %q lacks %q", name, err, tc.msg)
		}
	}
}

// TestGrowSorted: a table grown past sortedGrowRows (rows rehashed in slot
// order) finds every id, and Assign goes on working across several grows.
func TestGrowSorted(t *testing.T) {
	d := New(Options{})
	const n = 4*sortedGrowRows + 17
	for i := range n {
		if row, created, err := d.Assign(fmt.Sprint("id-", i)); err != nil || !created || row != uint32(i) {
			t.Fatalf("id %d: row %d created %v err %v", i, row, created, err)
		}
	}
	for i := range n {
		if row, ok := d.Lookup(fmt.Sprint("id-", i)); !ok || row != uint32(i) {
			t.Fatalf("id %d: row %d %v", i, row, ok)
		}
	}
	if _, ok := d.Lookup("id-x"); ok {
		t.Fatal("an unknown id was found")
	}
}

// TestRadixSort checks the sort on a bit range against a stable sort.
func TestRadixSort(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, bitsRange := range [][2]uint{{0, 11}, {5, 30}, {20, 64}, {3, 4}} {
		keys := make([]uint64, 5000)
		for i := range keys {
			keys[i] = r.Uint64()
		}
		field := func(k uint64) uint64 {
			w := bitsRange[1] - bitsRange[0]
			if w == 64 {
				return k
			}
			return k >> bitsRange[0] & (1<<w - 1)
		}
		want := slices.Clone(keys)
		slices.SortStableFunc(want, func(a, b uint64) int {
			fa, fb := field(a), field(b)
			switch {
			case fa < fb:
				return -1
			case fa > fb:
				return 1
			}
			return 0
		})
		radixSort(keys, bitsRange[0], bitsRange[1])
		if !slices.Equal(keys, want) {
			t.Fatalf("bits %v: not the stable sort", bitsRange)
		}
	}
}

// TestReserve: after Reserve(n) the table takes n rows without growing,
// on an empty Dict and on one holding rows; every id is found and keeps
// its row; a smaller reservation changes nothing.
func TestReserve(t *testing.T) {
	for _, held := range []int{0, 1000} {
		d := New(Options{})
		for i := range held {
			if _, _, err := d.Assign(fmt.Sprintf("h%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		const n = 300_000
		d.Reserve(n)
		slots := len(d.slots)
		if slots < slotsFor(n) {
			t.Fatalf("held %d: %d slots for %d rows", held, slots, n)
		}
		if d.Reserve(10); len(d.slots) != slots {
			t.Fatalf("held %d: a smaller reservation changed the table", held)
		}
		var ids [][]byte
		for i := held; i < n; i++ {
			ids = append(ids, []byte(fmt.Sprintf("r%d", i)))
		}
		if err := d.AppendNew(ids); err != nil {
			t.Fatal(err)
		}
		if len(d.slots) != slots {
			t.Fatalf("held %d: the table grew from %d to %d slots after Reserve", held, slots, len(d.slots))
		}
		for i := range held {
			if row, ok := d.Lookup(fmt.Sprintf("h%d", i)); !ok || row != uint32(i) {
				t.Fatalf("held %d: h%d is row %d (%v)", held, i, row, ok)
			}
		}
		for i := held; i < n; i += 997 {
			if row, ok := d.Lookup(fmt.Sprintf("r%d", i)); !ok || row != uint32(i) {
				t.Fatalf("held %d: r%d is row %d (%v)", held, i, row, ok)
			}
		}
	}
}
