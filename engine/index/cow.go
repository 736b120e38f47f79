package index

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// cowBitmap pairs the writer's bitmap with the clone readers last saw.
//
// Adds are buffered: a batch of ingest records sets many bits in the same
// bitmaps (every event adds to a day bitmap, an all-time bitmap and the
// any-value bitmaps), and roaring's AddMany over a run of mostly
// increasing rows is several times cheaper than one CheckedAdd per bit.
// Every read flushes the buffer first, except the common question "does
// this new row hold a bit?", answered from the largest row ever added.
type cowBitmap struct {
	w       *roaring.Bitmap // writer's; copy-on-write enabled
	r       *roaring.Bitmap // published; never written after publication
	dirty   bool
	pending []uint32 // rows added but not yet in w
	maxRow  int64    // no row above this was ever added (-1: none)
	// ver counts publications of a changed bitmap, so a reader can tell
	// whether a later view's bitmap is the same as one it converted.
	ver uint64
	// phase staggers whole compactions (see compactGrown) across
	// bitmaps: the first row a bitmap saw (for one replaced whole, as a
	// checkpoint restores it, its size), modulo compactEvery.
	phase uint64
	// minGrown is the lowest row added since the writer's containers
	// were last built at exact size (replaced or compacted), -1 if none
	// was: only containers from its own on can hold spare capacity.
	minGrown int64
}

// compactEvery: a bitmap with array containers is rebuilt at exact size
// at one publication of its changes in compactEvery, unless only its tail
// changed (see compactGrown). Its array containers grow by append, and
// copy-on-write clones a shared container at exact size just before the
// next add grows it: every container written since the last compaction
// holds up to a quarter (small ones double) of spare capacity. At 10M
// generated profiles that slack was 15 bytes a profile of a load's 118
// (a dataset started from disk holds none). Rebuilding a bitmap copies
// it, so bitmaps take turns: each publication copies about an eighth of
// the sparse bitmaps, and the garbage of a compaction is an eighth of
// theirs, not all of it at once.
const compactEvery = 8

// maxPending bounds the buffer of one bitmap between flushes.
const maxPending = 4096

func newCOW() *cowBitmap {
	w := roaring.New()
	w.SetCopyOnWrite(true)
	return &cowBitmap{w: w, r: roaring.New(), maxRow: -1, minGrown: -1}
}

// add sets row's bit.
func (c *cowBitmap) add(row uint32) {
	if n := len(c.pending); n > 0 && c.pending[n-1] == row {
		// The same record adds its row to an all-time, any-value or
		// existence bitmap once per event: skip the repeats here.
		return
	}
	if c.pending == nil {
		// Most buffers fill to hundreds before a flush: skip the first
		// doublings (256 bytes for a bitmap that sees one add).
		c.pending = make([]uint32, 0, 64)
	}
	if c.maxRow < 0 {
		c.phase = uint64(row) % compactEvery
	}
	c.pending = append(c.pending, row)
	c.dirty = true
	c.maxRow = max(c.maxRow, int64(row))
	if c.minGrown < 0 || int64(row) < c.minGrown {
		c.minGrown = int64(row)
	}
	if len(c.pending) >= maxPending {
		// A full buffer belongs to a bitmap many records write (existence,
		// all-time, a common value): keep it for the next adds rather
		// than growing a new one from 64 (which made ~8 bytes of garbage
		// per add). Other flushes drop the buffer, so the many bitmaps
		// that see few adds hold none between publications.
		c.w.AddMany(c.pending)
		c.pending = c.pending[:0]
	}
}

// addMany sets the rows' bits at once (the caller's slice is not kept).
func (c *cowBitmap) addMany(rows []uint32) {
	if len(rows) == 0 {
		return
	}
	c.flush()
	if c.maxRow < 0 {
		c.phase = uint64(rows[0]) % compactEvery
	}
	c.w.AddMany(rows)
	c.dirty = true
	lo, hi := slices.Min(rows), slices.Max(rows)
	c.maxRow = max(c.maxRow, int64(hi))
	if c.minGrown < 0 || int64(lo) < c.minGrown {
		c.minGrown = int64(lo)
	}
}

// flush moves buffered adds into the writer's bitmap. It drops a small
// buffer, so that the many bitmaps that see few adds hold none between
// publications, and keeps one that grew to keepPending or more: a bitmap
// written that often is written again after the next publication, and
// regrowing its buffer from 64 each time was half a gigabyte of a 10M
// load's garbage. (Day bitmaps take their rows through the event log's
// addMany and have no buffer.)
func (c *cowBitmap) flush() {
	if len(c.pending) > 0 {
		c.w.AddMany(c.pending)
		if cap(c.pending) >= keepPending {
			c.pending = c.pending[:0]
		} else {
			c.pending = nil
		}
	}
}

// keepPending: see flush. A few hundred bitmaps reach it in a bulk load
// (common tag and set values, bit slices, all-time event bitmaps), each
// then holding at most maxPending rows' buffer, 16 KiB.
const keepPending = maxPending / 4

// writer returns the writer's bitmap with every add applied.
func (c *cowBitmap) writer() *roaring.Bitmap {
	c.flush()
	return c.w
}

