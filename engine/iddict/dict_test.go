package iddict

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestAssign(t *testing.T) {
	long := strings.Repeat("x", MaxIDLen)
	tests := []struct {
		name    string
		id      string
		row     uint32
		created bool
		err     error
	}{
		{name: "first id gets row 0", id: "u000000001", row: 0, created: true},
		{name: "second id gets row 1", id: "u000000002", row: 1, created: true},
		{name: "repeat returns existing row", id: "u000000001", row: 0},
		{name: "chinese id", id: "用户-张三", row: 2, created: true},
		{name: "ids differ by case", id: "U000000001", row: 3, created: true},
		{name: "prefix of existing id", id: "u00000000", row: 4, created: true},
		{name: "one byte", id: "a", row: 5, created: true},
		{name: "invalid utf-8 bytes", id: "\xff\xfe\x00", row: 6, created: true},
		{name: "MaxIDLen bytes", id: long, row: 7, created: true},
		{name: "MaxIDLen bytes again", id: long, row: 7},
		{name: "empty id", id: "", err: ErrEmptyID},
		{name: "MaxIDLen+1 bytes", id: long + "x", err: ErrIDTooLong},
		{name: "far too long", id: strings.Repeat("长", MaxIDLen), err: ErrIDTooLong},
		{name: "rows stay dense after errors", id: "b", row: 8, created: true},
	}
	// The cases run in order on one Dict: rows depend on what came before.
	d := New(Options{})
	for _, tc := range tests {
		before := d.Len()
		row, created, err := d.Assign(tc.id)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Fatalf("%s: Assign err = %v, want %v", tc.name, err, tc.err)
			}
			if d.Len() != before {
				t.Fatalf("%s: failed Assign changed Len from %d to %d", tc.name, before, d.Len())
			}
			continue
		}
		if err != nil || row != tc.row || created != tc.created {
			t.Fatalf("%s: Assign = (%d, %t, %v), want (%d, %t, nil)", tc.name, row, created, err, tc.row, tc.created)
		}
		if got, ok := d.Lookup(tc.id); !ok || got != tc.row {
			t.Fatalf("%s: Lookup = (%d, %t), want (%d, true)", tc.name, got, ok, tc.row)
		}
		if got := d.External(tc.row); got != tc.id {
			t.Fatalf("%s: External(%d) = %q, want %q", tc.name, tc.row, got, tc.id)
		}
	}
}

func TestAssignErrorMessages(t *testing.T) {
	d := New(Options{})
	_, _, err := d.Assign(strings.Repeat("z", 5000))
	// The message must say what was wrong without echoing 5000 bytes.
	if msg := err.Error(); !strings.Contains(msg, "5000 bytes") || len(msg) > 200 {
		t.Errorf("too-long error = %q, want the length and a short excerpt", msg)
	}
}

func TestLookupMissing(t *testing.T) {
	d := New(Options{})
	for _, id := range []string{"a", "b", "用户"} {
		if _, _, err := d.Assign(id); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, id string }{
		{"empty", ""},
		{"never assigned", "c"},
		{"prefix", "用"},
		{"extension", "ab"},
		{"too long", strings.Repeat("a", MaxIDLen+1)},
	} {
		if row, ok := d.Lookup(tc.id); ok {
			t.Errorf("%s: Lookup(%q) = (%d, true), want not found", tc.name, tc.id, row)
		}
		if row, ok := d.LookupBytes([]byte(tc.id)); ok {
			t.Errorf("%s: LookupBytes(%q) = (%d, true), want not found", tc.name, tc.id, row)
		}
	}
	if _, ok := d.LookupBytes(nil); ok {
		t.Error("LookupBytes(nil) found a row")
	}
}

func TestOutOfRangeRows(t *testing.T) {
	d := New(Options{})
	if _, _, err := d.Assign("only"); err != nil {
		t.Fatal(err)
	}
	v := d.View()
	var zero View
	for _, row := range []uint32{1, 2, 1 << 16, MaxRows - 1, MaxRows} {
		if got := d.External(row); got != "" {
			t.Errorf("Dict.External(%d) = %q, want \"\"", row, got)
		}
		if got := v.External(row); got != "" {
			t.Errorf("View.External(%d) = %q, want \"\"", row, got)
		}
		if got := zero.External(row); got != "" {
			t.Errorf("zero View.External(%d) = %q, want \"\"", row, got)
		}
		dst := []byte("keep")
		if got := d.AppendExternal(dst, row); string(got) != "keep" {
			t.Errorf("Dict.AppendExternal(%d) = %q, want dst unchanged", row, got)
		}
		if got := v.AppendExternal(dst, row); string(got) != "keep" {
			t.Errorf("View.AppendExternal(%d) = %q, want dst unchanged", row, got)
		}
	}
	if zero.Len() != 0 || zero.External(0) != "" {
		t.Error("zero View is not empty")
	}
}

