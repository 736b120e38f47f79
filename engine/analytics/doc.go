// Package analytics answers the questions a marketer asks about a segment
// once it has been counted (DESIGN §3): what it looks like (Profile: the
// TGI breakdown of categorical fields and the distribution of numeric
// ones), how several segments intersect (Overlap), and how to cut one into
// stable A/B groups (Split).
//
// Everything here works on a snapshot and a segment bitmap, never on the
// profiles one by one where the indexes can answer: categorical counts are
// intersection cardinalities, numeric statistics are computed on the
// bit-sliced index (sums from per-slice counts, percentiles by bit-sliced
// rank selection), so the cost follows the number of values and bit
// slices rather than the number of profiles. Split is the exception: a
// profile's group must depend on its external id alone, so it hashes
// every member of the segment.
//
// The package holds no mutable state; every call is independent and safe
// to run concurrently on shared snapshots.
package analytics
