// Package record decodes and validates ingest records (one NDJSON line of
// DESIGN §3) against a dataset schema. Decoding does all the checking there
// is to do before anything is applied, so that the engine can apply a
// decoded Update whole or, on error, not at all.
//
// A record names its profile by "id", the external id, and may carry in
// "ids" the profile's other identifiers, an object of type to value such as
// {"phone":"13800000000","openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}. Types
// are 1–32 characters of a-z, 0-9 and _ starting with a letter, other than
// "external"; values follow the rules of the id; a record has at most
// MaxIdentifiers of them. "id" may be left out when "ids" has a member.
package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/cohortdb/cohort/engine/schema"
)

// Limits on one record; past them the record is refused with a clear error.
const (
	MaxLineBytes   = 1 << 20
	MaxIDBytes     = 1024
	MaxValueBytes  = 1024
	MaxValuesPerOp = 10_000
	MaxEvents      = 10_000
	MaxIdentifiers = 16 // members of "ids"
)

// Value is a decoded field value. Which member is meaningful depends on the
// field type: Str for tag, Strs for set (the whole new set), Bool for bool,
// Int for int, decimal (scaled) and date (day number).
type Value struct {
	Str  string
	Strs []string
	Bool bool
	Int  int64
}

// Assign sets one field of the profile.
type Assign struct {
	Field int // index in the schema's Fields
	Value Value
}

// SetChange adds or removes values of a set field.
type SetChange struct {
	Field  int
	Values []string
}

// Event is one occurrence of behaviour on a day of the dataset's time zone.
type Event struct {
	Field int
	Value string
	Day   schema.Day
}

// Identifier is one identifier of a profile other than its external id: a
// type such as phone, email, openid, and a value.
type Identifier struct{ Type, Value string }

// Update is a validated ingest record. Fields are schema indexes, so an
// Update is only meaningful with the schema it was decoded against.
//
// ID is the external id, "" when the record left it out and names its
// profile by IDs alone. IDs is sorted by Type, and its types are distinct.
type Update struct {
	ID     string
	IDs    []Identifier
	Set    []Assign
	Unset  []int
	Add    []SetChange
	Remove []SetChange
	Events []Event
}

// wire is the JSON shape of a record, as the reference decoder reads it.
// Keys other than these are errors.
type wire struct {
	ID     *string                    `json:"id"`
	IDs    json.RawMessage            `json:"ids"` // see idMembers
	Set    map[string]json.RawMessage `json:"set"`
	Add    map[string]json.RawMessage `json:"add"`
	Remove map[string]json.RawMessage `json:"remove"`
	Unset  []string                   `json:"unset"`
	Events []wireEvent                `json:"events"`
}

type wireEvent struct {
	Field *string `json:"field"`
	Value *string `json:"value"`
	Time  *string `json:"time"`
}

// Decode parses one record line and validates it against s. The error
// names the field and the reason.
//
// Most lines take a hand-written fast path (fast.go). Anything it does not
// handle, and every line that turns out to be wrong, goes through
// decodeReference, the encoding/json decoder that defines the format, so
// errors read the same whichever path a line took.
func Decode(line []byte, s *schema.Schema) (Update, error) {
	return DecodeIn(line, s, nil)
}

// DecodeIn is Decode with the Update's arrays (Set, Events, Add, Remove
// and set values' lists) taken from a (nil: allocated), and its short
// values interned there, for a bulk path that decodes many records and
// is done with all of them before it decodes more (see Arena).
func DecodeIn(line []byte, s *schema.Schema, a *Arena) (Update, error) {
	if u, ok := decodeFast(line, s, a); ok {
		return u, nil
	}
	return decodeReference(line, s)
}

// Arena hands out the arrays of many Updates (Set, Events, Add, Remove,
// set values' lists) from a few large ones, which Reset lets it hand out
// again, and interns their short values. A bulk load decodes millions of
// records, each with a few assignments and events: one array each per
// record was a third of a 10M load's allocation. The strings it hands
// out are immutable and may be kept; the arrays may not.
type Arena struct {
	assigns []Assign
	events  []Event
	// parsed is the fast decoder's spill for long event histories (see
	// scanner.spill): one line's at a time.
	parsed []parsedEvent
	strs   []string    // set values' lists
	sets   []SetChange // add and remove lists
	// interned holds one copy of each short tag, set and event value the
	// arena has decoded (see own): records repeat a few hundred values,
	// and a string per value per record was a sixth of a bulk load's
	// garbage.
	interned map[string]string
}

