// Package iddict is the dictionary between a profile's external id (the
// string callers know it by) and its row id (the dense uint32 that is its
// position in every roaring bitmap of the engine).
//
// Rows are handed out densely in order of first Assign, starting at 0, and
// are never deleted or reused, so bitmaps stay compact and a row id is
// stable for the life of the dictionary.
//
// # Forward storage: row → id
//
// Ids live in append-only chunks of 2^16 rows. A chunk is a byte arena
// holding its ids back to back plus a []uint32 of end offsets, so a row costs
// 4 bytes beyond its id and no per-id string header or pointer, which also
// keeps the garbage collector from scanning millions of strings. When a chunk
// fills it is trimmed to exact size and never written again; the next
// chunk's arena is pre-sized from the last one's, since ids of one
// population have similar lengths.
//
// Append-only chunks are what make View cheap and safe: a View shares the
// sealed chunks and copies the slice header of the one partial chunk. The
// writer only ever appends beyond what that header covers (into spare
// capacity, or into a fresh array when append reallocates), so readers of a
// View never touch memory being written and need no lock. A View costs O(1)
// to take and nothing to keep beyond pinning arrays the writer has since
// replaced.
//
// # Reverse index: id → row
//
// An open-addressing hash table with linear probing over a []uint64. Each
// slot packs row+1 in its low 32 bits (0 means empty) and the top 32 bits of
// the id's hash in its high 32 bits; the slot index comes from the low bits
// of the same hash. Probes compare the stored hash bits first, so a probe
// reads an id from the arena only when they match, which for a different id
// happens once in 2^32 probes: a lookup touches the arena about once for a
// hit and almost never for a miss. Hashes come from
// hash/maphash with a per-Dict seed: unpredictable to anyone choosing ids,
// and no package-level state. The load factor is kept at or below 3/4 by
// doubling; a doubling rehashes the ids from the forward storage, because a
// slot keeps no copy of the bits that pick its index.
//
// # Filling a large table a region at a time
//
// Once the table outgrows the caches (128 MiB at 10M, 1 GiB at 100M), an
// insert in row order is a cache and TLB miss. Rehashing (a doubling past
// 2^16 rows) and Index (which indexes the rows AppendUnindexed added: a
// checkpoint's ids, appended chunk by chunk as they arrive) insert batches
// of up to 2^22 rows scattered by table region of 2^15 slots (256 KiB,
// within the L2 cache), so the writes move through the table one cached
// window at a time; Index still checks every id against the table and the
// batch. Indexing once after the last chunk instead of chunk by chunk
// (AppendNew, which sorted each chunk's 2^16 ids by slot: one insert per
// 16 KiB of a 1 GiB table) took a 100M start from 29–59 to 21–27 s.
//
// The reverse index belongs to the single writer. Assign, Lookup and
// LookupBytes (indeed every Dict method) must be serialised by the caller,
// typically under the engine's writer lock; concurrent readers resolve rows
// to ids through a View.
//
// # Memory
//
// Beyond the ids' own bytes a profile costs 4 bytes of offset plus 8 bytes
// per table slot divided by the load: between 4+8/0.75 ≈ 14.7 bytes (table
// about to double) and 4+8/0.375 ≈ 25.3 bytes (table just doubled), plus
// the spare capacity of the last, partial chunk, under a byte per profile
// from 1M up. Measured by BenchmarkMemory with "u%09d" ids: 21.5 B/profile
// at 1M (2^21 slots: 16.8 table + 4 offsets + 0.7 spare) and 17.5 B/profile
// at 10M (2^24 slots: 13.4 + 4 + 0.04). Pre-sizing with ExpectedSize does
// not change these, as the table is a power of two either way; it saves the
// rehashes and the transient old+new table.
//
// # Scaling to 100M profiles
//
// Forward storage grows by one chunk per 2^16 rows: 1,526 chunks at 100M,
// each a 256 KiB offset array plus an arena of 2^16 × the id length (2.25
// MiB for 36-byte UUIDs). No forward allocation is large; a chunk is copied
// at most once, when sealed, and never again however large the dictionary
// grows; and a chunk's arena is bounded by 2^16 × MaxIDLen = 64 MiB, so its
// uint32 offsets cannot overflow.
//
// The hash table is the one large array: at 100M profiles it has 2^27 slots
// × 8 B = 1 GiB, ≈ 10.7 B/profile at a load of 0.745. Growing into it from
// 2^26 slots transiently needs old and new table at once (1.5 GiB) and a
// rehash of ~50M ids. Pass Options.ExpectedSize when the size is known (at
// load from a snapshot, say) to allocate the final table up front and never
// rehash. Beyond that, or to let several writers assign in parallel, shard by
// row range: N dictionaries, shard k owning rows [k·R, (k+1)·R), an id's
// shard picked by its hash; each shard then has its own smaller table and
// its own writer, and row ranges map onto the engine's per-shard bitmaps.
// Rows are uint32, so one Dict holds at most MaxRows = 2^32-1 profiles.
package iddict
