package query

import "fmt"

// FieldType is the declared type of a dataset field (DESIGN §1).
type FieldType int

// The field types.
const (
	TypeTag     FieldType = iota + 1 // one value per profile
	TypeSet                          // many values per profile
	TypeBool                         // true/false
	TypeInt                          // integer, optionally within [Min, Max]
	TypeDecimal                      // fixed-point with Scale decimal places
	TypeDate                         // a calendar day
	TypeEvent                        // behaviour with a value and a day
)

// String returns the type's schema name ("tag", "set", …).
func (t FieldType) String() string {
	switch t {
	case TypeTag:
		return "tag"
	case TypeSet:
		return "set"
	case TypeBool:
		return "bool"
	case TypeInt:
		return "int"
	case TypeDecimal:
		return "decimal"
	case TypeDate:
		return "date"
	case TypeEvent:
		return "event"
	}
	return fmt.Sprintf("FieldType(%d)", int(t))
}

// article returns "a" or "an" for the type name, for messages such as
// "field age is an int".
func (t FieldType) article() string {
	switch t {
	case TypeInt, TypeEvent:
		return "an"
	}
	return "a"
}

// FieldInfo describes one field of a schema.
type FieldInfo struct {
	// Name is the field's canonical spelling; checked queries carry it.
	Name string
	Type FieldType
	// Scale is the number of decimal places of a Decimal field.
	Scale int
	// Min and Max bound an Int field (inclusive). Both zero means unbounded.
	Min, Max int64
}

// hasRange reports whether the field declares bounds.
func (f FieldInfo) hasRange() bool { return f.Type == TypeInt && (f.Min != 0 || f.Max != 0) }

// Schema resolves field names. The engine implements it; query defines it so
// that it imports nothing of the engine.
type Schema interface {
	// Field looks a name up case-insensitively (a schema never holds two
	// names differing only in case).
	Field(name string) (FieldInfo, bool)
	// FieldNames lists every field, for suggestions.
	FieldNames() []string
}

// Values gives optional statistics the checker uses to reject and correct
// misspelt values. The engine implements it.
type Values interface {
	// KnownValues returns the values present in a tag, set or event field
	// (named canonically), or nil when they are unknown or too many to list;
	// nil disables value checking for that field.
	KnownValues(field string) []string
}
