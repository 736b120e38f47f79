// Package exec runs segment queries over a dataset snapshot: it compiles
// text through the query front end against the snapshot's schema, plans
// it with the snapshot's statistics, and evaluates the plan with bitmap
// operations. Count-only requests take paths that never materialise the
// final result (AndCardinality, total minus a count).
//
// Bitmaps taken from the snapshot are shared and read-only; the executor
// tracks which intermediate results it owns and clones a shared bitmap
// before changing it in place.
package exec
