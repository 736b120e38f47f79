package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cohortdb/cohort/engine"
)

// Segment is a saved segment: a query, evaluated when used (dynamic), or a
// fixed list of members' external ids (from lookalike, a split or an
// uploaded list). Exactly one of Query and Members is set.
type Segment struct {
	Name        string    `json:"name"`
	Query       string    `json:"q,omitempty"`
	Members     []string  `json:"members,omitempty"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
}

// ErrSegmentNotFound is returned for a segment that is not stored.
var ErrSegmentNotFound = errors.New("segment not found")

// segmentName is what SEGMENT('…') can refer to without surprises: no
// quotes, no spaces, no path separators.
var segmentName = regexp.MustCompile(`^[\p{L}\p{N}_.-]{1,128}$`)

// Validate checks the segment's name and that it has exactly one of a
// query and a member list, as PutSegment will.
func (g *Segment) Validate() error {
	if !segmentName.MatchString(g.Name) {
		return fmt.Errorf("segment name %q must be 1–128 letters, digits, _, . and -", g.Name)
	}
	if (g.Query == "") == (len(g.Members) == 0) {
		return fmt.Errorf("segment %s must have either a query or a member list", g.Name)
	}
	return nil
}

// PutSegment saves (or replaces) a segment of a dataset. A zero Created
// is set to now.
func (s *Store) PutSegment(ctx context.Context, dataset string, g Segment) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if g.Created.IsZero() {
		g.Created = time.Now().UTC()
	}
	body, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("cannot save segment %s: %w", g.Name, err)
	}
	r := &request{size: len(body)}
	r.stage = func(st *stager) error {
		d, ok := st.cat.get(dataset)
		if !ok {
			return fmt.Errorf("dataset %s: %w", dataset, engine.ErrNotFound)
		}
		k := segmentKey(d.ID, g.Name)
		return st.set(k, seal(k, kindSegment, body))
	}
	if err := s.do(ctx, r); err != nil {
		return fmt.Errorf("cannot save segment %s of %s: %w", g.Name, dataset, err)
	}
	return nil
}

// DeleteSegment removes a segment.
func (s *Store) DeleteSegment(ctx context.Context, dataset, name string) error {
	r := &request{}
	r.stage = func(st *stager) error {
		d, ok := st.cat.get(dataset)
		if !ok {
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
		g, err = decodeSegment(dataset, k, p)
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
			g, err := decodeSegment(dataset, k, p)
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

func decodeSegment(dataset string, key, p []byte) (Segment, error) {
	var g Segment
	if err := json.Unmarshal(p, &g); err != nil {
		return Segment{}, corrupt(dataset, key, fmt.Errorf("segment: %w", err))
	}
	if want := string(key[len(segmentPrefix(0)):]); g.Name != want {
		return Segment{}, corrupt(dataset, key, fmt.Errorf("segment is named %q", g.Name))
	}
	return g, nil
}
