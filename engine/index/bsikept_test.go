package index

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestKeptRange: a range is kept from its second use, equals the range
// computed, is shared on later uses, and is found under any bounds that
// cut to the same stored values; ranges holding every value or none are
// never kept.
func TestKeptRange(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := NewBSI(-50, 1000)
	for row := range uint32(30_000) {
		if r.IntN(8) != 0 {
			x.Set(row, 10+r.Int64N(500)) // stored values 10..509
		}
	}
	v := x.View()
	for range 40 {
		lo := r.Int64N(600) - 20
		hi := lo + r.Int64N(300)
		want := v.Between(lo, hi)
		first := v.KeptRange(lo, hi)
		second := v.KeptRange(lo, hi)
		third := v.KeptRange(lo, hi)
		cut := lo <= 10 && hi >= 509
		switch {
		case cut || want.IsEmpty() && (hi < 10 || lo > 509):
			if second != nil {
				t.Fatalf("[%d,%d]: kept a range that needs no keeping", lo, hi)
			}
			continue
		case first != nil && first != second:
			t.Fatalf("[%d,%d]: a range seen before came back rebuilt", lo, hi)
		case second == nil || third != second:
			t.Fatalf("[%d,%d]: not kept from its second use (%v, %v)", lo, hi, second != nil, third == second)
		case !second.Equals(want):
			t.Fatalf("[%d,%d]: kept %d rows, want %d", lo, hi, second.GetCardinality(), want.GetCardinality())
		}
		// Bounds past the stored values name the same entry.
		if lo <= 10 && v.KeptRange(math.MinInt64, hi) != second {
			t.Fatalf("[min,%d] missed the entry of [%d,%d]", hi, lo, hi)
		}
	}
	if got := v.KeptRange(-50, 1000); got != nil {
		t.Fatal("a range over every value was kept")
	}
	if (&BSIView{}).KeptRange(1, 2) != nil {
		t.Fatal("a view with no cache kept a range")
	}
}

// TestKeptRangeNewView: a view that changes starts with nothing kept, and
// an unchanged field's view keeps what it kept.
func TestKeptRangeNewView(t *testing.T) {
	x := NewBSI(0, 100)
	for row := range uint32(1000) {
		x.Set(row, int64(row%100))
	}
	v := x.View()
	v.KeptRange(10, 20)
	kept := v.KeptRange(10, 20)
	if kept == nil || x.View() != v {
		t.Fatal("no change, yet a new view or nothing kept")
	}
	x.Set(5, 15)
	w := x.View()
	if w.KeptRange(10, 20) != nil {
		t.Fatal("a new view handed out an earlier view's range")
	}
	if got, want := w.KeptRange(10, 20), w.Between(10, 20); !got.Equals(want) || kept.Equals(want) {
		t.Fatalf("new view's range %d rows, want %d (old %d)", got.GetCardinality(), want.GetCardinality(), kept.GetCardinality())
	}
}

// TestCompareBounds checks the interval of every comparison against the
// comparison itself, at the ends of int64 too.
func TestCompareBounds(t *testing.T) {
	for _, c := range []int64{math.MinInt64, -3, 0, 7, math.MaxInt64} {
		for _, op := range []Op{EQ, NE, LT, LE, GT, GE} {
			lo, hi, ok := CompareBounds(op, c)
			for _, v := range []int64{math.MinInt64, c - 1, c, c + 1, math.MaxInt64} {
				if (c == math.MinInt64 && v == c-1) || (c == math.MaxInt64 && v == c+1) {
					continue // wrapped
				}
				in := ok && lo <= v && v <= hi
				if op == NE {
					if ok {
						t.Fatal("!= has bounds")
					}
					continue
				}
				if in != holds(op, v, c) {
					t.Fatalf("%s %d: [%d,%d] ok=%v wrong for %d", op, c, lo, hi, ok, v)
				}
			}
		}
	}
}

// TestKeptDenseResult: a result dense enough that every container is a
// bitset is still kept, at any size (the budget's quarter must exceed a
// whole bitset of the rows).
func TestKeptDenseResult(t *testing.T) {
	for _, rows := range []uint64{1 << 16, 10_000_000, 100_000_000} {
		c := newKeptCache[int](rows)
		b := roaring.FromDense(func() []uint64 {
			w := make([]uint64, (rows+63)/64)
			for i := range w {
				w[i] = 0x5555555555555555
			}
			return w
		}(), false)
		c.put(1, keptEntry{b: b})
		if c.get(1) == nil {
			t.Fatalf("%d rows: a dense result of %d bytes was not kept (budget %d)", rows, b.GetSizeInBytes(), c.budget)
		}
	}
}

