package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/dgraph-io/badger/v4"

	"github.com/cohortdb/cohort/engine"
)

// Segment is a saved segment: a query, evaluated when used (dynamic), or
// a fixed member list (materialised): external ids (an uploaded list) or
// rows of the dataset (a split or lookalike result, which has them at
// hand). Exactly one of Query, Members and Rows is set.
type Segment struct {
	Name        string          `json:"name"`
	Query       string          `json:"q,omitempty"`
	Members     []string        `json:"members,omitempty"`
	Rows        *roaring.Bitmap `json:"-"`
	Description string          `json:"description,omitempty"`
	Created     time.Time       `json:"created"`
}

// ErrSegmentNotFound is returned for a segment that is not stored.
var ErrSegmentNotFound = errors.New("segment not found")

// segmentName is what SEGMENT('…') can refer to without surprises: no
// quotes, no spaces, no path separators.
var segmentName = regexp.MustCompile(`^[\p{L}\p{N}_.-]{1,128}$`)

// ValidateSegmentName checks a name SEGMENT('…') can refer to.
func ValidateSegmentName(name string) error {
	if !segmentName.MatchString(name) {
		return fmt.Errorf("segment name %q must be 1–128 letters, digits, _, . and -", name)
	}
	return nil
}

// Validate checks the segment's name and that it has exactly one of a
// query, ids and rows, as PutSegment will.
func (g *Segment) Validate() error {
	if err := ValidateSegmentName(g.Name); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{g.Query != "", len(g.Members) > 0, g.Rows != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("segment %s must have exactly one of a query, a member list and rows", g.Name)
	}
	return nil
}

