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
	const n = 2*sortedRows + 70_000
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

// TestGrowSorted: a table grown past sortedRows (rows rehashed in slot
// order) finds every id, and Assign goes on working across several grows.
func TestGrowSorted(t *testing.T) {
	d := New(Options{})
	const n = 4*sortedRows + 17
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

// TestIndexBatches: rows indexed in several batches, smaller and larger
// than a region's share, across chunks, are all found at their rows, and
// a repeat across batches is found.
func TestIndexBatches(t *testing.T) {
	const n = 3*chunkRows + 12_345
	for _, batch := range []int{1000, 70_000, n} {
		d := New(Options{})
		var ids [][]byte
		for i := range n {
			ids = append(ids, []byte(fmt.Sprintf("b%d", i)))
		}
		if err := d.AppendUnindexed(ids); err != nil {
			t.Fatal(err)
		}
		d.growTo(slotsFor(n))
		if err := d.insertRows(0, n, batch); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		for i := range n {
			if row, ok := d.Lookup(fmt.Sprintf("b%d", i)); !ok || row != uint32(i) {
				t.Fatalf("batch %d: b%d is row %d (%v)", batch, i, row, ok)
			}
		}
		d = New(Options{})
		ids[n-1] = []byte("b17")
		if err := d.AppendUnindexed(ids); err != nil {
			t.Fatal(err)
		}
		d.growTo(slotsFor(n))
		if err := d.insertRows(0, n, batch); err == nil || !strings.Contains(err.Error(), fmt.Sprintf(`"b17" of row %d is row 17 already`, n-1)) {
			t.Fatalf("batch %d: a repeat: %v", batch, err)
		}
	}
}

// TestAppendUnindexed: ids appended without indexing (a checkpoint's
// chunks, after rows Assign gave) are seen by External and Views at once
// and by Lookup after Index, which grows the table once to its final size;
// lookups before Index panic rather than miss.
func TestAppendUnindexed(t *testing.T) {
	for _, held := range []int{0, 1000} {
		d := New(Options{})
		for i := range held {
			if _, _, err := d.Assign(fmt.Sprintf("h%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		const n = 300_000
		for off := held; off < n; off += 1 << 16 {
			var ids [][]byte
			for i := off; i < min(off+1<<16, n); i++ {
				ids = append(ids, []byte(fmt.Sprintf("r%d", i)))
			}
			if err := d.AppendUnindexed(ids); err != nil {
				t.Fatal(err)
			}
		}
		if d.Len() != n || d.External(n-1) != fmt.Sprintf("r%d", n-1) || d.View().External(uint32(held)) != fmt.Sprintf("r%d", held) {
			t.Fatalf("held %d: %d rows, last %q", held, d.Len(), d.External(n-1))
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("held %d: Lookup before Index did not panic", held)
				}
			}()
			d.Lookup("r5")
		}()
		if err := d.Index(); err != nil {
			t.Fatal(err)
		}
		if len(d.slots) != slotsFor(n) {
			t.Fatalf("held %d: %d slots after Index, want %d", held, len(d.slots), slotsFor(n))
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
		if row, created, err := d.Assign("new"); err != nil || !created || row != n {
			t.Fatalf("Assign after Index: row %d created %v err %v", row, created, err)
		}
	}
}

// TestIndexFindsRepeats: an id held twice, in two chunks far apart or by
// a row Assign gave, is Index's error, naming both rows; a bad id is
// refused by AppendUnindexed without adding anything.
func TestIndexFindsRepeats(t *testing.T) {
	chunk := func(from, to int) [][]byte {
		var ids [][]byte
		for i := from; i < to; i++ {
			ids = append(ids, []byte(fmt.Sprintf("r%d", i)))
		}
		return ids
	}
	d := New(Options{})
	if _, _, err := d.Assign("r7"); err != nil {
		t.Fatal(err)
	}
	_ = d.AppendUnindexed(chunk(1, 100))
	if err := d.Index(); err == nil || !strings.Contains(err.Error(), `"r7" of row 7 is row 0 already`) {
		t.Fatalf("a repeat of an assigned id: %v", err)
	}
	d = New(Options{})
	_ = d.AppendUnindexed(chunk(0, 200_000))
	ids := chunk(200_000, 300_000)
	ids[50_000] = []byte("r123456")
	_ = d.AppendUnindexed(ids)
	err := d.Index()
	if re := (*RepeatedIDError)(nil); !errors.As(err, &re) || re.First != 123456 || re.Row != 250000 || re.ID != "r123456" ||
		!strings.Contains(err.Error(), `"r123456" of row 250000 is row 123456 already`) {
		t.Fatalf("a repeat across chunks: %v", err)
	}
	d = New(Options{})
	if err := d.AppendUnindexed([][]byte{[]byte("a"), nil}); !errors.Is(err, ErrEmptyID) || d.Len() != 0 {
		t.Fatalf("an empty id: %v, %d rows", err, d.Len())
	}
}

// TestIndexParallel: rows indexed with each batch's regions shared out
// among 2, 3 and 5 goroutines (words whose probe crosses into another's
// regions, or off the table's end, set aside and inserted after) are all
// found at their rows, and a repeated id is found wherever the two rows
// fall.
func TestIndexParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const n = 190_000 // a table of 2^18 slots: 8 regions, 72 % full
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = []byte(fmt.Sprintf("p%d-%d", i, r.Uint32()))
	}
	for _, procs := range []int{2, 3, 5} {
		for _, batch := range []int{40_000, n} {
			d := New(Options{})
			if err := d.AppendUnindexed(ids); err != nil {
				t.Fatal(err)
			}
			d.growTo(slotsFor(n))
			if err := d.insertRowsOn(0, n, batch, procs, 1); err != nil {
				t.Fatalf("procs %d batch %d: %v", procs, batch, err)
			}
			for i, id := range ids {
				if row, ok := d.Lookup(string(id)); !ok || row != uint32(i) {
					t.Fatalf("procs %d batch %d: %s is row %d (%v)", procs, batch, id, row, ok)
				}
			}
			if _, ok := d.Lookup("absent"); ok {
				t.Fatal("an unknown id was found")
			}
			for range 5 {
				first := r.IntN(n - 1)
				second := first + 1 + r.IntN(n-first-1)
				dup := slices.Clone(ids)
				dup[second] = dup[first]
				d := New(Options{})
				if err := d.AppendUnindexed(dup); err != nil {
					t.Fatal(err)
				}
				d.growTo(slotsFor(n))
				want := fmt.Sprintf("of row %d is row %d already", second, first)
				if err := d.insertRowsOn(0, n, batch, procs, 1); err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("procs %d batch %d: rows %d and %d share an id: %v", procs, batch, first, second, err)
				}
			}
		}
	}
}
