package iddict

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"runtime"
	"strconv"
	"sync"
	"unsafe"
)

// MaxIDLen is the longest external id, in bytes, that Assign accepts. The
// bound keeps a chunk's arena below 2^16 × 1 KiB = 64 MiB, so uint32 offsets
// can never overflow, and stops one bad record from bloating the arena.
const MaxIDLen = 1024

// MaxRows is the most rows a Dict can hold. Rows are 0..MaxRows-1; the hash
// table stores row+1 in 32 bits (0 marks an empty slot), which is why the
// last uint32 value is not a usable row.
const MaxRows = math.MaxUint32

// Errors returned (wrapped) by Assign. Test with errors.Is.
var (
	ErrEmptyID   = errors.New("iddict: empty external id")
	ErrIDTooLong = fmt.Errorf("iddict: external id longer than %d bytes", MaxIDLen)
	ErrFull      = errors.New("iddict: dictionary is full")
)

const (
	chunkBits = 16
	chunkRows = 1 << chunkBits // rows per forward chunk
	chunkMask = chunkRows - 1

	minSlots = 16 // smallest hash table; a power of two

	// maxSlots keeps the table's byte size representable as an int, so
	// growth fails with ErrFull instead of panicking in make on 32-bit
	// platforms.
	maxSlots = math.MaxInt / 8
)

// Options configures New.
type Options struct {
	// ExpectedSize is the number of profiles the caller expects to hold.
	// New sizes the hash table for it, so filling up to ExpectedSize never
	// rehashes (rehashing transiently needs the old and the new table).
	// 0 (or a negative value) starts small and grows on demand.
	ExpectedSize int
}

// chunk stores the ids of chunkRows consecutive rows. Its arena holds the
// ids back to back and ends[i] is the offset just past the i-th id, so a row
// costs 4 bytes beyond its id. A chunk is only ever appended to, so a copy of
// its header (as a View holds) keeps seeing exactly the rows it saw.
type chunk struct {
	arena []byte
	ends  []uint32
}

// id returns the bytes of the i-th id of the chunk. The result aliases the
// arena and must not be modified.
func (c *chunk) id(i uint32) []byte {
	var start uint32
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.arena[start:c.ends[i]]
}

// Dict maps external ids to dense row ids and back.
//
// A Dict has a single writer: Assign, Lookup, LookupBytes, External,
// AppendExternal, Len, View and MemoryBytes must not run concurrently with
// Assign. Callers serialise them, typically under the engine's writer lock.
// Concurrent readers use a View, which stays valid while the writer goes on
// assigning.
type Dict struct {
	seed maphash.Seed

	// slots is an open-addressing table with linear probing. A slot packs
	// row+1 in its low 32 bits (0 = empty) and the high 32 bits of the
	// id's hash in its high 32 bits, so a probe only reads the arena when
	// the stored hash bits match. Its length is a power of two.
	slots []uint64
	// growAt is the row count at which the table doubles: 3/4 of its
	// slots, keeping probe sequences short.
	growAt int

	// chunks holds the forward mapping; chunk k holds rows
	// k*chunkRows..(k+1)*chunkRows-1. Every chunk but the last is full and
	// never written again, which is what lets Views share this slice.
	chunks []chunk
	n      uint32
	// indexed is how many rows (0..indexed-1) the table holds: rows added
	// by AppendUnindexed wait for Index. Assign and the lookups need every
	// row indexed.
	indexed uint32

	// firstEnds is the capacity of the first chunk's offsets, from
	// ExpectedSize: a dictionary of a few rows should not pay 256 KiB.
	firstEnds int
	// arenaHint is the arena size of the last sealed chunk, used as the
	// next chunk's initial arena capacity: ids of one population have
	// similar lengths, so this usually avoids regrowing the arena.
	arenaHint int
}

