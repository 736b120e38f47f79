// Package schema describes a dataset's fields: their names, types and
// bounds, the dataset's time zone, and the day numbering that event and date
// fields share. A schema is immutable once built; adding a field produces a
// new schema.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Type is the kind of a field. It decides the index the engine keeps.
type Type uint8

// Field types of DESIGN §1.
const (
	Tag     Type = iota + 1 // one value per profile: one bitmap per value
	Set                     // many values per profile: one bitmap per value
	Bool                    // true/false: one bitmap of the true profiles
	Int                     // integer in [min, max]: bit-sliced index
	Decimal                 // fixed scale: bit-sliced index of the scaled integer
	Date                    // calendar day: bit-sliced index of the day number
	Event                   // behaviour with a value and a day: bitmap per (value, day)
)

var typeNames = [...]string{Tag: "tag", Set: "set", Bool: "bool", Int: "int", Decimal: "decimal", Date: "date", Event: "event"}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType maps a schema type name to its Type.
func ParseType(s string) (Type, error) {
	for t, name := range typeNames {
		if name != "" && name == s {
			return Type(t), nil
		}
	}
	return 0, fmt.Errorf("unknown field type %q (want one of tag, set, bool, int, decimal, date, event)", s)
}

// MarshalJSON writes the type's name.
func (t Type) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON reads a type name.
func (t *Type) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("field type must be a string: %w", err)
	}
	v, err := ParseType(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Numeric reports whether the type is kept in a bit-sliced index.
func (t Type) Numeric() bool { return t == Int || t == Decimal || t == Date }

// Limits on schemas; past them a schema is refused rather than accepted and
// found wanting later.
const (
	MaxFields         = 1024
	MaxFieldName      = 128
	MaxScale          = 6
	MaxRetention      = 3660
	DefaultDecimalMax = 1_000_000_000_000 // in whole units, when a decimal declares no max
)

// Date bounds: day numbers are days since 1970-01-01; dates outside
// 1900-01-01..2199-12-31 are refused, which keeps a date BSI at 17 bits.
var (
	minDate = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(2199, 12, 31, 0, 0, 0, 0, time.UTC)
)

// MinDay and MaxDay bound the day numbers of date fields and events.
var (
	MinDay = int32(minDate.Unix() / 86400)
	MaxDay = int32(maxDate.Unix() / 86400)
)

// Field is one declared field.
type Field struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	// Min and Max bound int fields (required) and, in whole units, decimal
	// fields (optional: 0 and DefaultDecimalMax).
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
	// Scale is the number of decimal places of a decimal field.
	Scale int `json:"scale,omitempty"`
	// RetentionDays is how many days of an event field are kept (0 = forever).
	RetentionDays int `json:"retention_days,omitempty"`
	// Description is free text for the console.
	Description string `json:"description,omitempty"`
}

// Bounds returns the inclusive range of the field's stored integer: the
// value itself for int, the scaled integer for decimal, the day number for
// date.
func (f *Field) Bounds() (lo, hi int64) {
	switch f.Type {
	case Int:
		return *f.Min, *f.Max
	case Decimal:
		p := Pow10(f.Scale)
		lo, hi = 0, DefaultDecimalMax*p
		if f.Min != nil {
			lo = *f.Min * p
		}
		if f.Max != nil {
			hi = *f.Max * p
		}
		return lo, hi
	case Date:
		return int64(MinDay), int64(MaxDay)
	}
	return 0, 0
}

// Pow10 returns 10^n for small n.
func Pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// Schema is a dataset's declared fields and time zone. Build it with Parse
// or New; it is immutable afterwards.
type Schema struct {
	Timezone string  `json:"timezone,omitempty"`
	Fields   []Field `json:"fields"`

	loc   *time.Location
	byKey map[string]int // lower-cased name -> index in Fields
}