// TestKeptWords checks which kept results are also kept as words, that
// the words hold the result's rows, and that a result whose words would
// not fit a quarter of the budget is still kept, without them.
func TestKeptWords(t *testing.T) {
	const rows = 1 << 24 // large enough for the budget not to be minKeptBytes
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		every     int
		wantWords bool
	}{{4, true}, {100, true}, {1000, false}, {20, false}} {
		kc := newKeptCache[int](rows)
		want := roaring.New()
		for row := 0; row < rows; row += 1 + r.IntN(2*c.every-1) {
			want.Add(uint32(row))
		}
		build := func() *roaring.Bitmap { return want.Clone() }
		kc.use(1, build)
		b := kc.use(1, build)
		if b == nil || !b.Equals(want) {
			t.Fatalf("every %d: kept result differs from the built one", c.every)
		}
		if kc.get(1) == nil {
			t.Fatalf("every %d: result not kept", c.every)
		}
		w := kc.wordsOf(1)
		if (w != nil) != c.wantWords {
			t.Fatalf("every %d: words kept %v, want %v", c.every, w != nil, c.wantWords)
		}
		if w != nil {
			got := wordsOf(want, len(w))
			if !slices.Equal(got, w) {
				t.Fatalf("every %d: words differ from the rows", c.every)
			}
		}
		if kc.used > kc.budget/4 {
			t.Fatalf("every %d: %d bytes used, over a quarter of %d", c.every, kc.used, kc.budget)
		}
		// A builder with the words at hand (an event window's dense
		// union): they are kept as given when of the view's length,
		// written again when not.
		for _, short := range []bool{false, true} {
			kc := newKeptCache[int](rows)
			var given []uint64
			build := func(n int) (*roaring.Bitmap, []uint64) {
				if short {
					n--
				}
				given = wordsOf(want, n)
				return roaring.FromDense(given, false), given
			}
			kc.useWords(1, build)
			if b := kc.useWords(1, build); b == nil || !b.Equals(want) {
				t.Fatalf("every %d, short %v: kept result differs from the built one", c.every, short)
			}
			w := kc.wordsOf(1)
			if (w != nil) != c.wantWords {
				t.Fatalf("every %d, short %v: words kept %v, want %v", c.every, short, w != nil, c.wantWords)
			}
			if w == nil {
				continue
			}
			if len(w) != rows/64+1 || !slices.Equal(w, wordsOf(want, len(w))) {
				t.Fatalf("every %d, short %v: %d words kept, differing from the rows", c.every, short, len(w))
			}
			if same := &w[0] == &given[0]; same == short {
				t.Fatalf("every %d, short %v: kept the given words %v", c.every, short, same)
			}
		}
	}
}

// TestKeptWordsOnlyWithRoom: sparse results asked for again and again in
// a cycle (a lookalike's windows), more of them with their words than
// the budget holds, end up kept as bitmaps alone, all of them, instead
// of pushing each other out and being built again on every round; their
// answers stay right.
func TestKeptWordsOnlyWithRoom(t *testing.T) {
	const rows = 1 << 24 // budget 10 MiB; words 2 MiB a result
	r := rand.New(rand.NewPCG(23, 24))
	kc := newKeptCache[int](rows)
	results := make([]*roaring.Bitmap, 10)
	for i := range results {
		results[i] = roaring.New()
		for row := r.IntN(100); row < rows; row += 1 + r.IntN(199) {
			results[i].Add(uint32(row))
		}
	}
	builds := 0
	for round := range 5 {
		builds = 0
		for i, want := range results {
			b := kc.use(i, func() *roaring.Bitmap { builds++; return want.Clone() })
			if round > 0 && !b.Equals(want) {
				t.Fatalf("round %d, result %d: answer differs", round, i)
			}
		}
		if kc.used > kc.budget {
			t.Fatalf("round %d: %d bytes held, budget %d", round, kc.used, kc.budget)
		}
	}
	if builds != 0 {
		t.Fatalf("%d of %d results built again in the last round", builds, len(results))
	}
	for i, want := range results {
		if w := kc.wordsOf(i); w != nil && !slices.Equal(w, wordsOf(want, len(w))) {
			t.Fatalf("result %d: kept words differ from its rows", i)
		}
	}
}

// TestCountCompareQuiet: a quiet count is the count of the comparison,
// on every call (the second from the view's memo), for every operator,
// including constants outside the stored values; and it never makes the
// view keep a range.
func TestCountCompareQuiet(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	x := NewBSI(-50, 1000)
	for row := range uint32(20_000) {
		if r.IntN(6) != 0 {
			x.Set(row, 10+r.Int64N(500))
		}
	}
	v := x.View()
	for range 60 {
		op := []Op{EQ, NE, LT, LE, GT, GE}[r.IntN(6)]
		c := r.Int64N(700) - 80
		want := v.CompareWithin(op, c, nil).GetCardinality()
		for use := range 3 {
			if got := v.CountCompareQuiet(op, c); got != want {
				t.Fatalf("%v %d use %d: %d, want %d", op, c, use, got, want)
			}
		}
	}
	if len(v.kept.entries) != 0 {
		t.Fatalf("quiet counts kept %d ranges", len(v.kept.entries))
	}
	if len(v.kept.counts) == 0 {
		t.Fatal("no count was remembered")
	}
}
