package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/iddict"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// fieldIndex is the index of one field; exactly one member is set, chosen
// by the field's type.
type fieldIndex struct {
	values  *index.Values
	boolean *index.Bool
	bsi     *index.BSI
	events  *index.Events
}

func newFieldIndex(f *schema.Field) fieldIndex {
	switch f.Type {
	case schema.Tag, schema.Set:
		return fieldIndex{values: index.NewValues(f.Name, f.Type == schema.Set)}
	case schema.Bool:
		return fieldIndex{boolean: index.NewBool()}
	case schema.Event:
		return fieldIndex{events: index.NewEvents(f.Name)}
	default:
		lo, hi := f.Bounds()
		return fieldIndex{bsi: index.NewBSI(lo, hi)}
	}
}

// Dataset is one universe of profiles with its own schema.
type Dataset struct {
	name  string
	clock func() time.Time

	mu         sync.Mutex // serialises writers
	schema     *schema.Schema
	ids        *iddict.Dict
	fields     []fieldIndex
	seq        uint64
	expiredFor schema.Day // the day retention last ran for

	snap atomic.Pointer[Snapshot]
}

func newDataset(name string, s *schema.Schema, clock func() time.Time, expected int) *Dataset {
	d := &Dataset{name: name, clock: clock, schema: s, ids: iddict.New(iddict.Options{ExpectedSize: expected})}
	for i := range s.Fields {
		d.fields = append(d.fields, newFieldIndex(&s.Fields[i]))
	}
	d.publishLocked()
	return d
}

// Name returns the dataset's name.
func (d *Dataset) Name() string { return d.name }

// Schema returns the current schema.
func (d *Dataset) Schema() *schema.Schema { return d.Snapshot().schema }

// Snapshot returns the latest published state. It never blocks.
func (d *Dataset) Snapshot() *Snapshot { return d.snap.Load() }

// Decode parses and validates one ingest line against the current schema.
func (d *Dataset) Decode(line []byte) (record.Update, error) {
	return record.Decode(line, d.Schema())
}

// AddField appends a field to the schema. Existing profiles have no value
// for it.
func (d *Dataset) AddField(f schema.Field) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.schema.WithField(f)
	if err != nil {
		return fmt.Errorf("dataset %s: %w", d.name, err)
	}
	d.schema = s
	d.fields = append(d.fields, newFieldIndex(&s.Fields[len(s.Fields)-1]))
	d.publishLocked()
	return nil
}

// ItemError is the failure of one update of a batch.
type ItemError struct {
	Index int // position in the batch (or line number, for NDJSON)
	Err   error
}

func (e ItemError) Error() string { return fmt.Sprintf("item %d: %v", e.Index, e.Err) }

// Result reports what a batch did.
type Result struct {
	Applied int // updates applied whole
	Created int // new profiles
	// Expired counts events dropped on arrival because their day is
	// outside the field's retention.
	Expired int
	Errors  []ItemError // updates refused; they changed nothing
}

func (r *Result) merge(o Result) {
	r.Applied += o.Applied
	r.Created += o.Created
	r.Expired += o.Expired
	r.Errors = append(r.Errors, o.Errors...)
}

// Apply applies a batch of decoded updates, each whole or not at all, and
// publishes one new snapshot at the end. Updates must have been decoded
// against this dataset's schema (or an earlier version of it: fields are
// only ever appended).
func (d *Dataset) Apply(updates []record.Update) Result {
	return d.apply(updates, true)
}

// apply applies a batch and, if publish is set, publishes a snapshot.
// Bulk loads publish less often than every batch: each publication
// marks every changed bitmap copy-on-write, and the next batch then pays
// a container copy per bitmap it touches.
func (d *Dataset) apply(updates []record.Update, publish bool) Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	today := d.today()
	d.expireLocked(today)
	var res Result
	for i := range updates {
		created, expired, err := d.applyOne(&updates[i], today)
		if err != nil {
			res.Errors = append(res.Errors, ItemError{Index: i, Err: err})
			continue
		}
		res.Applied++
		res.Expired += expired
		if created {
			res.Created++
		}
	}
	if publish {
		d.publishLocked()
	}
	return res
}

// ApplyUnpublished is Apply without publishing a snapshot: readers see
// nothing of the batch until Publish or a later Apply. Bulk loads use it
// to publish every many thousand records instead of every batch.
func (d *Dataset) ApplyUnpublished(updates []record.Update) Result {
	return d.apply(updates, false)
}

// Publish makes everything applied so far visible to readers.
func (d *Dataset) Publish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.publishLocked()
}

func (d *Dataset) today() schema.Day { return schema.DayOf(d.clock(), d.schema.Location()) }

// cutoff returns the first day an event field keeps (retention counts
// today as one of its days), or MinDay when it keeps everything.
func cutoff(f *schema.Field, today schema.Day) schema.Day {
	if f.RetentionDays == 0 {
		return schema.MinDay
	}
	return today - schema.Day(f.RetentionDays) + 1
}

// Expire drops event days that have left their field's retention window.
// Apply does this on its own once a day; Expire forces it now.
func (d *Dataset) Expire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expiredFor = 0
	d.expireLocked(d.today())
	d.publishLocked()
}

