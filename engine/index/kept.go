package index

import (
	"math"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// keptCache keeps, per immutable view, the results of conditions asked
// for more than once: a view never changes, so a result computed once
// stays right for its life, and a marketer refining a segment asks for
// the same condition ("bought milk powder in the last 90 days", "aged 25
// to 35") with every variation of the other clauses. Event windows
// (windowcache.go) and numeric or date ranges (bsikept.go) use it. A
// publication that changes the field starts a new view, and with it an
// empty cache.
//
// A result is built and kept only on its second use, so a one-off count
// pays nothing for it. Bounded by bytes, oldest entry out first, so a view
// of a large dataset holds a few dense results at most.
type keptCache[K comparable] struct {
	mu      sync.Mutex
	budget  uint64
	used    uint64
	entries map[K]keptEntry
	order   []K // oldest first
	// seen holds keys asked for once.
	seen map[K]bool
	// counts holds the sizes of results counted without being built
	// (countOf): 16 bytes a key, so every window a lookalike counts
	// can be remembered where only a few unions can be kept.
	counts map[K]uint64
	// rows is the number of rows of the view: a result kept with its
	// words has rows/64+1 of them (see use).
	rows uint64
}

// maxSeen bounds seen; past it, it starts over.
const maxSeen = 1024

type keptEntry struct {
	b     *roaring.Bitmap
	words []uint64 // b's rows as words (see wordsShare), or nil
	bytes uint64
}

// minKeptBytes is the smallest budget: enough for a few results of a
// small dataset.
const minKeptBytes = 8 << 20

// newKeptCache returns a cache holding four or five dense results of rows
// rows (at least minKeptBytes). The budget is five bitsets' bytes, so
// that a result as dense as can be (every container a bitset, rows/8
// bytes plus headers) still passes put's quarter-of-the-budget bar.
func newKeptCache[K comparable](rows uint64) *keptCache[K] {
	return newKeptCacheOf[K](rows, minKeptBytes)
}

// newKeptCacheOf is newKeptCache with a budget of at least least bytes.
func newKeptCacheOf[K comparable](rows, least uint64) *keptCache[K] {
	return &keptCache[K]{budget: max(least, 5*(rows/8)), entries: map[K]keptEntry{}, seen: map[K]bool{}, counts: map[K]uint64{}, rows: rows}
}

// get returns the kept result of k, read-only, or nil. It does not count
// as a use.
func (c *keptCache[K]) get(k K) *roaring.Bitmap {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k].b
}

// lookup returns the kept result of k (read-only), or nil and whether k
// was asked for before (then the caller builds the result and puts it).
func (c *keptCache[K]) lookup(k K) (b *roaring.Bitmap, again bool) {
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

// use returns k's kept result, builds and keeps it on k's second use, or
// returns nil on its first (the caller then computes what it needs its
// own way). A nil cache keeps nothing. The result is shared: read-only.
func (c *keptCache[K]) use(k K, build func() *roaring.Bitmap) *roaring.Bitmap {
	return c.useWords(k, func(int) (*roaring.Bitmap, []uint64) { return build(), nil })
}

// useWords is use for a builder that may have the result's words at
// hand: build(n) returns the result and, or nil, its rows as n words
// (row r is bit r%64 of word r/64) that the bitmap's bitmap containers
// share (roaring.FromDense without a copy); the cache then keeps those
// rather than writing them again from the bitmap.
func (c *keptCache[K]) useWords(k K, build func(n int) (*roaring.Bitmap, []uint64)) *roaring.Bitmap {
	if c == nil {
		return nil
	}
	b, again := c.lookup(k)
	if b != nil || !again {
		return b
	}
	n := int(c.rows/64 + 1)
	b, words := build(n)
	if card := b.GetCardinality(); card*wordsShare >= c.rows && (card*denseShare >= c.rows || c.roomForWords(b.GetSizeInBytes())) {
		// Kept over words too, for counts in word space (wordsOf). A
		// dense result's bitmap containers share the words (FromDense
		// without a copy), so they cost nothing beyond the bitmap; a
		// sparser one's chunks are arrays, and its words are charged
		// to the budget on top (put), only while there is room for
		// them (checked here first so as not to write words put
		// would drop).
		if len(words) != n {
			words = make([]uint64, n)
			writeWords(words, b)
			b = roaring.FromDense(words, false)
		}
	} else {
		words = nil
	}
	b.SetCopyOnWrite(false)
	c.put(k, keptEntry{b: b, words: words})
	return b
}

// maxCounts bounds counts; past it, it starts over.
const maxCounts = 4096

// countOf returns the size of k's result: the kept result's, a count
// remembered from an earlier call, or count() (then remembered). A nil
// cache remembers nothing.
func (c *keptCache[K]) countOf(k K, count func() uint64) uint64 {
	if c == nil {
		return count()
	}
	c.mu.Lock()
	if e, ok := c.entries[k]; ok {
		c.mu.Unlock()
		return e.b.GetCardinality()
	}
	n, ok := c.counts[k]
	c.mu.Unlock()
	if ok {
		return n
	}
	// Counted outside the lock: two callers may both count, and agree.
	n = count()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.counts) >= maxCounts {
		clear(c.counts)
	}
	c.counts[k] = n
	return n
}

