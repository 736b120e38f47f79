package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Every value Cohort writes is wrapped in an envelope:
//
//	version:1 kind:1 length:4 payload:length crc:4
//
// The CRC-32C covers the key, then everything before the CRC. Covering the
// key catches a value that ended up under the wrong key; the explicit
// length tells a truncated value (a reason of its own) from a damaged one.
// Badger has checksums of its own, but they cover its files, not what it
// hands back after compaction, a bug, or a hand-edited restore.
const (
	formatVersion  = 1
	envelopeHeader = 1 + 1 + 4
	envelopeSize   = envelopeHeader + 4
)

// kind says what an envelope holds, so a value under the wrong key is
// refused instead of misread.
type kind byte

const (
	kindFormat     kind = 'V' // m/format
	kindNextID     kind = 'I' // m/next_id
	kindCatalog    kind = 'C' // c/<name>
	kindMeta       kind = 'M' // d/<id>/m
	kindSchema     kind = 'S' // d/<id>/s
	kindRecords    kind = 'R' // d/<id>/w/<seq>: ingest lines
	kindRecordsS2  kind = 'Z' // d/<id>/w/<seq>: ingest lines, S2-compressed
	kindField      kind = 'F' // d/<id>/w/<seq>: a field added to the schema
	kindSegment    kind = 'G' // d/<id>/g/<name>
	kindSegPart    kind = 'H' // d/<id>/h/<name>/<version>/<i>: part of a segment's member payload
	kindCheckpoint kind = 'K' // d/<id>/k/<generation>/<key>: checkpoint blob
	kindCheckRef   kind = 'J' // d/<id>/k/<generation>/<key>: the blob is unchanged in an older generation
)

func (k kind) String() string {
	switch k {
	case kindFormat:
		return "format record"
	case kindNextID:
		return "dataset id counter"
	case kindCatalog:
		return "catalog entry"
	case kindMeta:
		return "dataset metadata"
	case kindSchema:
		return "schema"
	case kindRecords:
		return "write-ahead records"
	case kindRecordsS2:
		return "compressed write-ahead records"
	case kindField:
		return "write-ahead add-field"
	case kindSegment:
		return "saved segment"
	case kindSegPart:
		return "saved segment members"
	case kindCheckpoint:
		return "checkpoint value"
	case kindCheckRef:
		return "checkpoint reference"
	}
	return fmt.Sprintf("unknown kind 0x%02x", byte(k))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seal wraps payload for key.
func seal(key []byte, k kind, payload []byte) []byte {
	return sealFor(key, preseal(k, payload))
}

// preseal builds an envelope without its checksum, for a key not yet
// known (a write-ahead entry's sequence is chosen by the committer). The
// encoding work stays with the caller; sealFor only adds the CRC.
func preseal(k kind, payload []byte) []byte {
	v := make([]byte, envelopeHeader, envelopeSize+len(payload))
	return presealHeader(append(v, payload...), k)
}

// presealHeader fills in the header of v, an envelope whose payload has
// been written after envelopeHeader bytes, with room for the CRC.
func presealHeader(v []byte, k kind) []byte {
	if cap(v)-len(v) < 4 {
		v = append(v[:len(v):len(v)], 0, 0, 0, 0)[:len(v)]
	}
	v[0] = formatVersion
	v[1] = byte(k)
	binary.BigEndian.PutUint32(v[2:], uint32(len(v)-envelopeHeader))
	return v
}

// sealFor completes a preseal'd envelope for key. It writes the CRC into
// the spare capacity preseal left, so sealing the same value again (for a
// retried transaction) does not copy it.
func sealFor(key, v []byte) []byte {
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, v)
	out := v[:len(v)+4]
	binary.BigEndian.PutUint32(out[len(v):], crc)
	return out
}

// open checks the envelope of a value read under key and returns its kind
// and payload (a sub-slice of v). The error is a reason, for a
// CorruptError.
func open(key, v []byte) (kind, []byte, error) {
	if len(v) < envelopeSize {
		return 0, nil, fmt.Errorf("truncated: %d bytes, shorter than the %d-byte envelope", len(v), envelopeSize)
	}
	if v[0] != formatVersion {
		return 0, nil, fmt.Errorf("unknown format version %d (this build reads version %d)", v[0], formatVersion)
	}
	n := int64(binary.BigEndian.Uint32(v[2:]))
	if have := int64(len(v) - envelopeSize); have != n {
		if have < n {
			return 0, nil, fmt.Errorf("truncated: %d payload bytes of the %d declared", have, n)
		}
		return 0, nil, fmt.Errorf("%d bytes after the declared %d-byte payload", have-n, n)
	}
	body := v[:len(v)-4]
	stored := binary.BigEndian.Uint32(v[len(v)-4:])
	if sum := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body); sum != stored {
		return 0, nil, fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", stored, sum)
	}
	return kind(v[1]), body[envelopeHeader:], nil
}

// openAs is open for a value that must be of kind want.
func openAs(key, v []byte, want kind) ([]byte, error) {
	k, payload, err := open(key, v)
	if err != nil {
		return nil, err
	}
	if k != want {
		return nil, fmt.Errorf("holds a %s where a %s belongs", k, want)
	}
	return payload, nil
}

// CorruptError reports a stored value that failed its checks. Nothing
// built from it is used.
type CorruptError struct {
	Dataset string // "" for store-wide keys
	Key     string // printable key, e.g. d/3/w/4097
	Reason  string
}

func (e *CorruptError) Error() string {
	if e.Dataset == "" {
		return fmt.Sprintf("storage: corrupt value at key %s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("storage: corrupt value in dataset %s at key %s: %s", e.Dataset, e.Key, e.Reason)
}

func corrupt(dataset string, key []byte, reason error) *CorruptError {
	return &CorruptError{Dataset: dataset, Key: keyString(key), Reason: reason.Error()}
}