func (d *Dataset) expireLocked(today schema.Day) {
	if d.expiredFor == today {
		return
	}
	d.expiredFor = today
	for i := range d.fields {
		if ev := d.fields[i].events; ev != nil {
			ev.Expire(cutoff(&d.schema.Fields[i], today))
		}
	}
}

// applyOne checks everything that can fail, then changes the indexes. The
// changes after the checks cannot fail, which is what makes an update
// apply whole or not at all.
func (d *Dataset) applyOne(u *record.Update, today schema.Day) (created bool, expired int, err error) {
	if err := d.check(u); err != nil {
		return false, 0, err
	}
	row, created, err := d.ids.Assign(u.ID)
	if err != nil {
		return false, 0, fmt.Errorf("id %q: %w", u.ID, err)
	}
	for _, fi := range u.Unset {
		x := d.fields[fi]
		switch {
		case x.values != nil:
			x.values.Unset(row)
		case x.boolean != nil:
			x.boolean.Unset(row)
		case x.bsi != nil:
			x.bsi.Unset(row)
		case x.events != nil:
			x.events.Unset(row)
		}
	}
	for _, a := range u.Set {
		x := d.fields[a.Field]
		switch d.schema.Fields[a.Field].Type {
		case schema.Tag:
			x.values.SetTag(row, a.Value.Str)
		case schema.Set:
			x.values.Replace(row, a.Value.Strs)
		case schema.Bool:
			x.boolean.Set(row, a.Value.Bool)
		default:
			x.bsi.Set(row, a.Value.Int)
		}
	}
	for _, c := range u.Remove {
		d.fields[c.Field].values.Remove(row, c.Values...)
	}
	for _, c := range u.Add {
		d.fields[c.Field].values.Add(row, c.Values...)
	}
	for _, e := range u.Events {
		if e.Day < cutoff(&d.schema.Fields[e.Field], today) {
			expired++
			continue
		}
		d.fields[e.Field].events.Add(row, e.Value, e.Day)
	}
	return created, expired, nil
}

// check refuses an update that would break a limit or does not fit the
// schema, before anything changes.
func (d *Dataset) check(u *record.Update) error {
	field := func(fi int) (*schema.Field, error) {
		if fi < 0 || fi >= len(d.fields) {
			return nil, fmt.Errorf("BUG: field index %d out of range", fi)
		}
		return &d.schema.Fields[fi], nil
	}
	for _, a := range u.Set {
		f, err := field(a.Field)
		if err != nil {
			return err
		}
		switch f.Type {
		case schema.Tag:
			err = d.fields[a.Field].values.Check(a.Value.Str)
		case schema.Set:
			err = d.fields[a.Field].values.Check(a.Value.Strs...)
		case schema.Event:
			err = fmt.Errorf("field %s is an event field and takes no value", f.Name)
		}
		if err != nil {
			return err
		}
	}
	for _, fi := range u.Unset {
		if _, err := field(fi); err != nil {
			return err
		}
	}
	for _, changes := range [][]record.SetChange{u.Add, u.Remove} {
		for _, c := range changes {
			f, err := field(c.Field)
			if err != nil {
				return err
			}
			if f.Type != schema.Set {
				return fmt.Errorf("field %s is %s, not a set", f.Name, f.Type.Article())
			}
		}
	}
	for _, c := range u.Add {
		if err := d.fields[c.Field].values.Check(c.Values...); err != nil {
			return err
		}
	}
	for _, e := range u.Events {
		f, err := field(e.Field)
		if err != nil {
			return err
		}
		if f.Type != schema.Event {
			return fmt.Errorf("field %s is %s, not an event field", f.Name, f.Type.Article())
		}
		// Checked one value at a time: a record can overshoot the limit
		// by its own few new values, which is harmless, and checking
		// costs no allocation on this hot path.
		if err := d.fields[e.Field].events.Check(e.Value); err != nil {
			return err
		}
	}
	return nil
}

// publishLocked builds and publishes a snapshot of the writer's state.
func (d *Dataset) publishLocked() {
	d.seq++
	rows := d.ids.Len()
	all := roaring.New()
	if rows > 0 {
		all.AddRange(0, uint64(rows))
	}
	s := &Snapshot{
		seq:    d.seq,
		name:   d.name,
		schema: d.schema,
		rows:   rows,
		all:    all,
		ids:    d.ids.View(),
		clock:  d.clock,
		fields: make([]FieldView, len(d.fields)),
	}
	for i, x := range d.fields {
		fv := FieldView{Field: &d.schema.Fields[i]}
		switch {
		case x.values != nil:
			fv.Values = x.values.View()
		case x.boolean != nil:
			fv.Bool = x.boolean.View()
		case x.bsi != nil:
			fv.BSI = x.bsi.View()
		case x.events != nil:
			fv.Events = x.events.View()
		}
		s.fields[i] = fv
	}
	d.snap.Store(s)
}

// LookupRows returns the rows of the profiles with the given external ids
// and how many ids the dataset does not hold. Rows never change once
// assigned, so the result stays right for every later snapshot; a reader
// of an older snapshot must cut it to that snapshot's rows. It takes the
// writers' lock because the id dictionary's hash table is the writer's.
func (d *Dataset) LookupRows(ids []string) (rows *roaring.Bitmap, missing int) {
	rows = roaring.New()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if row, ok := d.ids.Lookup(id); ok {
			rows.Add(row)
		} else {
			missing++
		}
	}
	return rows, missing
}