// denseShare: a result holding at least one row in denseShare is dense,
// its chunks mostly roaring bitmap containers (over 4096 rows of 65536).
const denseShare = 16

// wordsShare: a kept result holding at least one row in wordsShare is
// also kept as words. Below, an AND is counted faster from its rows
// (roaring's array containers) than over every word.
const wordsShare = 128

// wordsOf returns the words of k's kept result when it keeps them (one
// row in wordsShare or more), or nil. It does not count as a use.
func (c *keptCache[K]) wordsOf(k K) []uint64 {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k].words
}

// roomForWords reports whether a sparse result of size bytes could be
// kept with its words (8 bytes per 64 rows) without dropping another
// result: see put.
func (c *keptCache[K]) roomForWords(size uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wordsFit(size + 8*(c.rows/64+1))
}

// wordsFit is roomForWords of a result and its words of total bytes
// (c.mu held).
func (c *keptCache[K]) wordsFit(total uint64) bool {
	return total <= c.budget/4 && c.used+total <= c.budget
}

// free returns the bytes left in the budget.
func (c *keptCache[K]) free() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.budget - min(c.used, c.budget)
}

// bytesFor estimates what put charges for a result of n rows: a dense
// one's bitmap containers (8 KiB a 65536 rows), a sparse one's arrays
// and, from one row in wordsShare, its words; for one put would not keep (over a quarter of the budget), more than
// any budget.
func (c *keptCache[K]) bytesFor(n uint64) uint64 {
	dense := n*denseShare >= c.rows
	b := 2 * n
	if dense {
		b = c.rows/8 + 8<<10
	}
	if b > c.budget/4 {
		return math.MaxUint64
	}
	if !dense && n*wordsShare >= c.rows {
		b += c.rows/64*8 + 8 // its words too, while there is room
	}
	return b
}

// put keeps e (whose bitmap must not be written again) under k, dropping
// the oldest entries to stay within the budget. A result larger than a
// quarter of the budget is not kept.
//
// A sparse result's words cost up to 64 times its bitmap (at 100M
// profiles, 12.5 MB beside 2–4 MB for a window of 1–2M profiles), so
// they are kept only while they fit beside what is kept: when they would
// push others out, the result is kept as a bitmap alone. A lookalike
// asks for a dozen or two such windows on every call; kept with their
// words, four filled an event field's 64 MiB and, oldest out first, each
// call built most of them again (a 12.5 MB array and a copy each, and
// the collections that garbage brought at 100M).
func (c *keptCache[K]) put(k K, e keptEntry) {
	size := e.b.GetSizeInBytes()
	sparseWords := e.words != nil && e.b.GetCardinality()*denseShare < c.rows
	if size > c.budget/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; ok {
		return
	}
	if sparseWords {
		// A sparse result's bitmap holds arrays, not the words.
		if total := size + 8*uint64(len(e.words)); c.wordsFit(total) {
			size = total
		} else {
			e.words = nil
		}
	}
	for c.used+size > c.budget && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.used -= c.entries[old].bytes
		delete(c.entries, old)
	}
	e.bytes = size
	c.entries[k] = e
	c.order = append(c.order, k)
	c.used += size
}
