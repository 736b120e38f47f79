package storage

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// Keys. The layout is described in doc.go; these functions are the only
// place that builds or parses keys.
const (
	keyFormat = "m/format"  // store-wide: format version, creation time
	keyNextID = "m/next_id" // store-wide: the next dataset id to hand out

	prefixCatalog = "c/" // c/<dataset name> → catalog entry
	prefixData    = "d/" // d/<id:8> … → everything else of one dataset

	// The byte after d/<id:8>/ says what the key holds.
	partMeta       = 'm' // d/<id>/m → next sequence, applied-through
	partSchema     = 's' // d/<id>/s → schema as of applied-through
	partWAL        = 'w' // d/<id>/w/<seq:8> → write-ahead entry
	partSegment    = 'g' // d/<id>/g/<name> → saved segment
	partSegPart    = 'h' // d/<id>/h/<name>/<version:8>/<i:4> → part of its members
	partCheckpoint = 'k' // d/<id>/k/<generation:8>/<key> → checkpoint blob
)

func catalogKey(name string) []byte { return append([]byte(prefixCatalog), name...) }

// dataPrefix is d/<id>/: every key of one dataset except its catalog
// entry, so that dropping a dataset is one prefix.
func dataPrefix(id uint64) []byte {
	k := make([]byte, 0, 2+8+1+2+8)
	k = append(k, prefixData...)
	k = binary.BigEndian.AppendUint64(k, id)
	return append(k, '/')
}

func partKey(id uint64, part byte) []byte { return append(dataPrefix(id), part) }

func metaKey(id uint64) []byte   { return partKey(id, partMeta) }
func schemaKey(id uint64) []byte { return partKey(id, partSchema) }

// walPrefix is d/<id>/w/. WAL keys end in the big-endian sequence of the
// entry's first record, so Badger's key order is sequence order.
func walPrefix(id uint64) []byte { return append(partKey(id, partWAL), '/') }

func walKey(id, seq uint64) []byte { return binary.BigEndian.AppendUint64(walPrefix(id), seq) }

func segmentPrefix(id uint64) []byte { return append(partKey(id, partSegment), '/') }

func segmentKey(id uint64, name string) []byte { return append(segmentPrefix(id), name...) }

// segPartPrefix is d/<id>/h/<name>/: every stored version of a segment's
// member payload (segment names hold no '/').
func segPartPrefix(id uint64, name string) []byte {
	return append(append(append(partKey(id, partSegPart), '/'), name...), '/')
}

// segVersionPrefix is d/<id>/h/<name>/<version:8>/, one payload.
func segVersionPrefix(id uint64, name string, version uint64) []byte {
	return append(binary.BigEndian.AppendUint64(segPartPrefix(id, name), version), '/')
}

func segPartKey(id uint64, name string, version uint64, i uint32) []byte {
	return binary.BigEndian.AppendUint32(segVersionPrefix(id, name, version), i)
}

// checkpointPrefix is d/<id>/k/: checkpoint blobs live under it, so that
// a drop removes them with the rest of the dataset.
func checkpointPrefix(id uint64) []byte { return append(partKey(id, partCheckpoint), '/') }

// generationPrefix is d/<id>/k/<gen:8>/, the blobs of one checkpoint.
func generationPrefix(id, gen uint64) []byte {
	return append(binary.BigEndian.AppendUint64(checkpointPrefix(id), gen), '/')
}

// walSeq returns the sequence at the end of a WAL key.
func walSeq(key []byte, id uint64) (uint64, bool) {
	p := walPrefix(id)
	if len(key) != len(p)+8 || string(key[:len(p)]) != string(p) {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[len(p):]), true
}

// dataID returns the dataset id of a d/ key.
func dataID(key []byte) (uint64, bool) {
	if len(key) < len(prefixData)+8 || string(key[:len(prefixData)]) != prefixData {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[len(prefixData):]), true
}

// keyString renders a key for error messages: d/7/w/4097 rather than
// binary ids and sequences; bytes that are not printable are escaped.
func keyString(key []byte) string {
	id, ok := dataID(key)
	if !ok {
		return printable(key)
	}
	rest := key[len(prefixData)+8:]
	s := prefixData + strconv.FormatUint(id, 10)
	if len(rest) == 11 && rest[1] == partWAL && rest[2] == '/' {
		return fmt.Sprintf("%s/w/%d", s, binary.BigEndian.Uint64(rest[3:]))
	}
	if len(rest) >= 12 && rest[1] == partCheckpoint && rest[2] == '/' && rest[11] == '/' {
		return fmt.Sprintf("%s/k/%d/%s", s, binary.BigEndian.Uint64(rest[3:]), printable(rest[12:]))
	}
	return s + printable(rest)
}

// printable is b quoted as Go would, without the quotes.
func printable(b []byte) string {
	q := strconv.Quote(string(b))
	return q[1 : len(q)-1]
}
