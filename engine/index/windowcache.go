package index

import (
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// windowCache keeps, per view of an event field, the unions of the day
// windows (and AT LEAST n TIMES results) queries asked for more than once
// (see keptCache): the union of 90 day bitmaps is most of a window
// count's work.
type windowCache = keptCache[windowKey]

// windowKey names a window: its values (sorted, NUL-joined; "" for any
// value), its days and, for AT LEAST n TIMES, n (0: any day).
type windowKey struct {
	values   string
	from, to Day
	atLeast  int
}

func newWindowKey(values []string, from, to Day) windowKey {
	return windowKey{values: valuesKey(values), from: from, to: to}
}

// valuesKey names a set of values in any order: sorted, NUL-joined.
func valuesKey(values []string) string {
	if len(values) > 1 && !slices.IsSorted(values) {
		values = slices.Sorted(slices.Values(values))
	}
	return strings.Join(values, "\x00")
}

// newWindowCache returns the cache of a view of rows rows: five dense
// windows' bytes, as other kept results, but at least minWindowBytes.
func newWindowCache(rows uint64) *windowCache {
	return newKeptCacheOf[windowKey](rows, minWindowBytes)
}

// minWindowBytes is the least budget of a view's windows. A lookalike
// scores a window of each event value it selects (a dozen or two, most
// of them sparse) and asks for them again on every call; five dense
// bitsets' worth (6 MiB at 10M profiles) let them evict each other, and
// each call built ~10 MB of unions again. 64 MiB keeps them at 10M; at
// 100M five bitsets are 62 MiB already, so large datasets keep what
// they kept.
const minWindowBytes = 64 << 20

// cachedUnion returns the union of a window's days from v's cache: the
// kept union, or, on a window's second use, a union built now and kept;
// nil on its first use (the caller computes what it needs its own way).
// The bitmap is shared: read-only.
func (v *EventsView) cachedUnion(values []string, from, to Day) *roaring.Bitmap {
	return v.windows.useWords(newWindowKey(values, from, to), func(n int) (*roaring.Bitmap, []uint64) {
		return unionWords(v.windowBitmaps(values, from, to), n)
	})
}

// KeptWindowWords returns the words of a window's kept union when the
// view keeps them (see keptCache.wordsOf), read-only, or nil. It does not count as a use.
func (v *EventsView) KeptWindowWords(values []string, from, to Day) []uint64 {
	return v.windows.wordsOf(newWindowKey(values, from, to))
}

// cachedAtLeast is cachedUnion for AT LEAST n TIMES (n ≥ 2): the profiles
// with matching events on n days or more of the window, kept from the
// second use.
func (v *EventsView) cachedAtLeast(values []string, n int, from, to Day) *roaring.Bitmap {
	k := newWindowKey(values, from, to)
	k.atLeast = n
	return v.cached(k, func() *roaring.Bitmap { return v.atLeastWithin(values, n, from, to, nil) })
}

// cached returns k's kept bitmap, builds and keeps it on k's second use,
// or returns nil on its first.
func (v *EventsView) cached(k windowKey, build func() *roaring.Bitmap) *roaring.Bitmap {
	return v.windows.use(k, build)
}

// writeWords writes b's rows into out, which is all zero, dropping rows
// past its end.
func writeWords(out []uint64, b *roaring.Bitmap) {
	if b.IsEmpty() {
		return
	}
	if int(b.Maximum()/64) < len(out) {
		// WriteDenseTo copies bitmap containers' words over what is
		// there, which is nothing.
		b.WriteDenseTo(out)
		return
	}
	tmp := make([]uint64, b.Maximum()/64+1)
	b.WriteDenseTo(tmp)
	copy(out, tmp)
}

// Uncached returns v without its cache: every window is computed from the
// days and nothing is kept (exec.Options.Fresh, for measuring a first
// count).
func (v *EventsView) Uncached() *EventsView {
	c := *v
	c.windows = nil
	return &c
}

// CachedWindow returns the size of a window's union if v holds it (see
// windowCache), so a caller can plan with it: a cached sparse window is
// cheaper intersected as a bitmap than written out as words.
func (v *EventsView) CachedWindow(values []string, from, to Day) (uint64, bool) {
	if v.windows == nil {
		return 0, false
	}
	if b := v.windows.get(newWindowKey(values, from, to)); b != nil {
		return b.GetCardinality(), true
	}
	return 0, false
}

// WindowFree returns the bytes the view's windows may still take before
// keeping another drops one (0 without a cache). A caller that asks for
// more windows on every call than fit (a lookalike selecting a dozen
// dense windows of 100M profiles) keeps those that fit and computes the
// rest each time (WindowWordsFromDays): kept oldest-out-first, they
// would push each other out on every call and each be built again.
func (v *EventsView) WindowFree() uint64 {
	if v.windows == nil {
		return 0
	}
	return v.windows.free()
}

// WindowBytes is about what keeping a window of n profiles takes of the
// view's budget (see keptCache.put): a dense one its bitmap containers,
// a sparse one two bytes a profile; the largest uint64 for one the view
// would not keep at all.
func (v *EventsView) WindowBytes(n uint64) uint64 {
	if v.windows == nil {
		return 0
	}
	return v.windows.bytesFor(n)
}

// WindowShared returns the union of a window's days if v keeps it (see
// windowCache; this counts as a use), shared and read-only, or nil: a
// caller that only reads it needs no copy.
func (v *EventsView) WindowShared(values []string, from, to Day) *roaring.Bitmap {
	return v.cachedUnion(values, from, to)
}

// WindowCountWithin is the size of WindowWithin(values, from, to,
// within), from the kept union without building anything when there is
// one.
func (v *EventsView) WindowCountWithin(values []string, from, to Day, within *roaring.Bitmap) uint64 {
	if within == nil {
		return v.WindowCount(values, from, to)
	}
	if u := v.cachedUnion(values, from, to); u != nil {
		return u.AndCardinality(within)
	}
	return v.windowWithin(values, from, to, within).GetCardinality()
}
