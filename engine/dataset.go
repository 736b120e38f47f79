package engine

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/iddict"
	"github.com/cohortdb/cohort/engine/identity"
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

func newFieldIndex(f *schema.Field, words *index.WordPool) fieldIndex {
	switch f.Type {
	case schema.Tag, schema.Set:
		return fieldIndex{values: index.NewValues(f.Name, f.Type == schema.Set)}
	case schema.Bool:
		return fieldIndex{boolean: index.NewBool()}
	case schema.Event:
		x := index.NewEvents(f.Name)
		x.SetWordPool(words)
		return fieldIndex{events: x}
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
	graph      *identity.Graph // identifiers, merges, write order
	fields     []fieldIndex
	seq        uint64
	expiredFor schema.Day // the day retention last ran for

	snap atomic.Pointer[Snapshot]
	// words lends word arrays to counts on any of the dataset's
	// snapshots (see index.WordPool).
	words *index.WordPool
}

func newDataset(name string, s *schema.Schema, clock func() time.Time, expected int) *Dataset {
	d := &Dataset{name: name, clock: clock, schema: s, ids: iddict.New(iddict.Options{ExpectedSize: expected}), graph: identity.New(), words: new(index.WordPool)}
	for i := range s.Fields {
		d.fields = append(d.fields, newFieldIndex(&s.Fields[i], d.words))
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
	d.fields = append(d.fields, newFieldIndex(&s.Fields[len(s.Fields)-1], d.words))
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
	// Merged counts profiles absorbed into others because a record named
	// identifiers of both.
	Merged int
	// Expired counts events dropped on arrival because their day is
	// outside the field's retention.
	Expired int
	Errors  []ItemError // updates refused; they changed nothing
}

func (r *Result) merge(o Result) {
	r.Applied += o.Applied
	r.Created += o.Created
	r.Merged += o.Merged
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
		created, merged, expired, err := d.applyOne(&updates[i], today)
		if err != nil {
			res.Errors = append(res.Errors, ItemError{Index: i, Err: err})
			continue
		}
		res.Applied++
		res.Merged += merged
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
func (d *Dataset) applyOne(u *record.Update, today schema.Day) (created bool, merged, expired int, err error) {
	if err := d.check(u); err != nil {
		return false, 0, 0, err
	}
	var buf [16]int
	single := d.singleFields(u, buf[:0])
	if len(u.IDs) > 0 {
		d.graph.Exact()
	}
	if len(single) > 0 || len(u.IDs) > 0 {
		d.graph.Tick()
	}
	row, created, merged, err := d.resolve(u)
	if err != nil {
		return false, 0, 0, err
	}
	if len(single) > 0 {
		d.graph.Touch(row, single)
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
	return created, merged, expired, nil
}

// singleFields appends to dst the single-valued fields (tag, bool,
// number, date) u sets or clears: the writes whose order settles a
// merge's conflicts.
func (d *Dataset) singleFields(u *record.Update, dst []int) []int {
	for _, a := range u.Set {
		if d.schema.Fields[a.Field].Type != schema.Set {
			dst = append(dst, a.Field)
		}
	}
	for _, fi := range u.Unset {
		switch d.schema.Fields[fi].Type {
		case schema.Set, schema.Event:
		default:
			dst = append(dst, fi)
		}
	}
	return dst
}

// resolve finds the profile a record is about, creating it or merging
// the profiles its identifiers name, and attaches its identifiers.
//
// The survivor of a merge is the oldest profile (lowest row). Only the
// dictionaries' own limits can fail here, before anything changes: the
// external id's Assign comes first and is the only call that may fail.
func (d *Dataset) resolve(u *record.Update) (row uint32, created bool, merged int, err error) {
	if len(u.IDs) == 0 {
		row, created, err = d.ids.Assign(u.ID)
		if err != nil {
			return 0, false, 0, fmt.Errorf("id %q: %w", u.ID, err)
		}
		return d.graph.Root(row), created, 0, nil
	}
	// A hit is a profile the record names, and the name (type, value)
	// that found it, for the merge log.
	type hit struct {
		row        uint32
		typ, value string
	}
	lowest := func(hits []hit) uint32 {
		row := hits[0].row
		for _, h := range hits[1:] {
			row = min(row, h.row)
		}
		return row
	}
	var buf [4]hit
	hits := buf[:0]
	fresh := false // the record's id is new: its row is created below
	if u.ID != "" {
		if r, ok := d.ids.Lookup(u.ID); ok {
			hits = append(hits, hit{d.graph.Root(r), identity.External, u.ID})
		} else {
			fresh = true
		}
	}
	for _, id := range u.IDs {
		if r, ok := d.graph.Lookup(id.Type, id.Value); ok {
			hits = append(hits, hit{r, id.Type, id.Value})
		}
	}
	switch {
	case fresh:
		// The id must map to a row of its own; when identifiers found a
		// profile, that row is absorbed into it at once.
		r, _, err := d.ids.Assign(u.ID)
		if err != nil {
			return 0, false, 0, fmt.Errorf("id %q: %w", u.ID, err)
		}
		if len(hits) == 0 {
			created = true
			row = r
		} else {
			row = lowest(hits)
			d.graph.Absorb(r, row, time.Time{}, "")
		}
	case len(hits) == 0:
		// No id and no known identifier: a new profile, addressed from
		// outside by its first identifier as type:value.
		ext := u.IDs[0].Type + ":" + u.IDs[0].Value
		r, c, err := d.ids.Assign(ext)
		if err != nil {
			return 0, false, 0, fmt.Errorf("new profile %q: %w", ext, err)
		}
		row, created = d.graph.Root(r), c
	default:
		row = lowest(hits)
	}
	if len(hits) > 1 {
		// Stable: of two names finding one profile, the log names the
		// first (the id, then identifiers in type order).
		slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Compare(a.row, b.row) })
		at := d.clock()
		prev := row
		for _, h := range hits {
			if h.row == row || h.row == prev {
				continue
			}
			prev = h.row
			d.merge(h.row, row, h.typ+":"+h.value, at)
			merged++
		}
	}
	for _, id := range u.IDs {
		if err := d.graph.Attach(id.Type, id.Value, row); err != nil {
			// Unreachable: record.Decode bounds identifier values and a
			// dictionary holds 2^32 of them.
			panic(err)
		}
	}
	return row, created, merged, nil
}

// merge moves every field of profile from into profile to and records
// the merge. A single-valued field both profiles hold keeps the value
// written last; sets and events are unioned.
func (d *Dataset) merge(from, to uint32, via string, at time.Time) {
	for i, x := range d.fields {
		switch {
		case x.values != nil:
			x.values.Move(from, to, d.graph.Newer(from, to, i))
		case x.boolean != nil:
			x.boolean.Move(from, to, d.graph.Newer(from, to, i))
		case x.bsi != nil:
			x.bsi.Move(from, to, d.graph.Newer(from, to, i))
		case x.events != nil:
			x.events.Move(from, to)
		}
	}
	d.graph.Absorb(from, to, at, via)
}

// check refuses an update that would break a limit or does not fit the
// schema, before anything changes.
func (d *Dataset) check(u *record.Update) error {
	if len(u.IDs) > 0 {
		var buf [record.MaxIdentifiers]string
		types := buf[:0]
		for _, id := range u.IDs {
			types = append(types, id.Type)
		}
		if err := d.graph.CheckTypes(types...); err != nil {
			return fmt.Errorf("ids: %w", err)
		}
	}
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

// compact rebuilds at exact size the bitmap tails grown since the last
// publication (index.Values.Compact and its kin), without publishing:
// bulk loads call it between publications.
func (d *Dataset) compact() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.fields {
		switch {
		case x.values != nil:
			x.values.Compact()
		case x.boolean != nil:
			x.boolean.Compact()
		case x.bsi != nil:
			x.bsi.Compact()
		case x.events != nil:
			x.events.Compact()
		}
	}
}

// publishLocked builds and publishes a snapshot of the writer's state.
func (d *Dataset) publishLocked() {
	d.seq++
	rows := d.ids.Len()
	all := roaring.New()
	if rows > 0 {
		all.AddRange(0, uint64(rows))
	}
	idents := d.graph.View()
	if m := idents.Merged(); !m.IsEmpty() {
		all.AndNot(m)
	}
	s := &Snapshot{
		idents:   idents,
		profiles: all.GetCardinality(),
		seq:      d.seq,
		name:     d.name,
		schema:   d.schema,
		rows:     rows,
		all:      all,
		ids:      d.ids.View(),
		clock:    d.clock,
		fields:   make([]FieldView, len(d.fields)),
		words:    d.words,
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
// and how many ids the dataset does not hold. An id of a profile merged
// into another gives the survivor's row. A later merge can absorb a row
// returned here: readers map rows through Snapshot.Canonical, and a
// reader of an older snapshot cuts the result to that snapshot's rows.
// It takes the writers' lock because the id dictionary's hash table is
// the writer's.
func (d *Dataset) LookupRows(ids []string) (rows *roaring.Bitmap, missing int) {
	rows = roaring.New()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if row, ok := d.ids.Lookup(id); ok {
			rows.Add(d.graph.Root(row))
		} else {
			missing++
		}
	}
	return rows, missing
}

// Lookup finds the profile holding an identifier of type typ
// (identity.External for the external id).
func (d *Dataset) Lookup(typ, value string) (row uint32, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if typ == identity.External {
		r, ok := d.ids.Lookup(value)
		if !ok {
			return 0, false
		}
		return d.graph.Root(r), true
	}
	return d.graph.Lookup(typ, value)
}

// Identity describes who a profile is: its identifiers of every type
// (the external ids of every profile merged into it included, the
// profile's own first), and the merges that built it.
type Identity struct {
	IDs    map[string][]string
	Merges []MergeRecord
}

// MergeRecord is one merge, its profiles named by external id.
type MergeRecord struct {
	Seq      int       `json:"seq"`
	At       time.Time `json:"at"`
	Survivor string    `json:"survivor"`
	Absorbed string    `json:"absorbed"`
	Via      string    `json:"via"`
}

// Identity returns the identity of the profile at row, or false if a
// merge has absorbed row since the caller found it (find it again).
func (d *Dataset) Identity(row uint32) (Identity, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.graph.Absorbed(row) || row >= d.ids.Len() {
		return Identity{}, false
	}
	ids := d.graph.Identifiers(row)
	ext := []string{d.ids.External(row)}
	for _, r := range d.graph.Group(row) {
		ext = append(ext, d.ids.External(r))
	}
	ids[identity.External] = ext
	var ms []MergeRecord
	for _, i := range d.graph.MergesOf(row) {
		m, _ := d.graph.Merges(i, 1)
		ms = append(ms, d.mergeRecord(i+1, m[0]))
	}
	return Identity{IDs: ids, Merges: ms}, true
}

func (d *Dataset) mergeRecord(seq int, m identity.Merge) MergeRecord {
	return MergeRecord{Seq: seq, At: m.At, Survivor: d.ids.External(m.Survivor), Absorbed: d.ids.External(m.Absorbed), Via: m.Via}
}

// Merges returns up to limit entries of the merge log from position from,
// and the log's length.
func (d *Dataset) Merges(from, limit int) ([]MergeRecord, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ms, n := d.graph.Merges(from, limit)
	out := make([]MergeRecord, len(ms))
	for i, m := range ms {
		out[i] = d.mergeRecord(from+i+1, m)
	}
	return out, n
}