func (c *cowBitmap) remove(row uint32) bool {
	if int64(row) > c.maxRow {
		return false
	}
	c.flush()
	if c.w.CheckedRemove(row) {
		c.dirty = true
		return true
	}
	return false
}

func (c *cowBitmap) contains(row uint32) bool {
	if int64(row) > c.maxRow {
		return false
	}
	c.flush()
	return c.w.Contains(row)
}

// replace swaps in a freshly computed writer bitmap (used when a bitmap is
// rebuilt wholesale, e.g. after retention drops days).
func (c *cowBitmap) replace(b *roaring.Bitmap) {
	b.SetCopyOnWrite(true)
	// A bitmap replaced whole is exact already (a checkpoint's, or a
	// union): it is not rebuilt until rows are added to it.
	c.w, c.pending, c.dirty, c.minGrown = b, nil, true, -1
	c.phase = b.GetCardinality() % compactEvery
	c.maxRow = -1
	if !b.IsEmpty() {
		c.maxRow = int64(b.Maximum())
	}
}

// publish returns the bitmap readers should see now, cloning the writer's
// bitmap only if it changed since the last call.
func (c *cowBitmap) publish() *roaring.Bitmap {
	if c.dirty {
		c.compactGrown()
		r := c.writer().Clone()
		r.SetCopyOnWrite(false)
		c.r = r
		c.dirty = false
		c.ver++
	}
	return c.r
}

// compaction says what compactGrown did.
type compaction int

const (
	compactedNone  compaction = iota
	compactedTail             // the containers from minGrown's on
	compactedWhole            // every container
)

// tailShare: the grown containers are rebuilt alone at every
// publication while they span at most 1/tailShare of the bitmap's rows.
// That is a bulk load's shape (new rows only, so only the last
// containers grow): copying the rows of one publication each time costs
// less than an eighth of the bitmap every publication, and its garbage
// is that small too. Rebuilding whole bitmaps instead copied every sparse
// bitmap about six times over a 100M load, garbage that kept the
// collector at the memory limit: the load peaked at 13.51 GiB, 12.66
// with tails.
const tailShare = compactEvery

// compactGrown rebuilds at exact size the containers that may hold spare
// capacity: the grown tail alone when it is small, else (at one
// publication in compactEvery) the whole bitmap.
func (c *cowBitmap) compactGrown() compaction {
	if c.minGrown < 0 {
		return compactedNone
	}
	if lo, hi, ok := c.smallTail(); ok {
		return c.compactTail(lo, hi)
	}
	if (c.ver+c.phase)%compactEvery == compactEvery-1 {
		return c.compact()
	}
	return compactedNone
}

// smallTail returns the rows [lo, hi) of the containers grown since the
// writer was last exact, and whether they are few enough to rebuild
// alone (see tailShare). minGrown must be set.
func (c *cowBitmap) smallTail() (lo, hi uint64, ok bool) {
	lo = uint64(c.minGrown) &^ 0xffff    // first grown container's rows
	hi = (uint64(c.maxRow) | 0xffff) + 1 // past the last container's
	return lo, hi, (hi-lo)*tailShare <= hi
}

// compactBetween rebuilds a small grown tail (as compactGrown would)
// between publications: a bulk load calls it every 2^20 records (see
// engine.LoadOptions). The containers a load grew since the last
// publication are the writer's alone, so the copies they leave are
// garbage at once; left for a publication, a tail of an eighth of the
// rows was copied while the previous snapshot held the old containers,
// at the load's highest memory.
func (c *cowBitmap) compactBetween() {
	if c.minGrown < 0 {
		return
	}
	if lo, hi, ok := c.smallTail(); ok {
		c.compactTail(lo, hi)
	}
}

// compactTail replaces the writer's containers of rows [lo, hi) by
// exact-size copies. The copies come from an intersection with full
// containers (roaring clones a container ANDed with a full one), and
// the writer's others are left alone.
func (c *cowBitmap) compactTail(lo, hi uint64) compaction {
	w := c.writer()
	c.minGrown = -1
	// Bitmap containers (above 4096 rows) have no spare capacity:
	// copying a tail of them gains nothing.
	if w.CardinalityInRange(lo, hi) > (hi-lo)>>16*4096 {
		return compactedNone
	}
	full := roaring.New()
	full.AddRange(lo, hi)
	tail := roaring.And(full, w)
	tail.SetCopyOnWrite(true)
	// Removing to the end of the row space takes whole containers off
	// the index without making them writable (a copy each).
	w.RemoveRange(lo, 1<<32)
	// Or appends the tail's containers, shared, after the writer's last.
	w.Or(tail)
	return compactedTail
}

// compact replaces the writer's bitmap by an exact-size copy of it when
// it has array containers (bitmap containers have no spare capacity):
// with copy-on-write off, Clone copies every container at its length.
// The published bitmap keeps the old containers until it is replaced.
func (c *cowBitmap) compact() compaction {
	w := c.writer()
	// Copying bitmap containers gains nothing: a bitmap mostly made of
	// them is left as it is.
	if st := w.Stats(); st.ArrayContainerBytes < st.BitmapContainerBytes {
		return compactedNone
	}
	w.SetCopyOnWrite(false)
	x := w.Clone()
	w.SetCopyOnWrite(true)
	x.SetCopyOnWrite(true)
	c.w, c.minGrown = x, -1
	return compactedWhole
}
