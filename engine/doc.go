// Package engine holds Cohort's in-memory datasets: the schema, the id
// dictionary and the bitmap indexes of every field, kept current by
// ingest records and read through immutable snapshots.
//
// # Concurrency
//
// A dataset has one writer at a time (Apply takes the dataset's write
// lock) and any number of readers, which never block and are never
// blocked. Apply changes the writer's own copy of the indexes and, at the
// end of each batch, publishes a new Snapshot through an atomic pointer. A
// reader calls Snapshot once and uses it for its whole query, so it sees
// one consistent state even while later batches land.
//
// Snapshots are cheap because bitmaps are copy-on-write at the container
// level (see package index): publishing copies container pointers of the
// bitmaps that changed, and memory holds a second copy only of the
// containers written since the last snapshot that a reader still holds.
// The alternative, a reader-writer lock held for the whole query, would
// let a long export stall ingest and vice versa; full copies per batch
// would cost memory bandwidth proportional to the dataset.
//
// Several engines can live in one process: nothing here is global.
package engine