// New returns an empty Dict.
func New(opts Options) *Dict {
	expected := opts.ExpectedSize
	if expected < 0 {
		expected = 0
	}
	// Clamp to MaxRows, or to MaxInt where int is 32 bits, so the size
	// arithmetic below cannot overflow.
	if uint64(expected) > MaxRows&math.MaxInt {
		expected = MaxRows & math.MaxInt
	}
	slots := slotsFor(expected)
	d := &Dict{
		seed:      maphash.MakeSeed(),
		slots:     make([]uint64, slots),
		growAt:    slots / 4 * 3,
		firstEnds: min(expected, chunkRows),
	}
	if expected > 0 {
		d.chunks = make([]chunk, 0, expected>>chunkBits+1)
	}
	return d
}

// slotsFor returns the table size that holds n rows at a load of at most
// 3/4, clamped to maxSlots.
func slotsFor(n int) int {
	s := minSlots
	for s/4*3 < n && s <= maxSlots/2 {
		s *= 2
	}
	return s
}

// Len returns the number of rows; the next new id gets row Len().
func (d *Dict) Len() uint32 { return d.n }

// Lookup returns the row of id, if it has one. Like every Dict method it is
// for the writer (or callers holding the writer's lock): the hash table it
// probes is rebuilt by Assign.
func (d *Dict) Lookup(id string) (row uint32, ok bool) {
	d.mustBeIndexed()
	if len(id) == 0 || len(id) > MaxIDLen {
		return 0, false // never assigned, so not worth hashing
	}
	row, _, ok = find(d, id, maphash.String(d.seed, id))
	return row, ok
}

// LookupBytes is Lookup for an id held in a byte slice, e.g. a request
// buffer. It does not allocate and does not retain id.
func (d *Dict) LookupBytes(id []byte) (uint32, bool) {
	d.mustBeIndexed()
	if len(id) == 0 || len(id) > MaxIDLen {
		return 0, false
	}
	row, _, ok := find(d, id, maphash.Bytes(d.seed, id))
	return row, ok
}

// find probes the table for id, whose hash is h. It returns the id's row
// and ok, or the index of the empty slot where id would go.
func find[T string | []byte](d *Dict, id T, h uint64) (row uint32, slot int, ok bool) {
	mask := uint64(len(d.slots) - 1)
	tag := h >> 32
	for i := h & mask; ; i = (i + 1) & mask {
		s := d.slots[i]
		if s == 0 {
			return 0, int(i), false
		}
		if s>>32 != tag {
			continue
		}
		r := uint32(s) - 1
		if string(d.chunks[r>>chunkBits].id(r&chunkMask)) == string(id) {
			return r, int(i), true
		}
	}
}

// Assign returns the row of id, giving it the next row (Len()) if it has
// none; created reports which. The id's bytes are copied, so the caller may
// reuse its buffer. It fails, changing nothing, if id is empty, longer than
// MaxIDLen, or new while the Dict already holds MaxRows rows.
func (d *Dict) Assign(id string) (row uint32, created bool, err error) {
	d.mustBeIndexed()
	if len(id) == 0 {
		return 0, false, ErrEmptyID
	}
	if len(id) > MaxIDLen {
		return 0, false, fmt.Errorf("%w: got %d bytes, starting %s", ErrIDTooLong, len(id), quote(id))
	}
	h := maphash.String(d.seed, id)
	row, slot, ok := find(d, id, h)
	if ok {
		return row, false, nil
	}
	if d.n == MaxRows {
		return 0, false, fmt.Errorf("%w: all %d rows are assigned, cannot assign %s", ErrFull, d.n, quote(id))
	}
	if uint64(d.n) >= uint64(d.growAt) { // uint64: d.n may not fit a 32-bit int
		if err := d.grow(); err != nil {
			return 0, false, fmt.Errorf("%w, cannot assign %s", err, quote(id))
		}
		_, slot, _ = find(d, id, h)
	}
	row = d.n
	d.appendID(id)
	d.slots[slot] = h>>32<<32 | uint64(row+1)
	d.n++
	d.indexed++
	return row, true, nil
}

// mustBeIndexed panics if rows wait for Index: a lookup would miss them
// and Assign would give a held id a second row. Only a loader that forgot
// to call Index gets here.
func (d *Dict) mustBeIndexed() {
	if d.indexed != d.n {
		panic(fmt.Sprintf("iddict: %d rows appended but not indexed (call Index)", d.n-d.indexed))
	}
}

