// Package index holds the per-field bitmap indexes of a dataset: one bitmap
// per value for tag, set and bool fields, a bit-sliced index (BSI) for int,
// decimal and date fields, and per-(value, day) bitmaps for event fields.
//
// # Writers and readers
//
// Each index is owned by a single writer (the dataset serialises updates).
// Readers never touch the writer's structures: after a batch of updates the
// writer calls View, which returns an immutable view that queries read for
// as long as they like while the writer carries on.
//
// Views are cheap because bitmaps are copy-on-write at the roaring
// container level (2^16 rows). Publishing a changed bitmap clones it with
// roaring's copy-on-write enabled, which copies only the container
// pointers; the next write to a shared container in the writer's bitmap
// copies that one container first. So a view costs O(containers) pointers
// per bitmap changed since the last view, and memory holds a second copy
// only of containers written since then. Published bitmaps have
// copy-on-write switched off, so that a reader's Clone is a plain deep copy
// and reading never writes to shared state (checked under -race).
//
// Bitmaps in a view must be treated as read-only by everyone.
package index