func TestNewOptions(t *testing.T) {
	for _, expected := range []int{-1, 0, 1, 12, 13, 1000, 1 << 16, 1<<16 + 1} {
		d := New(Options{ExpectedSize: expected})
		slots := len(d.slots)
		for i := range max(expected, 100) {
			if _, _, err := d.Assign(fmt.Sprintf("id-%d", i)); err != nil {
				t.Fatalf("ExpectedSize=%d: %v", expected, err)
			}
		}
		// Pre-sizing exists so that filling to ExpectedSize never rehashes.
		if expected > 0 && d.Len() == uint32(expected) && len(d.slots) != slots {
			t.Errorf("ExpectedSize=%d: table grew from %d to %d slots", expected, slots, len(d.slots))
		}
		if len(d.slots)&(len(d.slots)-1) != 0 || int(d.Len()) > len(d.slots)/4*3 {
			t.Errorf("ExpectedSize=%d: %d rows in %d slots breaks the power-of-two/load invariant",
				expected, d.Len(), len(d.slots))
		}
	}
}

// TestFull fakes a full dictionary: 2^32-1 real rows would need ~100 GiB.
func TestFull(t *testing.T) {
	d := New(Options{})
	if _, _, err := d.Assign("existing"); err != nil {
		t.Fatal(err)
	}
	d.n, d.indexed = MaxRows, MaxRows // white-box: pretend every row is taken
	_, _, err := d.Assign("new")
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Assign on a full Dict: err = %v, want ErrFull", err)
	}
	if d.Len() != MaxRows {
		t.Fatalf("failed Assign changed Len to %d", d.Len())
	}
	// Existing ids still resolve: a full dictionary is not a broken one.
	if row, created, err := d.Assign("existing"); err != nil || created || row != 0 {
		t.Fatalf("Assign(existing) on a full Dict = (%d, %t, %v), want (0, false, nil)", row, created, err)
	}
}

// TestChunkBoundaries covers rows on both sides of chunk boundaries, where
// chunks are sealed (trimmed) and new ones started.
func TestChunkBoundaries(t *testing.T) {
	const n = 3*chunkRows + 5
	d := New(Options{})
	views := map[uint32]View{}
	for i := range n {
		row, created, err := d.Assign(testID(i))
		if err != nil || !created || row != uint32(i) {
			t.Fatalf("Assign(%q) = (%d, %t, %v), want (%d, true, nil)", testID(i), row, created, err, i)
		}
		if r := uint32(i + 1); r%chunkRows <= 1 || r%chunkRows == chunkRows-1 {
			views[r] = d.View()
		}
	}
	for _, row := range []uint32{0, chunkRows - 1, chunkRows, chunkRows + 1, 2*chunkRows - 1, 2 * chunkRows, n - 1} {
		if got := d.External(row); got != testID(int(row)) {
			t.Errorf("External(%d) = %q, want %q", row, got, testID(int(row)))
		}
	}
	for i := range d.chunks[:len(d.chunks)-1] {
		c := &d.chunks[i]
		if len(c.ends) != chunkRows || cap(c.ends) != chunkRows || cap(c.arena) != len(c.arena) {
			t.Errorf("sealed chunk %d: %d ends (cap %d), arena cap %d len %d; want exactly full",
				i, len(c.ends), cap(c.ends), cap(c.arena), len(c.arena))
		}
	}
	for n, v := range views {
		checkView(t, v, n)
	}
}

// testID is the id the tests give row i when ids are assigned in order.
func testID(i int) string { return fmt.Sprintf("u%09d", i) }

// checkView verifies that v shows exactly rows 0..n-1 with ids testID(row).
func checkView(t *testing.T, v View, n uint32) {
	t.Helper()
	if v.Len() != n {
		t.Fatalf("View.Len() = %d, want %d", v.Len(), n)
	}
	var buf []byte
	for row := range n {
		want := testID(int(row))
		if got := v.External(row); got != want {
			t.Fatalf("view of %d rows: External(%d) = %q, want %q", n, row, got, want)
		}
		buf = v.AppendExternal(buf[:0], row)
		if string(buf) != want {
			t.Fatalf("view of %d rows: AppendExternal(%d) = %q, want %q", n, row, buf, want)
		}
	}
	if got := v.External(n); got != "" {
		t.Fatalf("view of %d rows: External(%d) = %q, want \"\" (row beyond the view)", n, n, got)
	}
}