// AppendNew gives ids the next rows, in order (the first gets Len()),
// and indexes them: AppendUnindexed, then Index. It checks that every id
// is new, against the table and within the batch.
//
// On a duplicate the Dict holds the whole batch, part of it indexed: it is
// for loaders that discard the Dict when their input is bad.
func (d *Dict) AppendNew(ids [][]byte) error {
	if err := d.AppendUnindexed(ids); err != nil {
		return err
	}
	return d.Index()
}

// AppendUnindexed gives ids the next rows, in order, without putting them
// in the hash table: until Index, External and View see them but Lookup
// and Assign must not be called (they panic). It is the bulk path of
// loading a checkpoint: the loader appends every chunk of ids as it
// arrives and indexes all of them once at the end, in slot order and in
// batches large enough that the table's writes sweep it forward (see
// Index). An empty, too long id or too many rows is an error that changes
// nothing; repeated ids are found by Index.
func (d *Dict) AppendUnindexed(ids [][]byte) error {
	if uint64(d.n)+uint64(len(ids)) > MaxRows {
		return fmt.Errorf("%w: %d rows held, cannot add %d", ErrFull, d.n, len(ids))
	}
	for i, id := range ids {
		switch {
		case len(id) == 0:
			return fmt.Errorf("row %d: %w", d.n+uint32(i), ErrEmptyID)
		case len(id) > MaxIDLen:
			return fmt.Errorf("row %d: %w: got %d bytes, starting %s", d.n+uint32(i), ErrIDTooLong, len(id), quote(string(id)))
		}
	}
	for _, id := range ids {
		d.appendID(string(id))
		d.n++
	}
	return nil
}

// Index puts the rows added by AppendUnindexed into the hash table,
// growing it once to its final size, and fails if an id is held by two
// rows. On error the Dict is only fit to be discarded.
func (d *Dict) Index() error {
	if d.indexed == d.n {
		return nil
	}
	// uint64: d.n may not fit a 32-bit int.
	if uint64(d.n) > uint64(maxSlots)/4*3 {
		return fmt.Errorf("%w: a hash table for %d rows is too large for this platform", ErrFull, d.n)
	}
	slots := slotsFor(int(d.n))
	if slots > len(d.slots) {
		d.growTo(slots)
	}
	return d.insertRows(d.indexed, d.n, indexBatch)
}

// insertRows takes rows one at a time below sortedRows (the table then
// fits the caches) and in batches of at most indexBatch above, which
// bounds its scratch memory (12 bytes a row: 48 MiB).
const (
	sortedRows = 1 << 16
	indexBatch = 1 << 22
)

// insertRows puts rows from..to-1, which the table does not hold yet, into
// it, batch rows at a time, and fails on an id some other row already
// holds (in the table or in the range). d.indexed follows the rows
// inserted.
func (d *Dict) insertRows(from, to uint32, batch int) error {
	return d.insertRowsOn(from, to, batch, runtime.GOMAXPROCS(0), minParallelRows)
}

// insertRowsOn is insertRows with each batch of at least minParallel rows
// shared out among up to procs goroutines (see insertRegions).
func (d *Dict) insertRowsOn(from, to uint32, batch, procs, minParallel int) error {
	if to-from < sortedRows {
		for r := from; r < to; r++ {
			id := d.id(r)
			h := maphash.Bytes(d.seed, id)
			if err := d.insertWord(h>>32<<32|uint64(r+1), h&uint64(len(d.slots)-1)); err != nil {
				return err
			}
			d.indexed = r + 1
		}
		return nil
	}
	n := int(to - from)
	batch = min(n, batch)
	// The table is cut into regions of 2^regionBits slots (256 KiB, which
	// the L2 cache holds); a batch is scattered by region, its hashes
	// computed twice (counting, then placing) rather than kept, and then
	// inserted a region at a time: the writes move through the table a
	// cache-sized window at a time, however large it is, where rows in row
	// order would miss the caches and the TLB at every insert. A fully
	// sorted batch (radix sort by slot) did no better and needed a random
	// read per row to find its hash again.
	mask := uint64(len(d.slots) - 1)
	regionBits := uint(min(regionBits, bits.Len64(mask)))
	regions := len(d.slots) >> regionBits
	next := make([]int, regions+1)
	words := make([]uint64, batch) // the slot word to store: hash top half, row+1
	offs := make([]uint32, batch)  // the slot it hashes to, within its region
	for done := 0; done < n; done += batch {
		first := from + uint32(done)
		m := min(batch, n-done)
		parts := procs
		if m < minParallel {
			parts = 1
		}
		d.scatter(first, m, mask, regionBits, next, words, offs, parts)
		// next[g] now ends region g, where region g+1 starts.
		if err := d.insertRegions(words[:m], offs[:m], next, regionBits, parts); err != nil {
			return err
		}
		d.indexed = first + uint32(m)
	}
	return nil
}