// Interning bounds: at most maxInterned values of at most maxInternLen
// bytes each, so that a feed of ever new values cannot grow the map.
const (
	maxInterned  = 1 << 12
	maxInternLen = 64
)

// own returns b as a string of its own (not a view of the line),
// shared with earlier values of the same bytes when it is short.
func (a *Arena) own(b []byte) string {
	if a == nil || len(b) > maxInternLen {
		return string(b)
	}
	if v, ok := a.interned[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(a.interned) < maxInterned {
		if a.interned == nil {
			a.interned = make(map[string]string)
		}
		a.interned[v] = v
	}
	return v
}

// ownView is own for a string that views a line (see view).
func (a *Arena) ownView(v string) string {
	return a.own(unsafe.Slice(unsafe.StringData(v), len(v)))
}

// Reset lets a hand out its arrays again: every Update decoded in it so
// far must be out of use (its strings are its own and may stay).
func (a *Arena) Reset() {
	clear(a.assigns) // the values' strings may go
	clear(a.events)
	clear(a.strs)
	clear(a.sets)
	clear(a.parsed[:cap(a.parsed)]) // views of lines that are reused
	a.assigns, a.events, a.strs, a.sets = a.assigns[:0], a.events[:0], a.strs[:0], a.sets[:0]
}

// take returns an empty slice with room for n more elements of buf's
// spare capacity, growing buf into a new array when it has too little
// (earlier Updates keep the old one).
func take[T any](buf *[]T, n int) []T {
	b := *buf
	if cap(b)-len(b) < n {
		b = make([]T, 0, max(2*cap(b), n, 1024))
	}
	out := b[len(b) : len(b) : len(b)+n]
	*buf = b[:len(b)+n]
	return out
}

// assignsFor returns an empty slice with room for n assignments.
func (a *Arena) assignsFor(n int) []Assign {
	if a == nil {
		return make([]Assign, 0, n)
	}
	return take(&a.assigns, n)
}

// stringsFor returns an empty slice with room for n strings.
func (a *Arena) stringsFor(n int) []string {
	if a == nil {
		return make([]string, 0, n)
	}
	return take(&a.strs, n)
}

// setsFor returns an empty slice with room for n set changes.
func (a *Arena) setsFor(n int) []SetChange {
	if a == nil {
		return make([]SetChange, 0, n)
	}
	return take(&a.sets, n)
}

// eventsFor returns an empty slice with room for n events.
func (a *Arena) eventsFor(n int) []Event {
	if a == nil {
		return make([]Event, 0, n)
	}
	return take(&a.events, n)
}

// decodeReference is the definition of the format: encoding/json reads the
// line into a wire, and validate checks it. The fast path must agree with it
// on every line it accepts.
func decodeReference(line []byte, s *schema.Schema) (Update, error) {
	if len(line) > MaxLineBytes {
		return Update{}, fmt.Errorf("record is %d bytes, more than the limit of %d", len(line), MaxLineBytes)
	}
	if !utf8.Valid(line) {
		return Update{}, errors.New("record is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		return Update{}, jsonError(err)
	}
	// Only whitespace may follow the object: anything else, even a stray
	// brace or half a token, means the line is not one record.
	if rest := bytes.TrimLeft(line[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return Update{}, errors.New("unexpected data after the record object")
	}
	p, err := w.parsed()
	if err != nil {
		return Update{}, err
	}
	return p.validate(s, nil)
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Errorf("key %q: expected %s, found JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("expected a JSON object, found JSON %s", te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d: %w", se.Offset, se)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return fmt.Errorf("unknown key %s (a record has id, ids, set, add, remove, unset, events)", strings.TrimPrefix(msg, "json: unknown field "))
	}
	if errors.Is(err, io.EOF) {
		return errors.New("empty record")
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// parsed is a record between JSON and the schema: what the line says, with
// field values still JSON text. Both decoders produce one and validate
// checks it, so the two paths can differ only in how they read JSON.
//
// Its strings and raw values may alias the input line, which the caller
// reuses after Decode: validate copies whatever it keeps. (That also keeps
// escape analysis from moving the fast path's buffers to the heap, which a
// string flowing from a parsed into the Update would.)
type parsed struct {
	id     string
	hasID  bool
	ids    []member // sorted by name; validate refuses repeated names
	set    []member // sorted by name; names are distinct
	add    []member
	remove []member
	unset  []string
	events []parsedEvent
}

// member is one name and value of the "ids", "set", "add" or "remove"
// object.
type member struct {
	name string
	raw  []byte // the value's JSON text
}

type parsedEvent struct {
	field, value, time          string
	hasField, hasValue, hasTime bool
}

func (w *wire) parsed() (parsed, error) {
	ids, err := idMembers(w.IDs)
	if err != nil {
		return parsed{}, err
	}
	p := parsed{
		ids:    ids,
		set:    members(w.Set),
		add:    members(w.Add),
		remove: members(w.Remove),
		unset:  w.Unset,
	}
	if w.ID != nil {
		p.id, p.hasID = *w.ID, true
	}
	if len(w.Events) > 0 {
		p.events = make([]parsedEvent, len(w.Events))
		for i, e := range w.Events {
			pe := &p.events[i]
			if e.Field != nil {
				pe.field, pe.hasField = *e.Field, true
			}
			if e.Value != nil {
				pe.value, pe.hasValue = *e.Value, true
			}
			if e.Time != nil {
				pe.time, pe.hasTime = *e.Time, true
			}
		}
	}
	return p, nil
}

// idMembers lists the members of the "ids" object, sorted by type. It
// reads the object token by token, where a map would keep only the last of
// a repeated type: the format refuses repeats (validate reports them), as
// the fast path does, and both decoders must agree. raw is a JSON value
// encoding/json has checked; absent or null, it means no identifiers, as
// null does for "set".
func idMembers(raw json.RawMessage) ([]member, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("key \"ids\": expected an object of identifier types and values, found JSON %s", jsonKind(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // the '{'
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		out = append(out, member{name: name, raw: v})
	}
	slices.SortFunc(out, compareMembers)
	return out, nil
}

// jsonKind names the kind of JSON value raw is, as encoding/json's errors do.
func jsonKind(raw []byte) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// members lists m by name, in sorted order so that the first error reported
// for a record is the same on every run.
func members(m map[string]json.RawMessage) []member {
	if len(m) == 0 {
		return nil
	}
	out := make([]member, 0, len(m))
	for k, v := range m {
		out = append(out, member{name: k, raw: v})
	}
	slices.SortFunc(out, compareMembers)
	return out
}

func compareMembers(a, b member) int { return strings.Compare(a.name, b.name) }

// part is the part of a record that touches a field, for the rules about
// which parts may touch the same field.
type part uint8

const (
	partNone part = iota
	partSet
	partUnset
	partAdd
	partRemove
)

func (p part) String() string {
	switch p {
	case partSet:
		return "set"
	case partUnset:
		return "unset"
	case partAdd:
		return "add"
	case partRemove:
		return "remove"
	}
	return "none"
}

// claim records that part touches field fi; touched holds, per field, the
// last part that touched it. A field may be added to and removed from in
// one record, but not otherwise touched twice.
func claim(touched []part, s *schema.Schema, fi int, p part) error {
	if prev := touched[fi]; prev != partNone && (prev != p || p == partSet || p == partUnset) {
		if prev == p {
			return fmt.Errorf("field %s appears twice in %s", s.Fields[fi].Name, p)
		}
		if !(prev == partAdd && p == partRemove || prev == partRemove && p == partAdd) {
			return fmt.Errorf("field %s: cannot both %s and %s it in one record", s.Fields[fi].Name, prev, p)
		}
	}
	touched[fi] = p
	return nil
}

// validate checks p against s and builds the Update. The format's rules
// live here and nowhere else, for both decoders.
func (p *parsed) validate(s *schema.Schema, a *Arena) (Update, error) {
	var u Update
	if p.hasID {
		if err := checkID(p.id); err != nil {
			return u, err
		}
		u.ID = strings.Clone(p.id)
	}
	if len(p.ids) > 0 {
		ids, err := identifiers(p.ids)
		if err != nil {
			return u, err
		}
		u.IDs = ids
	} else if !p.hasID {
		return u, errors.New(`id is missing (a record needs "id" or "ids")`)
	}
	// A slice indexed by field rather than a map: this runs for every
	// record of a bulk load, and most schemas fit the stack buffer.
	var buf [64]part
	var touched []part
	if n := len(s.Fields); n <= len(buf) {
		touched = buf[:n]
	} else {
		touched = make([]part, n)
	}
	for _, m := range p.set {
		fi, f, err := lookup(s, m.name)
		if err != nil {
			return u, fmt.Errorf("set: %w", err)
		}
		if err := claim(touched, s, fi, partSet); err != nil {
			return u, err
		}
		raw := bytes.TrimSpace(m.raw)
		if string(raw) == "null" {
			// null clears the field: the usual meaning in CDP feeds.
			u.Unset = append(u.Unset, fi)
			continue
		}
		v, err := decodeValue(f, raw, s, a)
		if err != nil {
			return u, fmt.Errorf("set: field %s: %w", f.Name, err)
		}
		if u.Set == nil {
			u.Set = a.assignsFor(len(p.set))
		}
		u.Set = append(u.Set, Assign{Field: fi, Value: v})
	}
	for _, name := range p.unset {
		fi, _, err := lookup(s, name)
		if err != nil {
			return u, fmt.Errorf("unset: %w", err)
		}
		if err := claim(touched, s, fi, partUnset); err != nil {
			return u, err
		}
		u.Unset = append(u.Unset, fi)
	}
	var err error
	if u.Add, err = setChanges(partAdd, p.add, s, touched, a); err != nil {
		return u, err
	}
	if u.Remove, err = setChanges(partRemove, p.remove, s, touched, a); err != nil {
		return u, err
	}
	for _, a := range u.Add {
		for _, r := range u.Remove {
			if a.Field != r.Field {
				continue
			}
			if v, ok := firstCommon(a.Values, r.Values); ok {
				return u, fmt.Errorf("field %s: value %q is both added and removed", s.Fields[a.Field].Name, v)
			}
		}
	}
	if len(p.events) > MaxEvents {
		return u, fmt.Errorf("events: %d events, at most %d per record", len(p.events), MaxEvents)
	}
	var last lastEvent
	for i := range p.events {
		ev, err := decodeEvent(&p.events[i], s, &last, a)
		if err != nil {
			return u, fmt.Errorf("events[%d]: %w", i, err)
		}
		if u.Events == nil {
			u.Events = a.eventsFor(len(p.events))
		}
		u.Events = append(u.Events, ev)
	}
	return u, nil
}

// firstCommon returns the smallest value in both a and b, which are sorted.
// A merge rather than a search per value: each list may hold
// MaxValuesPerOp values.
func firstCommon(a, b []string) (string, bool) {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := strings.Compare(a[i], b[j]); {
		case c == 0:
			return a[i], true
		case c < 0:
			i++
		default:
			j++
		}
	}
	return "", false
}

func checkID(id string) error { return checkIDText("id", id) }

// checkIDText checks an id or an identifier's value; what names it in the
// error.
func checkIDText(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%s is empty", what)
	case len(id) > MaxIDBytes:
		return fmt.Errorf("%s is %d bytes, at most %d", what, len(id), MaxIDBytes)
	case strings.ContainsAny(id, "\x00\n\r"):
		return fmt.Errorf("%s contains a control character", what)
	}
	return nil
}

// identifiers checks the members of "ids", sorted by type, and copies them
// into the Update's identifiers.
func identifiers(ms []member) ([]Identifier, error) {
	if len(ms) > MaxIdentifiers {
		return nil, fmt.Errorf("ids: %d identifiers, at most %d per record", len(ms), MaxIdentifiers)
	}
	out := make([]Identifier, 0, len(ms))
	for i, m := range ms {
		if !validIDType(m.name) {
			return nil, fmt.Errorf("ids: identifier type %q must be 1–32 characters of a-z, 0-9 and _, starting with a letter", m.name)
		}
		if m.name == "external" {
			return nil, errors.New(`ids: "external" is the record's id; send it as "id"`)
		}
		// Repeats are next to each other, and reported before their
		// values are looked at: the sort need not be stable for the
		// error to be the same on every run.
		if i+1 < len(ms) && ms[i+1].name == m.name {
			return nil, fmt.Errorf("ids: type %s appears twice", m.name)
		}
		raw := bytes.TrimSpace(m.raw)
		var v string
		if b, ok := plainString(raw); ok {
			v = string(b)
		} else if len(raw) > 0 && raw[0] == '"' {
			// (unmarshalString would take null as "" without an error.)
			var err error
			if v, err = unmarshalString(raw); err != nil {
				return nil, fmt.Errorf("ids: %s takes a string, found %s", m.name, describe(raw))
			}
		} else {
			return nil, fmt.Errorf("ids: %s takes a string, found %s", m.name, describe(raw))
		}
		if err := checkIDText(m.name, v); err != nil {
			return nil, fmt.Errorf("ids: %w", err)
		}
		out = append(out, Identifier{Type: strings.Clone(m.name), Value: v})
	}
	return out, nil
}

// validIDType reports whether t matches ^[a-z][a-z0-9_]{0,31}$.
func validIDType(t string) bool {
	if len(t) == 0 || len(t) > 32 || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		if c := t[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func lookup(s *schema.Schema, name string) (int, *schema.Field, error) {
	i, ok := s.Index(name)
	if !ok {
		return 0, nil, fmt.Errorf("unknown field %q", name)
	}
	return i, &s.Fields[i], nil
}

func setChanges(p part, ms []member, s *schema.Schema, touched []part, a *Arena) ([]SetChange, error) {
	var out []SetChange
	for _, m := range ms {
		fi, f, err := lookup(s, m.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if f.Type != schema.Set {
			return nil, fmt.Errorf("%s: field %s is %s; add and remove apply to set fields (use set)", p, f.Name, f.Type.Article())
		}
		if err := claim(touched, s, fi, p); err != nil {
			return nil, err
		}
		vals, err := decodeStrings(m.raw, a)
		if err != nil {
			return nil, fmt.Errorf("%s: field %s: %w", p, f.Name, err)
		}
		if out == nil {
			out = a.setsFor(len(ms))
		}
		out = append(out, SetChange{Field: fi, Values: vals})
	}
	return out, nil
}

// decodeStrings reads a list of strings, or one string as a list of one.
// Plain lists (no escapes) are read here; the rest goes to encoding/json.
func decodeStrings(raw json.RawMessage, a *Arena) ([]string, error) {
	vals, ok := plainStrings(raw, a)
	if !ok {
		if one, ok := plainString(raw); ok {
			vals = []string{string(one)}
		} else if vals, ok = unmarshalStrings(raw); !ok {
			return nil, errors.New("expected a list of strings")
		}
	}
	if len(vals) > MaxValuesPerOp {
		return nil, fmt.Errorf("%d values, at most %d", len(vals), MaxValuesPerOp)
	}
	for _, v := range vals {
		if err := checkValue(v); err != nil {
			return nil, err
		}
	}
	sortStrings(vals)
	return slices.Compact(vals), nil
}

// The unmarshal helpers are the encoding/json side of the plain* helpers in
// fast.go, for values with escapes. They are functions of their own so
// that the variables they hand to json.Unmarshal, which must live on the
// heap, are allocated only when they run.

func unmarshalStrings(raw json.RawMessage) ([]string, bool) {
	var vals []string
	if err := json.Unmarshal(raw, &vals); err != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return nil, false
		}
		vals = []string{one}
	}
	return vals, true
}

func unmarshalString(raw json.RawMessage) (string, error) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func unmarshalBool(raw json.RawMessage) (bool, error) {
	var b bool
	err := json.Unmarshal(raw, &b)
	return b, err
}

func checkValue(v string) error {
	switch {
	case v == "":
		return errors.New("value is empty (use unset to clear a field)")
	case len(v) > MaxValueBytes:
		return fmt.Errorf("value is %d bytes, at most %d", len(v), MaxValueBytes)
	}
	return nil
}

func decodeValue(f *schema.Field, raw json.RawMessage, s *schema.Schema, a *Arena) (Value, error) {
	var v Value
	switch f.Type {
	case schema.Tag:
		if str, ok := plainString(raw); ok {
			v.Str = a.own(str)
		} else if str, err := unmarshalString(raw); err == nil {
			v.Str = str
		} else {
			return v, fmt.Errorf("a tag takes a string, found %s", describe(raw))
		}
		return v, checkValue(v.Str)
	case schema.Set:
		vals, err := decodeStrings(raw, a)
		if err != nil {
			return v, err
		}
		v.Strs = vals
		return v, nil
	case schema.Bool:
		switch string(raw) {
		case "true":
			v.Bool = true
		case "false":
		default:
			b, err := unmarshalBool(raw)
			if err != nil {
				return v, fmt.Errorf("a bool takes true or false, found %s", describe(raw))
			}
			v.Bool = b
		}
		return v, nil
	case schema.Int:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return v, fmt.Errorf("an int takes a whole number, found %s", describe(raw))
		}
		lo, hi := f.Bounds()
		if n < lo || n > hi {
			return v, fmt.Errorf("%d is outside the declared range %d..%d", n, lo, hi)
		}
		v.Int = n
		return v, nil
	case schema.Decimal:
		n, err := ParseDecimal(string(raw), f.Scale)
		if err != nil {
			return v, err
		}
		lo, hi := f.Bounds()
		if n < lo || n > hi {
			return v, fmt.Errorf("%s is outside the declared range %s..%s", raw, FormatDecimal(lo, f.Scale), FormatDecimal(hi, f.Scale))
		}
		v.Int = n
		return v, nil
	case schema.Date:
		// The date text is only parsed, never kept, so a plain string is
		// read in place.
		var str string
		if b, ok := plainString(raw); ok {
			str = view(b)
		} else {
			var err error
			if str, err = unmarshalString(raw); err != nil {
				return v, fmt.Errorf("a date takes a string YYYY-MM-DD, found %s", describe(raw))
			}
		}
		d, err := schema.ParseDayOrTime(str, s.Location())
		if err != nil {
			return v, err
		}
		v.Int = int64(d)
		return v, nil
	case schema.Event:
		return v, errors.New("an event field takes occurrences in events, not a value in set")
	}
	return v, fmt.Errorf("BUG: unhandled field type %s", f.Type)
}

func describe(raw json.RawMessage) string {
	const max = 40
	s := string(raw)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// lastEvent remembers the previous event. Events come in runs on the same
// field, and sessions repeat a value over several events: reusing the
// lookup saves a map access per event, and reusing the copy of the value
// an allocation.
type lastEvent struct {
	field, value string // as in the parsed event
	fi           int
	ok           bool
	kept         string // the copy of value in the Update
}

func decodeEvent(e *parsedEvent, s *schema.Schema, last *lastEvent, a *Arena) (Event, error) {
	if !e.hasField {
		return Event{}, errors.New("field is missing")
	}
	var (
		fi int
		f  *schema.Field
	)
	if last.ok && last.field == e.field {
		fi, f = last.fi, &s.Fields[last.fi]
	} else {
		var err error
		if fi, f, err = lookup(s, e.field); err != nil {
			return Event{}, err
		}
		last.field, last.fi, last.ok = e.field, fi, true
	}
	if f.Type != schema.Event {
		return Event{}, fmt.Errorf("field %s is %s, not an event field", f.Name, f.Type.Article())
	}
	ev := Event{Field: fi}
	if e.hasValue {
		if err := checkValue(e.value); err != nil {
			return Event{}, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if e.value != last.value || last.kept == "" {
			last.value, last.kept = e.value, a.ownView(e.value)
		}
		ev.Value = last.kept
	}
	if !e.hasTime {
		return Event{}, fmt.Errorf("field %s: time is missing", f.Name)
	}
	d, err := schema.ParseDayOrTime(e.time, s.Location())
	if err != nil {
		return Event{}, fmt.Errorf("field %s: %w", f.Name, err)
	}
	ev.Day = d
	return ev, nil
}
