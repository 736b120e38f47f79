// Package record decodes and validates ingest records (one NDJSON line of
// DESIGN §3) against a dataset schema. Decoding does all the checking there
// is to do before anything is applied, so that the engine can apply a
// decoded Update whole or, on error, not at all.
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

	"github.com/cohortdb/cohort/engine/schema"
)

// Limits on one record; past them the record is refused with a clear error.
const (
	MaxLineBytes   = 1 << 20
	MaxIDBytes     = 1024
	MaxValueBytes  = 1024
	MaxValuesPerOp = 10_000
	MaxEvents      = 10_000
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

// Update is a validated ingest record. Fields are schema indexes, so an
// Update is only meaningful with the schema it was decoded against.
type Update struct {
	ID     string
	Set    []Assign
	Unset  []int
	Add    []SetChange
	Remove []SetChange
	Events []Event
}

// wire is the JSON shape of a record. Keys other than these are errors.
type wire struct {
	ID     *string                    `json:"id"`
	IDs    map[string]string          `json:"ids"`
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
func Decode(line []byte, s *schema.Schema) (Update, error) {
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
	if _, err := dec.Token(); err == nil {
		return Update{}, errors.New("unexpected data after the record object")
	}
	return w.validate(s)
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
		return fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, se)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return fmt.Errorf("unknown key %s (a record has id, ids, set, add, remove, unset, events)", strings.TrimPrefix(msg, "json: unknown field "))
	}
	if errors.Is(err, io.EOF) {
		return errors.New("empty record")
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

func (w *wire) validate(s *schema.Schema) (Update, error) {
	var u Update
	if w.ID == nil {
		return u, errors.New("id is missing")
	}
	if err := checkID(*w.ID); err != nil {
		return u, err
	}
	u.ID = *w.ID
	if len(w.IDs) > 0 {
		return u, errors.New("ids: additional identifiers are not supported yet; address the profile by id")
	}
	// Fields are visited in sorted order so that the first error reported
	// for a record is the same on every run.
	touched := map[int]string{}
	claim := func(fi int, part string) error {
		if prev, ok := touched[fi]; ok && (prev != part || part == "set" || part == "unset") {
			if prev == part {
				return fmt.Errorf("field %s appears twice in %s", s.Fields[fi].Name, part)
			}
			if !(prev == "add" && part == "remove" || prev == "remove" && part == "add") {
				return fmt.Errorf("field %s: cannot both %s and %s it in one record", s.Fields[fi].Name, prev, part)
			}
		}
		touched[fi] = part
		return nil
	}
	for _, name := range sortedKeys(w.Set) {
		fi, f, err := lookup(s, name)
		if err != nil {
			return u, fmt.Errorf("set: %w", err)
		}
		if err := claim(fi, "set"); err != nil {
			return u, err
		}
		raw := bytes.TrimSpace(w.Set[name])
		if string(raw) == "null" {
			// null clears the field: the usual meaning in CDP feeds.
			u.Unset = append(u.Unset, fi)
			continue
		}
		v, err := decodeValue(f, raw, s)
		if err != nil {
			return u, fmt.Errorf("set: field %s: %w", f.Name, err)
		}
		u.Set = append(u.Set, Assign{Field: fi, Value: v})
	}
	for _, name := range w.Unset {
		fi, _, err := lookup(s, name)
		if err != nil {
			return u, fmt.Errorf("unset: %w", err)
		}
		if err := claim(fi, "unset"); err != nil {
			return u, err
		}
		u.Unset = append(u.Unset, fi)
	}
	var err error
	if u.Add, err = setChanges("add", w.Add, s, claim); err != nil {
		return u, err
	}
	if u.Remove, err = setChanges("remove", w.Remove, s, claim); err != nil {
		return u, err
	}
	for _, a := range u.Add {
		for _, r := range u.Remove {
			if a.Field != r.Field {
				continue
			}
			for _, v := range a.Values {
				if slices.Contains(r.Values, v) {
					return u, fmt.Errorf("field %s: value %q is both added and removed", s.Fields[a.Field].Name, v)
				}
			}
		}
	}
	if len(w.Events) > MaxEvents {
		return u, fmt.Errorf("events: %d events, at most %d per record", len(w.Events), MaxEvents)
	}
	for i, e := range w.Events {
		ev, err := decodeEvent(e, s)
		if err != nil {
			return u, fmt.Errorf("events[%d]: %w", i, err)
		}
		u.Events = append(u.Events, ev)
	}
	return u, nil
}

func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("id is empty")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("id is %d bytes, at most %d", len(id), MaxIDBytes)
	case strings.ContainsAny(id, "\x00\n\r"):
		return errors.New("id contains a control character")
	}
	return nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func lookup(s *schema.Schema, name string) (int, *schema.Field, error) {
	f, ok := s.Field(name)
	if !ok {
		return 0, nil, fmt.Errorf("unknown field %q", name)
	}
	// Field returns a pointer into s.Fields; recover its index.
	for i := range s.Fields {
		if &s.Fields[i] == f {
			return i, f, nil
		}
	}
	return 0, nil, fmt.Errorf("BUG: field %q not found by index", name)
}

func setChanges(part string, m map[string]json.RawMessage, s *schema.Schema, claim func(int, string) error) ([]SetChange, error) {
	var out []SetChange
	for _, name := range sortedKeys(m) {
		fi, f, err := lookup(s, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", part, err)
		}
		if f.Type != schema.Set {
			return nil, fmt.Errorf("%s: field %s is %s; add and remove apply to set fields (use set)", part, f.Name, f.Type.Article())
		}
		if err := claim(fi, part); err != nil {
			return nil, err
		}
		vals, err := decodeStrings(m[name])
		if err != nil {
			return nil, fmt.Errorf("%s: field %s: %w", part, f.Name, err)
		}
		out = append(out, SetChange{Field: fi, Values: vals})
	}
	return out, nil
}

func decodeStrings(raw json.RawMessage) ([]string, error) {
	var vals []string
	if err := json.Unmarshal(raw, &vals); err != nil {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			vals = []string{one}
		} else {
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
	slices.Sort(vals)
	return slices.Compact(vals), nil
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

func decodeValue(f *schema.Field, raw json.RawMessage, s *schema.Schema) (Value, error) {
	var v Value
	switch f.Type {
	case schema.Tag:
		if err := json.Unmarshal(raw, &v.Str); err != nil {
			return v, fmt.Errorf("a tag takes a string, found %s", describe(raw))
		}
		return v, checkValue(v.Str)
	case schema.Set:
		vals, err := decodeStrings(raw)
		if err != nil {
			return v, err
		}
		v.Strs = vals
		return v, nil
	case schema.Bool:
		if err := json.Unmarshal(raw, &v.Bool); err != nil {
			return v, fmt.Errorf("a bool takes true or false, found %s", describe(raw))
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
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return v, fmt.Errorf("a date takes a string YYYY-MM-DD, found %s", describe(raw))
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

func decodeEvent(e wireEvent, s *schema.Schema) (Event, error) {
	if e.Field == nil {
		return Event{}, errors.New("field is missing")
	}
	fi, f, err := lookup(s, *e.Field)
	if err != nil {
		return Event{}, err
	}
	if f.Type != schema.Event {
		return Event{}, fmt.Errorf("field %s is %s, not an event field", f.Name, f.Type.Article())
	}
	ev := Event{Field: fi}
	if e.Value != nil {
		if err := checkValue(*e.Value); err != nil {
			return Event{}, fmt.Errorf("field %s: %w", f.Name, err)
		}
		ev.Value = *e.Value
	}
	if e.Time == nil {
		return Event{}, fmt.Errorf("field %s: time is missing", f.Name)
	}
	d, err := schema.ParseDayOrTime(*e.Time, s.Location())
	if err != nil {
		return Event{}, fmt.Errorf("field %s: %w", f.Name, err)
	}
	ev.Day = d
	return ev, nil
}