// segmentRecord is what d/<id>/g/<name> holds. A member list can be far
// larger than one transaction may carry (Badger caps it at a fraction of
// a memtable), so it is stored apart, in parts of at most segPartSize
// under d/<id>/h/<name>/<version>/, each written and synced before the
// record that points at them: a reader sees the old segment or the new
// one, never a mix, and a crash in between leaves only unreferenced
// parts, removed when the segment is next saved or deleted.
type segmentRecord struct {
	Name        string    `json:"name"`
	Query       string    `json:"q,omitempty"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	// Members is the inline member list of stores written before
	// payloads were split into parts; still read.
	Members []string     `json:"members,omitempty"`
	Payload *payloadInfo `json:"payload,omitempty"`
}

type payloadInfo struct {
	Form    string `json:"form"` // "ids": a JSON array of external ids; "rows": a roaring bitmap (portable format)
	Version uint64 `json:"version"`
	Parts   uint32 `json:"parts"`
	Bytes   uint64 `json:"bytes"`
	CRC     uint32 `json:"crc"` // CRC-32C of the whole payload
}

const (
	segPartSize = 1 << 20
	formIDs     = "ids"
	formRows    = "rows"
)

// PutSegment saves (or replaces) a segment of a dataset. A zero Created
// is set to now.
func (s *Store) PutSegment(ctx context.Context, dataset string, g Segment) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if g.Created.IsZero() {
		g.Created = time.Now().UTC()
	}
	info, ok := s.catalog().get(dataset)
	if !ok {
		return fmt.Errorf("cannot save segment %s: dataset %s: %w", g.Name, dataset, engine.ErrNotFound)
	}
	rec := segmentRecord{Name: g.Name, Query: g.Query, Description: g.Description, Created: g.Created}
	var payload []byte
	var err error
	switch {
	case g.Members != nil:
		rec.Payload = &payloadInfo{Form: formIDs}
		payload, err = json.Marshal(g.Members)
	case g.Rows != nil:
		rec.Payload = &payloadInfo{Form: formRows}
		payload, err = g.Rows.ToBytes()
	}
	if err != nil {
		return fmt.Errorf("cannot save segment %s: %w", g.Name, err)
	}
	sameDataset := func(st *stager) error {
		if d, ok := st.cat.get(dataset); !ok || d.ID != info.ID {
			return fmt.Errorf("dataset %s: %w", dataset, engine.ErrNotFound)
		}
		return nil
	}
	if p := rec.Payload; p != nil {
		p.Version = uint64(time.Now().UnixNano())
		p.Bytes = uint64(len(payload))
		p.CRC = crc32.Checksum(payload, castagnoli)
		for off := 0; off < len(payload) || (off == 0 && len(payload) == 0); off += segPartSize {
			part := payload[off:min(off+segPartSize, len(payload))]
			k := segPartKey(info.ID, g.Name, p.Version, p.Parts)
			p.Parts++
			r := &request{size: len(k) + len(part) + 16}
			r.stage = func(st *stager) error {
				if err := sameDataset(st); err != nil {
					return err
				}
				return st.set(k, seal(k, kindSegPart, part))
			}
			if err := s.do(ctx, r); err != nil {
				return fmt.Errorf("cannot save segment %s of %s: %w", g.Name, dataset, err)
			}
			if len(payload) == 0 {
				break
			}
		}
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("cannot save segment %s: %w", g.Name, err)
	}
	r := &request{size: len(body)}
	r.stage = func(st *stager) error {
		if err := sameDataset(st); err != nil {
			return err
		}
		k := segmentKey(info.ID, g.Name)
		return st.set(k, seal(k, kindSegment, body))
	}
	if err := s.do(ctx, r); err != nil {
		return fmt.Errorf("cannot save segment %s of %s: %w", g.Name, dataset, err)
	}
	// The record now points at this version: the others are garbage.
	var keep []byte
	if rec.Payload != nil {
		keep = segVersionPrefix(info.ID, g.Name, rec.Payload.Version)
	}
	if err := s.deleteKeys(segPartPrefix(info.ID, g.Name), func(k []byte) bool { return keep == nil || !bytes.HasPrefix(k, keep) }); err != nil {
		return fmt.Errorf("segment %s of %s saved, but removing its old members failed: %w", g.Name, dataset, err)
	}
	return nil
}

// DeleteSegment removes a segment.
func (s *Store) DeleteSegment(ctx context.Context, dataset, name string) error {
	info, ok := s.catalog().get(dataset)
	if !ok {
		return fmt.Errorf("cannot delete segment %s: dataset %s: %w", name, dataset, engine.ErrNotFound)
	}
	r := &request{}
	r.stage = func(st *stager) error {
		d, ok := st.cat.get(dataset)
		if !ok || d.ID != info.ID {
			return fmt.Errorf("dataset %s: %w", dataset, engine.ErrNotFound)
		}
		k := segmentKey(d.ID, name)
		if _, err := st.txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%s: %w", name, ErrSegmentNotFound)
		} else if err != nil {
			return fmt.Errorf("cannot read %s: %w", keyString(k), err)
		}
		return st.delete(k)
	}
	if err := s.do(ctx, r); err != nil {
		return fmt.Errorf("cannot delete segment %s of %s: %w", name, dataset, err)
	}
	if err := s.deleteKeys(segPartPrefix(info.ID, name), nil); err != nil {
		return fmt.Errorf("segment %s of %s deleted, but removing its members failed: %w", name, dataset, err)
	}
	return nil
}

// Segment returns one saved segment.
func (s *Store) Segment(dataset, name string) (Segment, error) {
	d, ok := s.catalog().get(dataset)
	if !ok {
		return Segment{}, fmt.Errorf("dataset %s: %w", dataset, engine.ErrNotFound)
	}
	var g Segment
	err := s.db.View(func(txn *badger.Txn) error {
		k := segmentKey(d.ID, name)
		p, found, err := readValue(txn, dataset, k, kindSegment)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%s: %w", name, ErrSegmentNotFound)
		}
		g, err = decodeSegment(txn, dataset, d.ID, k, p)
		return err
	})
	if err != nil {
		return Segment{}, fmt.Errorf("cannot read segment %s of %s: %w", name, dataset, err)
	}
	return g, nil
}

// Segments returns a dataset's saved segments in name order.
func (s *Store) Segments(dataset string) ([]Segment, error) {
	d, ok := s.catalog().get(dataset)
	if !ok {
		return nil, fmt.Errorf("dataset %s: %w", dataset, engine.ErrNotFound)
	}
	var out []Segment
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: segmentPrefix(d.ID), PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.KeyCopy(nil)
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", keyString(k), err)
			}
			p, err := openAs(k, v, kindSegment)
			if err != nil {
				return corrupt(dataset, k, err)
			}
			g, err := decodeSegment(txn, dataset, d.ID, k, p)
			if err != nil {
				return err
			}
			out = append(out, g)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the segments of %s: %w", dataset, err)
	}
	return out, nil
}

// decodeSegment reads a segment record and, in the same transaction (so
// the same version), its member payload, checking every part.
func decodeSegment(txn *badger.Txn, dataset string, id uint64, key, p []byte) (Segment, error) {
	var rec segmentRecord
	if err := json.Unmarshal(p, &rec); err != nil {
		return Segment{}, corrupt(dataset, key, fmt.Errorf("segment: %w", err))
	}
	if want := string(key[len(segmentPrefix(0)):]); rec.Name != want {
		return Segment{}, corrupt(dataset, key, fmt.Errorf("segment is named %q", rec.Name))
	}
	g := Segment{Name: rec.Name, Query: rec.Query, Members: rec.Members, Description: rec.Description, Created: rec.Created}
	pi := rec.Payload
	if pi == nil {
		return g, nil
	}
	payload := make([]byte, 0, pi.Bytes)
	for i := range pi.Parts {
		pk := segPartKey(id, rec.Name, pi.Version, i)
		part, found, err := readValue(txn, dataset, pk, kindSegPart)
		if err != nil {
			return Segment{}, err
		}
		if !found {
			return Segment{}, corrupt(dataset, pk, fmt.Errorf("part %d of %d of the members of segment %s is missing", i+1, pi.Parts, rec.Name))
		}
		payload = append(payload, part...)
	}
	if uint64(len(payload)) != pi.Bytes || crc32.Checksum(payload, castagnoli) != pi.CRC {
		return Segment{}, corrupt(dataset, key, fmt.Errorf("the members of segment %s do not match their checksum", rec.Name))
	}
	switch pi.Form {
	case formIDs:
		if err := json.Unmarshal(payload, &g.Members); err != nil {
			return Segment{}, corrupt(dataset, key, fmt.Errorf("members of segment %s: %w", rec.Name, err))
		}
		if g.Members == nil {
			g.Members = []string{}
		}
	case formRows:
		g.Rows = roaring.New()
		if _, err := g.Rows.FromUnsafeBytes(payload); err != nil {
			return Segment{}, corrupt(dataset, key, fmt.Errorf("rows of segment %s: %w", rec.Name, err))
		}
		if err := g.Rows.Validate(); err != nil {
			return Segment{}, corrupt(dataset, key, fmt.Errorf("rows of segment %s: %w", rec.Name, err))
		}
	default:
		return Segment{}, corrupt(dataset, key, fmt.Errorf("segment %s: unknown member form %q", rec.Name, pi.Form))
	}
	return g, nil
}