// randomID draws ids from a mix meant to stress the dictionary: short and
// long, ASCII and multi-byte UTF-8, invalid UTF-8, and shared prefixes.
func randomID(r *rand.Rand) string {
	var b strings.Builder
	switch r.IntN(10) {
	case 0: // long, up to MaxIDLen
		n := 100 + r.IntN(MaxIDLen-100+1)
		for b.Len() < n {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
		return b.String()[:n]
	case 1, 2: // Chinese, 3 bytes a rune
		for range 1 + r.IntN(12) {
			b.WriteRune(rune(0x4e00 + r.IntN(0x9fff-0x4e00)))
		}
	case 3: // arbitrary bytes, usually invalid UTF-8
		for range 1 + r.IntN(16) {
			b.WriteByte(byte(r.IntN(256)))
		}
	case 4: // emoji and mixed scripts
		for range 1 + r.IntN(6) {
			b.WriteString([]string{"😀", "é", "ß", "用户", "-", "0"}[r.IntN(6)])
		}
	default: // the common shape, short and with shared prefixes
		fmt.Fprintf(&b, "u%0*d", 1+r.IntN(9), r.IntN(200_000))
	}
	return b.String()
}

// TestAgainstReference runs 100k random operations against a Dict and a
// plain map plus slice, which are obviously right, and compares every answer.
// Assigns dominate the mix so that the rows cross a chunk boundary.
func TestAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 1))
	d := New(Options{})
	ref := map[string]uint32{}
	var rows []string // rows[row] = id
	type snapshot struct {
		v    View
		rows int
	}
	var snaps []snapshot
	var buf []byte

	for op := range 100_000 {
		switch k := r.IntN(1000); {
		case k < 730: // assign a random id (sometimes already present)
			id := randomID(r)
			want, exists := ref[id]
			row, created, err := d.Assign(id)
			if err != nil {
				t.Fatalf("op %d: Assign(%q): %v", op, id, err)
			}
			if !exists {
				want = uint32(len(rows))
				ref[id] = want
				rows = append(rows, id)
			}
			if row != want || created == exists {
				t.Fatalf("op %d: Assign(%q) = (%d, %t), want (%d, %t)", op, id, row, created, want, !exists)
			}
		case k < 780: // re-assign a known id
			if len(rows) == 0 {
				continue
			}
			want := uint32(r.IntN(len(rows)))
			row, created, err := d.Assign(rows[want])
			if err != nil || created || row != want {
				t.Fatalf("op %d: re-Assign(%q) = (%d, %t, %v), want (%d, false, nil)", op, rows[want], row, created, err, want)
			}
		case k < 790: // invalid ids never change anything
			id := ""
			if k%2 == 0 {
				id = strings.Repeat("y", MaxIDLen+1+r.IntN(10))
			}
			if _, _, err := d.Assign(id); err == nil {
				t.Fatalf("op %d: Assign of %d-byte id succeeded", op, len(id))
			}
		case k < 890: // lookup, by string and by bytes, hit or miss
			id := randomID(r)
			if len(rows) > 0 && r.IntN(2) == 0 {
				id = rows[r.IntN(len(rows))]
			}
			want, wantOK := ref[id]
			if row, ok := d.Lookup(id); ok != wantOK || row != want {
				t.Fatalf("op %d: Lookup(%q) = (%d, %t), want (%d, %t)", op, id, row, ok, want, wantOK)
			}
			if row, ok := d.LookupBytes([]byte(id)); ok != wantOK || row != want {
				t.Fatalf("op %d: LookupBytes(%q) = (%d, %t), want (%d, %t)", op, id, row, ok, want, wantOK)
			}
		case k < 998: // reverse mapping, including just past the end
			row := uint32(r.IntN(len(rows) + 2))
			want := ""
			if int(row) < len(rows) {
				want = rows[row]
			}
			if got := d.External(row); got != want {
				t.Fatalf("op %d: External(%d) = %q, want %q", op, row, got, want)
			}
			buf = d.AppendExternal(buf[:0], row)
			if string(buf) != want {
				t.Fatalf("op %d: AppendExternal(%d) = %q, want %q", op, row, buf, want)
			}
		default: // take a view to check, after all the later assigns, at the end
			snaps = append(snaps, snapshot{d.View(), len(rows)})
		}
		if d.Len() != uint32(len(rows)) {
			t.Fatalf("op %d: Len = %d, want %d", op, d.Len(), len(rows))
		}
	}

	if len(rows) <= chunkRows {
		t.Fatalf("only %d rows: the test no longer crosses a chunk boundary", len(rows))
	}
	for id, want := range ref {
		if row, ok := d.Lookup(id); !ok || row != want {
			t.Fatalf("final Lookup(%q) = (%d, %t), want (%d, true)", id, row, ok, want)
		}
	}
	for row, id := range rows {
		if got := d.External(uint32(row)); got != id {
			t.Fatalf("final External(%d) = %q, want %q", row, got, id)
		}
	}
	for _, s := range snaps {
		if s.v.Len() != uint32(s.rows) {
			t.Fatalf("view taken at %d rows has Len %d", s.rows, s.v.Len())
		}
		for row := range s.rows {
			if got := s.v.External(uint32(row)); got != rows[row] {
				t.Fatalf("view taken at %d rows: External(%d) = %q, want %q", s.rows, row, got, rows[row])
			}
		}
	}
}

