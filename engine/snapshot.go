package engine

import (
	"fmt"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/iddict"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
)

// Snapshot is one immutable state of a dataset. Every bitmap it hands out
// is shared and read-only; operations that compute a new bitmap say so.
type Snapshot struct {
	seq    uint64
	name   string
	schema *schema.Schema
	rows   uint32
	all    *roaring.Bitmap
	// profiles is all's cardinality: rows less those merged away.
	profiles uint64
	idents   *identity.View
	ids      iddict.View
	clock    func() time.Time
	fields   []FieldView
	words    *index.WordPool
}

// FieldView is the index of one field in a snapshot; the member matching
// the field's type is set.
type FieldView struct {
	Field  *schema.Field
	Values *index.ValuesView // tag, set
	Bool   *index.BoolView
	BSI    *index.BSIView // int, decimal, date
	Events *index.EventsView
}

// Exists returns the profiles with a value for the field (shared).
func (f *FieldView) Exists() *roaring.Bitmap {
	switch {
	case f.Values != nil:
		return f.Values.Exists()
	case f.Bool != nil:
		return f.Bool.Exists()
	case f.BSI != nil:
		return f.BSI.Exists()
	default:
		return f.Events.Exists()
	}
}

// Seq is the snapshot's version; it grows with every published batch.
func (s *Snapshot) Seq() uint64 { return s.seq }

// Dataset names the dataset the snapshot belongs to.
func (s *Snapshot) Dataset() string { return s.name }

// Schema is the schema the snapshot was built with.
func (s *Snapshot) Schema() *schema.Schema { return s.schema }

// Rows is the number of rows assigned: every row id is below it. Rows
// of profiles merged into others stay assigned, so this can exceed
// Profiles.
func (s *Snapshot) Rows() uint32 { return s.rows }

// WordPool returns the word arrays the dataset lends to counts in word
// space (shared by its snapshots).
func (s *Snapshot) WordPool() *index.WordPool { return s.words }

// Profiles is the number of profiles: the cardinality of All.
func (s *Snapshot) Profiles() uint64 { return s.profiles }

// Identity returns the snapshot's identifiers and merges.
func (s *Snapshot) Identity() *identity.View { return s.idents }

// Canonical maps rows to the profiles they stand for as of this
// snapshot: rows merged into other profiles become their survivors. It
// returns b itself when nothing needs mapping.
func (s *Snapshot) Canonical(b *roaring.Bitmap) *roaring.Bitmap { return s.idents.Canonical(b) }

// All returns every profile (shared; read-only): rows merged into other
// profiles are not in it.
func (s *Snapshot) All() *roaring.Bitmap { return s.all }

// Today is the current day in the dataset's time zone (by the engine's
// clock), so a snapshot that outlives midnight answers for the new day.
func (s *Snapshot) Today() schema.Day { return schema.DayOf(s.clock(), s.schema.Location()) }

// Field returns the index of a field, looked up case-insensitively.
func (s *Snapshot) Field(name string) (*FieldView, error) {
	i, ok := s.schema.Index(name)
	if !ok {
		return nil, fmt.Errorf("dataset %s has no field %q", s.name, name)
	}
	return &s.fields[i], nil
}

// Fields returns every field's index in schema order.
func (s *Snapshot) Fields() []FieldView { return s.fields }

// ExternalID returns the external id of row.
func (s *Snapshot) ExternalID(row uint32) string { return s.ids.External(row) }

// AppendExternalID appends the external id of row to dst.
func (s *Snapshot) AppendExternalID(dst []byte, row uint32) []byte {
	return s.ids.AppendExternal(dst, row)
}