var namePattern = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_]*$`)

// Parse decodes and validates a schema document. Unknown keys are errors so
// that a typo ("retention": 90) does not silently mean "forever".
func Parse(data []byte) (*Schema, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("schema: invalid UTF-8")
	}
	// null would decode into an empty schema without complaint.
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("schema: expected a JSON object {\"timezone\": …, \"fields\": [...]}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Schema
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if dec.More() {
		return nil, errors.New("schema: unexpected data after the schema object")
	}
	return New(s.Timezone, s.Fields)
}

// New validates fields and a time zone name ("" means UTC) into a Schema.
func New(timezone string, fields []Field) (*Schema, error) {
	s := &Schema{Timezone: timezone, Fields: append([]Field(nil), fields...), byKey: make(map[string]int, len(fields))}
	tz := timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("schema: unknown time zone %q: %w", timezone, err)
	}
	s.loc = loc
	if len(fields) > MaxFields {
		return nil, fmt.Errorf("schema: %d fields, at most %d allowed", len(fields), MaxFields)
	}
	for i := range s.Fields {
		f := &s.Fields[i]
		if err := validateField(f); err != nil {
			return nil, fmt.Errorf("schema: field %d (%q): %w", i+1, f.Name, err)
		}
		key := Key(f.Name)
		if j, dup := s.byKey[key]; dup {
			return nil, fmt.Errorf("schema: field %q duplicates %q (field names are case-insensitive)", f.Name, s.Fields[j].Name)
		}
		s.byKey[key] = i
	}
	return s, nil
}

func validateField(f *Field) error {
	if f.Name == "" {
		return errors.New("name is empty")
	}
	if len(f.Name) > MaxFieldName {
		return fmt.Errorf("name longer than %d bytes", MaxFieldName)
	}
	if !namePattern.MatchString(f.Name) {
		return errors.New("name must start with a letter or _ and hold only letters, digits and _")
	}
	if isReserved(f.Name) {
		return fmt.Errorf("name %q is a keyword of the segment language; pick another", f.Name)
	}
	if f.Type == 0 {
		return errors.New("type is missing")
	}
	if f.Type != Int && f.Type != Decimal && (f.Min != nil || f.Max != nil) {
		return fmt.Errorf("min/max apply to int and decimal fields, not %s", f.Type)
	}
	if f.Type != Decimal && f.Scale != 0 {
		return fmt.Errorf("scale applies to decimal fields, not %s", f.Type)
	}
	if f.Type != Event && f.RetentionDays != 0 {
		return fmt.Errorf("retention_days applies to event fields, not %s", f.Type)
	}
	switch f.Type {
	case Int:
		if f.Min == nil || f.Max == nil {
			return errors.New("int fields need min and max")
		}
		if *f.Min > *f.Max {
			return fmt.Errorf("min %d is greater than max %d", *f.Min, *f.Max)
		}
		if *f.Min < -(1<<53) || *f.Max > 1<<53 {
			return errors.New("min and max must lie within ±2^53")
		}
	case Decimal:
		if f.Scale < 0 || f.Scale > MaxScale {
			return fmt.Errorf("scale %d out of range 0..%d", f.Scale, MaxScale)
		}
		lim := int64(1<<53) / Pow10(f.Scale)
		lo, hi := int64(0), int64(DefaultDecimalMax)
		if f.Min != nil {
			lo = *f.Min
		}
		if f.Max != nil {
			hi = *f.Max
		}
		if lo > hi {
			return fmt.Errorf("min %d is greater than max %d", lo, hi)
		}
		if lo < -lim || hi > lim {
			return fmt.Errorf("min and max must lie within ±%d at scale %d", lim, f.Scale)
		}
	case Event:
		if f.RetentionDays < 0 || f.RetentionDays > MaxRetention {
			return fmt.Errorf("retention_days %d out of range 0..%d", f.RetentionDays, MaxRetention)
		}
	}
	return nil
}

// reserved words cannot be field names: "city = 'x' AND all" must not be
// ambiguous for the marketer or the parser.
var reservedWords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "between": true, "has": true,
	"any": true, "all": true, "is": true, "null": true, "true": true, "false": true,
	"at": true, "least": true, "most": true, "times": true, "time": true, "last": true,
	"days": true, "day": true, "since": true, "before": true, "on": true, "segment": true,
}

func isReserved(name string) bool { return reservedWords[strings.ToLower(name)] }

// Key is the case-folded lookup key of a field name.
func Key(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= utf8.RuneSelf || unicode.IsUpper(rune(c)) {
			return strings.ToLower(name)
		}
	}
	return name
}

// Field looks a field up by name, case-insensitively.
func (s *Schema) Field(name string) (*Field, bool) {
	i, ok := s.Index(name)
	if !ok {
		return nil, false
	}
	return &s.Fields[i], true
}

// Index returns the position of a field in Fields, looked up
// case-insensitively. Indexes and decoded updates refer to fields by it.
func (s *Schema) Index(name string) (int, bool) {
	i, ok := s.byKey[Key(name)]
	return i, ok
}

// Location is the dataset's time zone.
func (s *Schema) Location() *time.Location { return s.loc }

// WithField returns a new schema with f appended.
func (s *Schema) WithField(f Field) (*Schema, error) {
	return New(s.Timezone, append(append([]Field(nil), s.Fields...), f))
}

// MarshalIndent renders the schema as indented JSON.
func (s *Schema) MarshalIndent() ([]byte, error) {
	return json.MarshalIndent(struct {
		Timezone string  `json:"timezone,omitempty"`
		Fields   []Field `json:"fields"`
	}{s.Timezone, s.Fields}, "", "  ")
}

// Article returns the type's name with its indefinite article ("a tag",
// "an int"), for messages.
func (t Type) Article() string {
	switch t {
	case Int, Event:
		return "an " + t.String()
	}
	return "a " + t.String()
}