// TestConcurrentViews has one writer assign while readers resolve rows
// through Views the writer publishes. Run it with -race: the point is that
// readers never touch memory the writer writes. The assertions do not depend
// on scheduling, only how many reads happen does.
func TestConcurrentViews(t *testing.T) {
	const (
		rows    = 2*chunkRows + 1000 // crosses chunk seals while views are live
		readers = 4
		publish = 997 // rows between published views; odd to drift across boundaries
	)
	d := New(Options{ExpectedSize: 10}) // small: the table grows under the readers too
	var latest atomic.Pointer[View]
	empty := d.View()
	latest.Store(&empty)
	var done atomic.Bool

	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for g := range readers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			var buf []byte
			// Besides the latest view, check a few older ones: they must
			// stay valid however far the writer has gone since.
			var views [4]View
			for i := 0; !done.Load() || i == 0; i++ {
				views[0] = *latest.Load()
				if r.IntN(8) == 0 {
					views[1+r.IntN(len(views)-1)] = views[0]
				}
				for _, v := range views {
					n := v.Len()
					if n == 0 {
						continue
					}
					row := uint32(r.IntN(int(n)))
					want := testID(int(row))
					if got := v.External(row); got != want {
						errs <- fmt.Errorf("reader %d: view of %d rows: External(%d) = %q, want %q", g, n, row, got, want)
						return
					}
					// The last row is the one nearest the writer's appends.
					buf = v.AppendExternal(buf[:0], n-1)
					if want := testID(int(n - 1)); string(buf) != want {
						errs <- fmt.Errorf("reader %d: view of %d rows: AppendExternal(last) = %q, want %q", g, n, buf, want)
						return
					}
					if got := v.External(n); got != "" {
						errs <- fmt.Errorf("reader %d: view of %d rows shows row %d = %q", g, n, n, got)
						return
					}
				}
			}
		})
	}

	for i := range rows {
		if _, _, err := d.Assign(testID(i)); err != nil {
			t.Fatal(err)
		}
		// Re-assigning and looking up are writer-side reads; they must
		// not disturb readers either.
		if i%3 == 0 {
			if row, created, err := d.Assign(testID(i / 2)); err != nil || created || row != uint32(i/2) {
				t.Fatalf("re-Assign(%q) = (%d, %t, %v)", testID(i/2), row, created, err)
			}
		}
		if (i+1)%publish == 0 {
			v := d.View()
			latest.Store(&v)
		}
	}
	v := d.View()
	latest.Store(&v)
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkView(t, v, rows)
}

func TestNoAllocs(t *testing.T) {
	d := New(Options{})
	for i := range chunkRows + 10 {
		if _, _, err := d.Assign(testID(i)); err != nil {
			t.Fatal(err)
		}
	}
	v := d.View()
	hit := []byte(testID(chunkRows + 3))
	miss := []byte("u-not-there")
	hitStr := string(hit)
	dst := make([]byte, 0, 64)
	var sink uint32
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"LookupBytes hit", func() { r, _ := d.LookupBytes(hit); sink += r }},
		{"LookupBytes miss", func() { r, _ := d.LookupBytes(miss); sink += r }},
		{"Lookup hit", func() { r, _ := d.Lookup(hitStr); sink += r }},
		{"Assign existing", func() { r, _, _ := d.Assign(hitStr); sink += r }},
		{"Dict.AppendExternal", func() { dst = d.AppendExternal(dst[:0], chunkRows+3) }},
		{"View.AppendExternal", func() { dst = v.AppendExternal(dst[:0], 7) }},
		{"View", func() { v = d.View() }},
	} {
		if got := testing.AllocsPerRun(100, tc.f); got != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tc.name, got)
		}
	}
	if !bytes.Equal(dst, []byte(testID(7))) {
		t.Errorf("AppendExternal wrote %q, want %q", dst, testID(7))
	}
	_ = sink
}

func TestMemoryBytes(t *testing.T) {
	d := New(Options{})
	const n = chunkRows + 100
	idBytes := 0
	for i := range n {
		id := testID(i)
		idBytes += len(id)
		if _, _, err := d.Assign(id); err != nil {
			t.Fatal(err)
		}
	}
	// Lower bound: ids, 4 B offsets and the table must all be counted.
	least := idBytes + 4*n + 8*len(d.slots)
	if got := d.MemoryBytes(); got < least || got > least+least/2 {
		t.Errorf("MemoryBytes = %d, want at least %d and not wildly more", got, least)
	}
}
