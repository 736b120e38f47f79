package index

import (
	"slices"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// windowCache keeps, per view of an event field, the unions of the day
// windows queries asked for. A view never changes, so a union computed
// once stays right for its life; and a marketer refining a segment asks
// for the same behaviour ("bought milk powder in the last 90 days") with
// every variation of the other clauses, while the union of 90 day bitmaps
// is most of such a count's work. A publication that changes the field
// starts a new view, and with it an empty cache.
//
// Bounded by bytes, oldest entry out first, so a view of a large dataset
// holds a few dense windows at most.
type windowCache struct {
	mu      sync.Mutex
	budget  uint64
	used    uint64
	entries map[windowKey]cachedWindow
	order   []windowKey // oldest first
	// seen holds windows asked for once: a union is built and kept only
	// on its second use, so a one-off count pays nothing for the cache.
	seen map[windowKey]bool
}

// maxSeen bounds seen; past it, it starts over.
const maxSeen = 1024

type cachedWindow struct {
	b     *roaring.Bitmap
	bytes uint64
}

// windowKey names a window: its values (sorted, NUL-joined; "" for any
// value), its days and, for AT LEAST n TIMES, n (0: any day).
type windowKey struct {
	values   string
	from, to Day
	atLeast  int
}

func newWindowKey(values []string, from, to Day) windowKey {
	if len(values) > 1 && !slices.IsSorted(values) {
		values = slices.Sorted(slices.Values(values))
	}
	return windowKey{values: strings.Join(values, "\x00"), from: from, to: to}
}

// minWindowCacheBytes is the smallest budget: enough for a few windows of
// a small dataset.
const minWindowCacheBytes = 8 << 20

// newWindowCache returns a cache holding up to four dense windows of rows
// rows (at least minWindowCacheBytes).
func newWindowCache(rows uint64) *windowCache {
	return &windowCache{budget: max(minWindowCacheBytes, 4*(rows/8)), entries: map[windowKey]cachedWindow{}, seen: map[windowKey]bool{}}
}

// get returns the cached union, read-only, or nil.
func (c *windowCache) get(k windowKey) *roaring.Bitmap {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k].b
}

// lookup returns the cached union of k (read-only), or nil and whether k
// was asked for before (then the caller builds the union and puts it).
func (c *windowCache) lookup(k windowKey) (b *roaring.Bitmap, again bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		return e.b, true
	}
	if c.seen[k] {
		return nil, true
	}
	if len(c.seen) >= maxSeen {
		clear(c.seen)
	}
	c.seen[k] = true
	return nil, false
}

// cachedUnion returns the union of a window's days from v's cache: the
// kept union, or, on a window's second use, a union built now and kept;
// nil on its first use (the caller computes what it needs its own way).
// The bitmap is shared: read-only.
func (v *EventsView) cachedUnion(values []string, from, to Day) *roaring.Bitmap {
	return v.cached(newWindowKey(values, from, to), func() *roaring.Bitmap {
		return unionMany(v.windowBitmaps(values, from, to))
	})
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
	if v.windows == nil {
		return nil
	}
	b, again := v.windows.lookup(k)
	if b != nil || !again {
		return b
	}
	b = build()
	b.SetCopyOnWrite(false)
	v.windows.put(k, b)
	return b
}

// put caches b (which must not be written again) under k, dropping the
// oldest entries to stay within the budget. A union larger than a
// quarter of the budget is not kept.
func (c *windowCache) put(k windowKey, b *roaring.Bitmap) {
	size := b.GetSizeInBytes()
	if size > c.budget/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; ok {
		return
	}
	for c.used+size > c.budget && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.used -= c.entries[old].bytes
		delete(c.entries, old)
	}
	c.entries[k] = cachedWindow{b, size}
	c.order = append(c.order, k)
	c.used += size
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
