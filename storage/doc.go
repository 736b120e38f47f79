// Package storage will own Badger: schemas, the id dictionary, field
// bitmaps, saved segments and the write-ahead record of applied updates,
// with checkpoints and crash recovery. Nothing else in Cohort imports
// Badger. (Issue 4; empty until then.)
package storage
