package exec

import (
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/query"
)

// catalog presents a snapshot to the query checker: its fields, and the
// values its tag, set and event fields hold (for "did you mean").
type catalog struct{ sn *engine.Snapshot }

var fieldTypes = map[schema.Type]query.FieldType{
	schema.Tag: query.TypeTag, schema.Set: query.TypeSet, schema.Bool: query.TypeBool,
	schema.Int: query.TypeInt, schema.Decimal: query.TypeDecimal, schema.Date: query.TypeDate,
	schema.Event: query.TypeEvent,
}

func (c catalog) Field(name string) (query.FieldInfo, bool) {
	f, ok := c.sn.Schema().Field(name)
	if !ok {
		return query.FieldInfo{}, false
	}
	fi := query.FieldInfo{Name: f.Name, Type: fieldTypes[f.Type], Scale: f.Scale}
	if f.Type == schema.Int {
		fi.Min, fi.Max = *f.Min, *f.Max
	}
	return fi, true
}

func (c catalog) FieldNames() []string {
	fs := c.sn.Schema().Fields
	names := make([]string, len(fs))
	for i := range fs {
		names[i] = fs[i].Name
	}
	return names
}

// maxKnownValues bounds the values offered to the checker: a field with
// more is treated as open (any value accepted, none suggested).
const maxKnownValues = 100_000

func (c catalog) KnownValues(field string) []string {
	fv, err := c.sn.Field(field)
	if err != nil {
		return nil
	}
	var vals []string
	switch {
	case fv.Values != nil:
		vals = fv.Values.Values()
	case fv.Events != nil:
		vals = fv.Events.Values()
	}
	// No values yet (an empty field) gives no basis to call a value
	// unknown; too many makes the check costly and suggestions useless.
	if len(vals) == 0 || len(vals) > maxKnownValues {
		return nil
	}
	return vals
}

// Catalog presents a snapshot's schema and values to the query checker.
func Catalog(sn *engine.Snapshot) interface {
	query.Schema
	query.Values
} {
	return catalog{sn}
}