// scatter places the m rows from first by the table region their id
// hashes to: the words and offsets of region g end at next[g], and those
// of region g+1 start there. workers goroutines share the rows, each
// hashing its part twice (counting, then placing); within a region the
// rows of one worker come before those of the next.
func (d *Dict) scatter(first uint32, m int, mask uint64, regionBits uint, next []int, words []uint64, offs []uint32, workers int) {
	regions := len(next) - 1
	workers = max(workers, 1)
	cursors := make([][]int, workers) // by worker, by region
	part := func(w int) (uint32, uint32) {
		return first + uint32(w*m/workers), first + uint32((w+1)*m/workers)
	}
	onWorkers(workers, func(w int) {
		c := make([]int, regions)
		lo, hi := part(w)
		for r := lo; r < hi; r++ {
			c[(maphash.Bytes(d.seed, d.id(r))&mask)>>regionBits]++
		}
		cursors[w] = c
	})
	pos := 0
	for g := range regions {
		for w := range workers {
			c := cursors[w][g]
			cursors[w][g] = pos
			pos += c
		}
		next[g] = pos
	}
	next[regions] = pos
	onWorkers(workers, func(w int) {
		c := cursors[w]
		lo, hi := part(w)
		for r := lo; r < hi; r++ {
			h := maphash.Bytes(d.seed, d.id(r))
			g := (h & mask) >> regionBits
			words[c[g]] = h>>32<<32 | uint64(r+1)
			offs[c[g]] = uint32(h & mask & (1<<regionBits - 1))
			c[g]++
		}
	})
}

