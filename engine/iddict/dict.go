package iddict

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"strconv"
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

// Reserve sizes the hash table for n rows in all (at most what it can
// hold), so that adding rows up to n grows it no more, and moving to the
// new size rehashes every id held once. A loader that knows how many ids
// it will add (a checkpoint's row count) saves the doublings on the way,
// each of which rehashes every id held: at 10M rows they were 29 % of a
// start's CPU.
func (d *Dict) Reserve(n int) {
	if uint64(n) > MaxRows&math.MaxInt {
		n = int(MaxRows & math.MaxInt)
	}
	if n <= d.growAt {
		return
	}
	if d.n == 0 && len(d.chunks) == 0 {
		// Nothing held yet: size the chunk list too.
		d.chunks = make([]chunk, 0, n>>chunkBits+1)
		d.firstEnds = min(n, chunkRows)
	}
	// One rehash into the final size (none for an empty table).
	if slots := slotsFor(n); slots > len(d.slots) {
		d.growTo(slots)
	}
}

// Len returns the number of rows; the next new id gets row Len().
func (d *Dict) Len() uint32 { return d.n }

// Lookup returns the row of id, if it has one. Like every Dict method it is
// for the writer (or callers holding the writer's lock): the hash table it
// probes is rebuilt by Assign.
func (d *Dict) Lookup(id string) (row uint32, ok bool) {
	if len(id) == 0 || len(id) > MaxIDLen {
		return 0, false // never assigned, so not worth hashing
	}
	row, _, ok = find(d, id, maphash.String(d.seed, id))
	return row, ok
}

// LookupBytes is Lookup for an id held in a byte slice, e.g. a request
// buffer. It does not allocate and does not retain id.
func (d *Dict) LookupBytes(id []byte) (uint32, bool) {
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
	return row, true, nil
}

// AppendNew gives ids the next rows, in order: the first gets Len(). It is
// the bulk path of loading a checkpoint, where every id is new: instead of
// probing the hash table once per id in arrival order (a cache miss each
// in a table of hundreds of megabytes), it hashes the batch, sorts it by
// table slot and inserts in slot order, so the writes sweep the table
// forward. It still checks that every id is new, against the table and
// within the batch.
//
// On error (an empty, too long or known id, a full Dict) the Dict may hold
// some of the batch: it is for loaders that discard the Dict when its
// input is bad, as a failed checkpoint load does.
func (d *Dict) AppendNew(ids [][]byte) error {
	for len(ids) > maxBatch {
		if err := d.appendNew(ids[:maxBatch]); err != nil {
			return err
		}
		ids = ids[maxBatch:]
	}
	return d.appendNew(ids)
}

// sortedGrowRows is the size from which grow inserts in slot order: below
// it the table fits the caches and sorting costs more than it saves.
const sortedGrowRows = 1 << 16

// maxBatch bounds the ids appendNew sorts at once: its keys then pack a
// slot (at most 34 bits) and an index in 64 bits.
const maxBatch = 1 << 20

func (d *Dict) appendNew(ids [][]byte) error {
	if len(ids) == 0 {
		return nil
	}
	if uint64(d.n)+uint64(len(ids)) > MaxRows {
		return fmt.Errorf("%w: %d rows held, cannot add %d", ErrFull, d.n, len(ids))
	}
	for _, id := range ids {
		switch {
		case len(id) == 0:
			return ErrEmptyID
		case len(id) > MaxIDLen:
			return fmt.Errorf("%w: got %d bytes, starting %s", ErrIDTooLong, len(id), quote(string(id)))
		}
	}
	for uint64(d.n)+uint64(len(ids)) > uint64(d.growAt) {
		if err := d.grow(); err != nil {
			return err
		}
	}
	first := d.n
	mask := uint64(len(d.slots) - 1)
	// keys[i] holds the slot an id hashes to above its index in ids, so
	// sorting the keys sorts the batch by slot; hashes keeps each id's
	// hash for its tag.
	keys := make([]uint64, len(ids))
	hashes := make([]uint64, len(ids))
	idxBits := uint(bits.Len(uint(len(ids))))
	for i, id := range ids {
		h := maphash.Bytes(d.seed, id)
		hashes[i] = h
		keys[i] = (h&mask)<<idxBits | uint64(i)
		d.appendID(string(id))
		d.n++
	}
	// The keys arrive in index order and the sort is stable: sorting on
	// the slot bits alone is enough.
	radixSort(keys, idxBits, idxBits+uint(bits.Len64(mask)))
	idxMask := uint64(1)<<idxBits - 1
	for _, k := range keys {
		i := k & idxMask
		h := hashes[i]
		row, slot, ok := find(d, ids[i], h)
		if ok {
			return fmt.Errorf("external id %s of row %d is row %d already", quote(string(ids[i])), first+uint32(i), row)
		}
		d.slots[slot] = h>>32<<32 | uint64(first+uint32(i)+1)
	}
	return nil
}

// radixSort sorts keys stably by their bits from..to-1, least significant
// digit first, 11 bits a pass.
func radixSort(keys []uint64, from, to uint) {
	const digit = 11
	if len(keys) < 2 {
		return
	}
	tmp := make([]uint64, len(keys))
	var count [1 << digit]int
	src, dst := keys, tmp
	for shift := from; shift < to; shift += digit {
		mask := uint64(1)<<min(digit, to-shift) - 1
		clear(count[:])
		for _, k := range src {
			count[k>>shift&mask]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, k := range src {
			b := k >> shift & mask
			dst[count[b]] = k
			count[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
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
// the current one), rehashing every id once.
func (d *Dict) growTo(n int) {
	slots := make([]uint64, n)
	mask := uint64(len(slots) - 1)
	if d.n < sortedGrowRows {
		for ci := range d.chunks {
			c := &d.chunks[ci]
			for i := range c.ends {
				h := maphash.Bytes(d.seed, c.id(uint32(i)))
				j := h & mask
				for slots[j] != 0 {
					j = (j + 1) & mask
				}
				row := uint32(ci)<<chunkBits | uint32(i)
				slots[j] = h>>32<<32 | uint64(row+1)
			}
		}
	} else {
		// A large table is written in slot order, a batch of rows at a
		// time, as AppendNew does: rows in row order land all over it.
		n := int(d.n)
		batch := min(n, maxBatch)
		keys, hashes := make([]uint64, batch), make([]uint64, batch)
		idxBits := uint(bits.Len(uint(batch)))
		for first := 0; first < n; first += batch {
			m := min(batch, n-first)
			for i := range m {
				r := uint32(first + i)
				h := maphash.Bytes(d.seed, d.chunks[r>>chunkBits].id(r&chunkMask))
				hashes[i] = h
				keys[i] = (h&mask)<<idxBits | uint64(i)
			}
			radixSort(keys[:m], idxBits, idxBits+uint(bits.Len64(mask)))
			for _, k := range keys[:m] {
				i := k & (1<<idxBits - 1)
				h := hashes[i]
				j := h & mask
				for slots[j] != 0 {
					j = (j + 1) & mask
				}
				slots[j] = h>>32<<32 | uint64(uint32(first)+uint32(i)+1)
			}
		}
	}
	d.slots = slots
	d.growAt = len(slots) / 4 * 3
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
