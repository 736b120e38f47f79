package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestWindowCacheBudget: entries are found by their values in any order,
// the oldest leave first when the budget is full, and a union too large
// for a quarter of the budget is not kept.
func TestWindowCacheBudget(t *testing.T) {
	c := &windowCache{budget: 4000, entries: map[windowKey]keptEntry{}}
	bm := func(n int) *roaring.Bitmap {
		b := roaring.New()
		for i := range n {
			b.Add(uint32(i * 3))
		}
		return b
	}
	a, b := bm(100), bm(200) // ~216 and ~416 bytes as arrays
	c.put(newWindowKey([]string{"x", "y"}, 1, 7), keptEntry{b: a})
	if got := c.get(newWindowKey([]string{"y", "x"}, 1, 7)); got != a {
		t.Fatal("values in another order miss the entry")
	}
	if c.get(newWindowKey([]string{"x", "y"}, 1, 8)) != nil || c.get(newWindowKey(nil, 1, 7)) != nil {
		t.Fatal("another window hits the entry")
	}
	c.put(newWindowKey(nil, 1, 7), keptEntry{b: b})
	for i := range 20 {
		c.put(newWindowKey([]string{"z"}, Day(i), 30), keptEntry{b: bm(200)})
	}
	if c.used > c.budget {
		t.Fatalf("%d bytes held, budget %d", c.used, c.budget)
	}
	if c.get(newWindowKey([]string{"x", "y"}, 1, 7)) != nil {
		t.Fatal("the oldest entry stayed past the budget")
	}
	if c.get(newWindowKey([]string{"z"}, 19, 30)) == nil {
		t.Fatal("the newest entry was dropped")
	}
	big := bm(2000)
	c.put(newWindowKey([]string{"big"}, 1, 2), keptEntry{b: big})
	if c.get(newWindowKey([]string{"big"}, 1, 2)) != nil {
		t.Fatal("a union over a quarter of the budget was kept")
	}
}

// TestWindowCacheAnswers asks an events view the same windows again and
// again (first use, second use that builds the union, later uses from the
// cache) and compares every answer with the same view without a cache;
// what a caller gets may be written to without reaching the cache.
func TestWindowCacheAnswers(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	const rows = 200_000
	v, plain := randomEventsView(r, rows, 60_000, 6, 60)
	within := roaring.New()
	for range 5000 {
		within.Add(uint32(r.IntN(rows)))
	}
	words := rows / 64
	for round := range 40 {
		var values []string
		for range r.IntN(3) {
			values = append(values, fmt.Sprint("v", r.IntN(7))) // v6 holds nothing
		}
		from := Day(95 + r.IntN(70))
		to := from + Day(r.IntN(20))
		for use := range 3 {
			if got, want := v.WindowCount(values, from, to), plain.WindowCount(values, from, to); got != want {
				t.Fatalf("round %d use %d: count %d, want %d", round, use, got, want)
			}
			got := v.WindowWithin(values, from, to, nil)
			if !got.Equals(plain.WindowWithin(values, from, to, nil)) {
				t.Fatalf("round %d use %d: window differs", round, use)
			}
			got.Add(rows + 7) // the caller's to write
			for n := 2; n <= 4; n++ {
				a := v.AtLeastWithin(values, n, from, to, nil)
				if !a.Equals(plain.AtLeastWithin(values, n, from, to, nil)) {
					t.Fatalf("round %d use %d: at least %d differs", round, use, n)
				}
				a.Add(rows + 9)
				if !v.AtLeastWithin(values, n, from, to, within).Equals(plain.AtLeastWithin(values, n, from, to, within)) {
					t.Fatalf("round %d use %d: at least %d within differs", round, use, n)
				}
			}
			if !v.WindowWithin(values, from, to, within).Equals(plain.WindowWithin(values, from, to, within)) {
				t.Fatalf("round %d use %d: window within differs", round, use)
			}
			for _, in := range []*roaring.Bitmap{nil, within} {
				for _, n := range []int{words, words / 2} { // rows past the words are dropped
					gw, pw := v.WindowWords(make([]uint64, n), values, from, to, in), plain.WindowWords(make([]uint64, n), values, from, to, in)
					if !slices.Equal(gw, pw) {
						t.Fatalf("round %d use %d: %d words differ", round, use, n)
					}
				}
			}
		}
	}
	if v.windows.used == 0 {
		t.Fatal("nothing was cached")
	}
}