// insertRegions inserts a batch scattered by region (words[next[g-1]:
// next[g]] hash into region g, at offsets offs). The regions are cut into
// procs runs of consecutive regions, each filled by its own goroutine: at
// 100M rows the table is 1 GiB and indexing it was a third of a start
// from disk, on one core. A goroutine neither reads nor writes past its
// run's last slot: a word whose probe would (a run of full slots across
// the boundary, or off the table's end, which wraps) is set aside and
// inserted once all are done. Repeats are still all found: two rows with
// one id hash to the same slot, so the second either meets the first on
// its way or is set aside too, and an aside word probes on into the
// slots it skipped.
func (d *Dict) insertRegions(words []uint64, offs []uint32, next []int, regionBits uint, procs int) error {
	regions := len(next) - 1
	parts := max(1, min(procs, regions))
	aside := make([][]uint64, parts) // pairs of word, slot
	errs := make([]error, parts)
	onWorkers(parts, func(p int) {
		gLo, gHi := p*regions/parts, (p+1)*regions/parts
		limit := uint64(gHi) << regionBits
		start := 0
		if gLo > 0 {
			start = next[gLo-1]
		}
		for g := gLo; g < gHi; g++ {
			base := uint64(g) << regionBits
			for k := start; k < next[g]; k++ {
				slot := base | uint64(offs[k])
				stored, err := d.insertWordBelow(words[k], slot, limit)
				if err != nil {
					errs[p] = err
					return
				}
				if !stored {
					aside[p] = append(aside[p], words[k], slot)
				}
			}
			start = next[g]
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, a := range aside {
		for i := 0; i < len(a); i += 2 {
			if err := d.insertWord(a[i], a[i+1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// onWorkers runs f(0)..f(n-1), each on a goroutine of its own when n >
// 1, and returns when all have.
func onWorkers(n int, f func(w int)) {
	if n <= 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w)
		}()
	}
	wg.Wait()
}

// minParallelRows is the smallest batch whose rows and regions are
// shared out among goroutines: below it they cost more than they save.
const minParallelRows = 1 << 18

// regionBits is the log2 of the table slots insertRows fills at a time.
const regionBits = 15

// insertWord stores the slot word w (hash top half, row+1) in the first
// free slot from slot on, unless the row's id is held already. It reads
// the ids only when the stored hash halves match.
func (d *Dict) insertWord(w, slot uint64) error {
	stored, err := d.insertWordBelow(w, slot, uint64(len(d.slots)))
	if stored || err != nil {
		return err
	}
	// Off the table's end: the probe goes on from its first slot. The
	// table is never full (it grows at 3/4), so it ends before slot.
	stored, err = d.insertWordBelow(w, 0, slot)
	if !stored && err == nil {
		panic("iddict: BUG: a full hash table")
	}
	return err
}

// insertWordBelow is insertWord for a probe that must stay below slot
// limit: it reports false, storing nothing, when it would reach it.
func (d *Dict) insertWordBelow(w, slot, limit uint64) (bool, error) {
	for ; slot < limit; slot++ {
		s := d.slots[slot]
		if s == 0 {
			d.slots[slot] = w
			return true, nil
		}
		if s>>32 == w>>32 {
			row, r := uint32(s)-1, uint32(w)-1
			if id := d.id(r); string(d.id(row)) == string(id) {
				return false, &RepeatedIDError{ID: string(id), First: min(row, r), Row: max(row, r)}
			}
		}
	}
	return false, nil
}

// RepeatedIDError is Index's (and AppendNew's) error for an id held by two
// rows, First < Row.
type RepeatedIDError struct {
	ID         string
	First, Row uint32
}

func (e *RepeatedIDError) Error() string {
	return fmt.Sprintf("external id %s of row %d is row %d already", quote(e.ID), e.Row, e.First)
}

// id returns the bytes of row r < d.n, aliasing the arena.
func (d *Dict) id(r uint32) []byte {
	return d.chunks[r>>chunkBits].id(r & chunkMask)
}

// quote renders id for an error message, cut to 64 bytes: ids may be up to
// MaxIDLen bytes, or longer when rejected, and an error is no place for that.
func quote(id string) string {
	if len(id) <= 64 {
		return strconv.Quote(id)
	}
	return strconv.Quote(id[:64]) + "..."
}

// grow doubles the hash table. It rebuilds it from the forward storage
// rather than from the old slots: a slot keeps only 32 bits of hash, not the
// bits that pick the slot, and rehashing ids read in row order is sequential
// work next to the random writes into the new table.
func (d *Dict) grow() error {
	if len(d.slots) > maxSlots/2 {
		return fmt.Errorf("%w: the hash table of %d slots (%d rows) cannot double on this platform",
			ErrFull, len(d.slots), d.n)
	}
	d.growTo(2 * len(d.slots))
	return nil
}

// growTo moves the table to one of n slots (a power of two larger than
// the current one), rehashing every indexed id once.
func (d *Dict) growTo(n int) {
	indexed := d.indexed
	d.slots = make([]uint64, n)
	d.growAt = n / 4 * 3
	d.indexed = 0
	if err := d.insertRows(0, indexed, indexBatch); err != nil {
		panic(fmt.Sprintf("iddict: BUG: rehashing found a repeated id: %v", err))
	}
}

// appendID stores id as row d.n in the forward storage. It only appends:
// bytes and offsets a View may read are never rewritten, and when append
// reallocates, Views keep the old array, whose readable prefix is unchanged.
func (d *Dict) appendID(id string) {
	if d.n&chunkMask == 0 {
		endsCap := chunkRows
		if len(d.chunks) == 0 {
			endsCap = d.firstEnds
		}
		d.chunks = append(d.chunks, chunk{
			arena: make([]byte, 0, d.arenaHint),
			ends:  make([]uint32, 0, endsCap),
		})
	}
	c := &d.chunks[len(d.chunks)-1]
	c.arena = append(c.arena, id...)
	c.ends = append(c.ends, uint32(len(c.arena)))
	if len(c.ends) == chunkRows {
		d.seal(c)
	}
}

// seal trims a chunk that has just been filled to exact size, so the spare
// capacity append leaves behind is paid once per Dict (in the last chunk),
// not once per chunk. It copies into new arrays rather than shrinking in
// place; Views holding the old arrays keep them alive until they are dropped.
func (d *Dict) seal(c *chunk) {
	if cap(c.arena) != len(c.arena) {
		c.arena = append([]byte(nil), c.arena...)
	}
	if cap(c.ends) != len(c.ends) {
		c.ends = append([]uint32(nil), c.ends...)
	}
	d.arenaHint = len(c.arena)
}

// External returns the external id of row, or "" if row >= Len(). Ids are
// never empty, so "" unambiguously means "no such row".
func (d *Dict) External(row uint32) string {
	if row >= d.n {
		return ""
	}
	return string(d.chunks[row>>chunkBits].id(row & chunkMask))
}

// AppendExternal appends the external id of row to dst and returns the
// extended slice; dst is returned unchanged if row >= Len(). It allocates
// only if dst must grow.
func (d *Dict) AppendExternal(dst []byte, row uint32) []byte {
	if row >= d.n {
		return dst
	}
	return append(dst, d.chunks[row>>chunkBits].id(row&chunkMask)...)
}

// View returns a read-only snapshot of the rows assigned so far. It costs
// O(1) and does not allocate. Like every Dict method it must be called by
// the writer; the View it returns may then be handed to any number of
// goroutines, and stays valid and unchanged while the writer keeps
// assigning.
func (d *Dict) View() View {
	full := int(d.n >> chunkBits)
	v := View{full: d.chunks[:full:full], n: d.n}
	if d.n&chunkMask != 0 {
		v.tail = d.chunks[full]
	}
	return v
}

// MemoryBytes returns the bytes held by the Dict: the capacity of its hash
// table, chunk headers, arenas and offset arrays. It does not count arrays
// kept alive only by outstanding Views.
func (d *Dict) MemoryBytes() int {
	n := int(unsafe.Sizeof(*d))
	n += cap(d.slots) * 8
	n += cap(d.chunks) * int(unsafe.Sizeof(chunk{}))
	for i := range d.chunks {
		n += cap(d.chunks[i].arena) + 4*cap(d.chunks[i].ends)
	}
	return n
}

// View is an immutable snapshot of a Dict's forward mapping (row → external
// id) as of the View call. It is safe for concurrent use by any number of
// goroutines, also while the Dict's writer keeps assigning. The zero View is
// empty.
//
// A View shares the Dict's sealed chunks and holds a copy of the header of
// the partially filled last chunk. The writer only appends past what that
// header covers, and never writes to a sealed chunk, so a View reads memory
// no one writes.
type View struct {
	full []chunk // sealed chunks, shared with the Dict
	tail chunk   // header of the partial chunk after full, if any
	n    uint32
}

// Len returns the number of rows visible in the view.
func (v View) Len() uint32 { return v.n }

// External returns the external id of row, or "" if row >= Len().
func (v View) External(row uint32) string {
	if row >= v.n {
		return ""
	}
	return string(v.id(row))
}

// AppendExternal appends the external id of row to dst and returns the
// extended slice; dst is returned unchanged if row >= Len(). It allocates
// only if dst must grow.
func (v View) AppendExternal(dst []byte, row uint32) []byte {
	if row >= v.n {
		return dst
	}
	return append(dst, v.id(row)...)
}

// id returns the bytes of row < v.n, aliasing the arena.
func (v *View) id(row uint32) []byte {
	ci := int(row >> chunkBits)
	c := &v.tail
	if ci < len(v.full) {
		c = &v.full[ci]
	}
	return c.id(row & chunkMask)
}
