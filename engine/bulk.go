package engine

import (
	"runtime"

	"github.com/cohortdb/cohort/engine/record"
)

// Bulk applies the batches of a bulk path (a load of a file, a durable
// load, the benchmark's load) with few publications: nobody reads while
// it runs, and each publication makes the next writes copy every
// container they touch and copies every changed bitmap's container
// index, which grows with the dataset. At a fixed interval that copying
// grew with the square of a load's size (0.5 GB for 10M profiles, tens of
// GB for 100M), so by default a snapshot is published every 2^20 records
// or an eighth of the dataset's rows, whichever is more, and the bitmaps'
// grown tails are rebuilt every 2^20 records in between (Dataset.compact).
//
// A Bulk is used by one goroutine at a time; the dataset's other writers
// may go on, and Publish or Finish makes everything applied visible.
type Bulk struct {
	d     *Dataset
	fixed int // publish every fixed records; 0: by the dataset's rows
	every int
	// pending counts the records applied since the last publication,
	// uncompacted since the last rebuild of grown tails, applied all the
	// records applied (Finish).
	pending, uncompacted, applied int
}

// Bulk returns a bulk path over d that publishes every `every` records,
// or by the default above when every is 0 or less.
func (d *Dataset) Bulk(every int) *Bulk {
	b := &Bulk{d: d, fixed: max(every, 0), every: every}
	if every <= 0 {
		b.every = defaultPublishEvery(d.Snapshot().Rows())
	}
	return b
}

// Apply applies a batch as Dataset.Apply does, publishing a snapshot
// when its interval is reached.
func (b *Bulk) Apply(updates []record.Update) Result {
	b.pending += len(updates)
	b.uncompacted += len(updates)
	publish := b.pending >= b.every
	if publish {
		b.pending, b.uncompacted = 0, 0
	}
	res := b.d.apply(updates, publish)
	b.applied += res.Applied
	if publish && b.fixed == 0 {
		b.every = defaultPublishEvery(b.d.Snapshot().Rows())
	}
	if b.uncompacted >= compactEvery {
		// Between publications a load's grown tails are its own:
		// rebuilt now, their old copies are garbage at once (see
		// index.cowBitmap.compactBetween).
		b.uncompacted = 0
		b.d.compact()
	}
	return res
}

// Unpublished reports whether records were applied since the last
// publication.
func (b *Bulk) Unpublished() bool { return b.pending > 0 }

// Publish makes everything applied so far visible to readers.
func (b *Bulk) Publish() {
	b.pending, b.uncompacted = 0, 0
	b.d.Publish()
}

// Finish publishes what is left at the end of a load. After a large one
// it collects garbage first: the final publication copies every changed
// bitmap's container index (0.8 GB at 100M profiles) while the previous
// snapshot holds the old ones, and near a memory limit the collector,
// behind a load's garbage, let that land on top of it (the highest
// resident memory of a 100M load). Once per large load.
func (b *Bulk) Finish() {
	if b.applied >= collectBefore {
		runtime.GC()
	}
	b.applied = 0
	b.Publish()
}

// collectBefore is the size of a load, in records, from which Finish
// collects garbage before its publication.
const collectBefore = 1 << 24

// compactEvery is how many records a bulk load applies between
// rebuilds of its grown bitmap tails when it does not publish.
const compactEvery = 1 << 20

// defaultPublishEvery is the interval of a Bulk over a dataset of rows
// rows.
func defaultPublishEvery(rows uint32) int {
	return max(1<<20, int(rows/8))
}
