// Package storage keeps Cohort's datasets durable in Badger. It is the
// only package that imports Badger.
//
// # What is stored
//
// The in-memory engine is rebuilt from a write-ahead log: every accepted
// ingest line and every schema change is written, in order, before it is
// applied and acknowledged (see Durable). A checkpoint writes a dataset's
// whole state (every bitmap and external id) as of an applied-through
// sequence and drops the log it covers; Recover loads the latest
// checkpoint into a fresh engine and replays the log after it (see
// checkpoint.go for the steps and what a crash between them leaves).
//
// # Key layout
//
//	m/format                    store format record (JSON: format, created)
//	m/next_id                   next dataset id (uint64)
//	c/<name>                    catalog entry of a dataset (JSON: id, created)
//	d/<id>/m                    dataset metadata: next sequence, applied-through[, checkpoint generation] (2 or 3 × uint64)
//	d/<id>/s                    schema as of applied-through (schema JSON)
//	d/<id>/w/<seq>              write-ahead entry starting at sequence seq
//	d/<id>/g/<segment name>     saved segment (JSON; members in parts below)
//	d/<id>/h/<name>/<ver>/<i>   part i of version ver of a segment's members
//	d/<id>/k/<gen>/<key>        checkpoint blob (engine key, see engine/checkpoint.go) of generation gen,
//	                            or a reference to the same key in an older generation (incremental.go)
//
// <id> is a dataset id as 8 big-endian bytes, <seq> a sequence as 8
// big-endian bytes, so Badger's key order is sequence order and one
// iterator streams a dataset's log. A dataset is addressed by name only in
// its catalog entry; everything else lives under d/<id>/, so:
//
//   - dropping a dataset deletes its catalog entry in one transaction (the
//     dataset is then gone) and then removes the prefix d/<id>/; a crash
//     in between leaves keys that Open removes;
//   - a dataset created again under a dropped name gets a new id and
//     cannot see anything of the old one.
//
// Sequences are per dataset and start at 1. An entry of n ingest lines
// covers n sequences (the lines are stored as received, after
// validation); an added field covers one. Entries follow each other
// without gaps and the metadata's next sequence is where the log ends;
// recovery checks both, so a lost entry is reported, not skipped. The
// metadata is written in the same transaction as the entries it counts.
//
// Applied-through is the last sequence the current checkpoint covers (0
// and no generation: none). The schema at d/<id>/s is the schema as of
// that point; fields added later are write-ahead entries, replayed in
// order with the records. A checkpoint writes its blobs under a new
// generation d/<id>/k/<gen>/ (values that changed, references for the
// rest), then, in one transaction, the schema and metadata that point at
// it, then deletes what the older generations hold that it does not
// refer to, and the entries it covers.
//
// # Values
//
// Every value is an envelope: format version, kind, payload length,
// payload and a CRC-32C of the key and all that precedes the CRC (see
// envelope.go). A value that is truncated, damaged, of an unknown version,
// of the wrong kind for its key or whose payload does not decode is
// reported as a *CorruptError naming the dataset, the key and the reason;
// nothing built from it is used and nothing panics.
//
// # Backup and restore
//
// Store.Backup writes Badger's backup stream, read at one timestamp, in
// checksummed chunks after a "COHORTBK" header and before an end marker
// (see backup.go); Restore refuses a non-empty target, loads the checked
// chunks into a temporary directory next to it, opens the result as a
// store and only then renames it into place.
//
// # Durability (fsync policy)
//
// Badger runs with SyncWrites: a transaction commit returns after its
// memtable log and value log writes are synced to disk. All writes go
// through one committer goroutine that puts the requests queued at the
// time (waiting at most Options.CommitWindow for more) into one
// transaction, so concurrent writers share one write and one fsync (group
// commit). A write is acknowledged only after its transaction's fsync.
//
// What a crash (kill -9, power loss) can lose: writes not yet
// acknowledged. It cannot lose an acknowledged write, and it cannot leave
// half a write: a Badger transaction is applied whole or not at all on
// restart, and one Append is one value in one transaction.
//
// If a commit fails (a write or fsync error, a full disk), the store
// refuses all further writes until the process restarts: part of the
// failed transaction may have reached the disk, and only a restart (which
// replays what did) can say which. Nothing of a failed write is applied
// to the engine.
package storage