// TestWindowCountQuiet: counts remembered by the view are the counts of
// the windows (values in any order, every window its own), counts within
// a set are those of the window cut to it, neither makes the view keep a
// union, and the memo starts over past maxCounts.
func TestWindowCountQuiet(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	v, plain := randomEventsView(r, 100_000, 30_000, 4, 30)
	within := roaring.New()
	for range 2000 {
		within.Add(uint32(r.IntN(100_000)))
	}
	for round := range 60 {
		values := []string{fmt.Sprint("v", r.IntN(5))}
		if round%3 == 0 {
			values = append(values, fmt.Sprint("v", r.IntN(5)))
		}
		from := Day(95 + r.IntN(40))
		to := from + Day(r.IntN(20))
		want := plain.WindowWithin(values, from, to, nil).GetCardinality()
		for use := range 3 {
			if got := v.WindowCountQuiet(reversed(values), from, to); got != want {
				t.Fatalf("round %d use %d: count %d, want %d", round, use, got, want)
			}
			if got, want := v.WindowCountDaysWithin(values, from, to, v.DaysWithin(within, from, to)), plain.WindowWithin(values, from, to, within).GetCardinality(); got != want {
				t.Fatalf("round %d use %d: count within %d, want %d", round, use, got, want)
			}
		}
		if _, ok := v.CachedWindow(values, from, to); ok {
			t.Fatalf("round %d: a quiet count kept a union", round)
		}
	}
	if len(v.windows.counts) == 0 {
		t.Fatal("no count was remembered")
	}
	for i := range maxCounts + 1 {
		v.WindowCountQuiet([]string{"v0"}, Day(i), Day(i))
	}
	if len(v.windows.counts) > maxCounts {
		t.Fatalf("%d counts remembered, at most %d", len(v.windows.counts), maxCounts)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// randomEventsView returns the view of n random events over rows rows,
// values v0.., days 100.. (days of them), and a copy of it without a
// cache to compare with.
func randomEventsView(r *rand.Rand, rows, n, values, days int) (v, plain *EventsView) {
	x := NewEvents("view")
	for range n {
		x.Add(uint32(r.IntN(rows)), fmt.Sprint("v", r.IntN(values)), Day(100+r.IntN(days)))
	}
	v = x.View()
	c := *v
	c.windows = nil
	return v, &c
}

// TestWindowCountDaysWithin: a window's count within a set, taken from
// the set cut to each day's profiles with any event (DaysWithin), equals
// the union built and cut, for sets small and large (days intersected, or
// their few rows looked up), windows of one value and several, and days
// outside the events' span; and the days cut at once (CutDay).
func TestWindowCountDaysWithin(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 38))
	_, plain := randomEventsView(r, 100_000, 30_000, 4, 30)
	for round := range 60 {
		// Sets whose days hold many rows (intersected) and few (looked
		// up one by one).
		within := randomRows(r, 100_000, []int{2, 50, 1000, 20_000}[round%4])
		values := []string{fmt.Sprint("v", r.IntN(5))}
		if round%4 == 0 {
			values = append(values, fmt.Sprint("v", r.IntN(5)))
		}
		if round%7 == 0 {
			values = nil // any value
		}
		from := Day(90 + r.IntN(45))
		to := from + Day(r.IntN(20))
		byDay := plain.DaysWithin(within, from, to)
		if len(byDay.bms) != int(to-from+1) {
			t.Fatalf("round %d: %d days for [%d, %d]", round, len(byDay.bms), from, to)
		}
		want := plain.WindowWithin(values, from, to, within).GetCardinality()
		if got := plain.WindowCountDaysWithin(values, from, to, byDay); got != want {
			t.Fatalf("round %d: %v in [%d, %d]: count %d, want %d", round, values, from, to, got, want)
		}
		// The days cut one goroutine each, last first (what the
		// lookalike does on every core), and days outside the span
		// asked for too: the same count, and no race.
		cut := NewSetDays(from, to)
		var wg sync.WaitGroup
		for d := to + 2; d >= from-2; d-- {
			wg.Go(func() { plain.CutDay(cut, within, d) })
		}
		wg.Wait()
		if got := plain.WindowCountDaysWithin(values, from, to, cut); got != want {
			t.Fatalf("round %d: days cut at once: count %d, want %d", round, got, want)
		}
	}
	if plain.DaysWithin(roaring.New(), 10, 9) != nil || NewSetDays(10, 9) != nil {
		t.Fatal("an empty span has days")
	}
}

// TestWindowFree: a view's free window bytes fall by what keeping a
// window took, WindowBytes estimates that within a small margin, a view
// without a cache has no room, and a window too large to keep never fits.
func TestWindowFree(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	v, plain := randomEventsView(r, 100_000, 30_000, 4, 30)
	if plain.WindowFree() != 0 || plain.WindowBytes(10) != 0 {
		t.Fatal("a view without a cache has room")
	}
	before := v.WindowFree()
	values, from, to := []string{"v1"}, Day(100), Day(120)
	v.WindowShared(values, from, to) // first use: nothing kept
	if v.WindowFree() != before {
		t.Fatal("a first use took room")
	}
	b := v.WindowShared(values, from, to) // second: kept
	if b == nil {
		t.Fatal("a window asked twice is not kept")
	}
	took, est := before-v.WindowFree(), v.WindowBytes(b.GetCardinality())
	if took == 0 || est < took/2 || est > 2*took {
		t.Fatalf("keeping took %d bytes, estimated %d", took, est)
	}
	small := &windowCache{budget: 1000, rows: 1 << 20}
	if small.bytesFor(1<<20) != math.MaxUint64 || small.bytesFor(100) != 200 {
		t.Fatal("a window too large to keep fits, or a small one does not")
	}
}
