package query

import (
	"slices"
	"strings"
)

// testSchema is the small CDP schema the checker tests run against.
type testSchema struct {
	fields map[string]FieldInfo // by lower-case name
	values map[string][]string  // known values by canonical name
}

func newTestSchema() *testSchema {
	s := &testSchema{fields: map[string]FieldInfo{}, values: map[string][]string{}}
	add := func(f FieldInfo, values ...string) {
		s.fields[strings.ToLower(f.Name)] = f
		if values != nil {
			s.values[f.Name] = values
		}
	}
	add(FieldInfo{Name: "gender", Type: TypeTag}, "female", "male")
	add(FieldInfo{Name: "city", Type: TypeTag}, "上海", "杭州", "北京", "Shanghai", "Hangzhou", "Beijing")
	add(FieldInfo{Name: "member_level", Type: TypeTag}, "L1", "L2", "L3", "L4")
	add(FieldInfo{Name: "lifecycle", Type: TypeTag}, "new", "active", "churned", "dormant")
	add(FieldInfo{Name: "channels", Type: TypeSet}, "wechat", "app", "jd", "tmall")
	add(FieldInfo{Name: "is_vip", Type: TypeBool})
	add(FieldInfo{Name: "age", Type: TypeInt, Min: 0, Max: 120})
	add(FieldInfo{Name: "churn_score", Type: TypeInt, Min: 0, Max: 1000})
	add(FieldInfo{Name: "ltv", Type: TypeDecimal, Scale: 2})
	add(FieldInfo{Name: "registered_at", Type: TypeDate})
	add(FieldInfo{Name: "last_purchase_at", Type: TypeDate})
	add(FieldInfo{Name: "purchase", Type: TypeEvent}, "milk_powder", "coffee", "tea", "diapers")
	add(FieldInfo{Name: "view", Type: TypeEvent}, "milk_powder", "coffee", "tea", "diapers")
	add(FieldInfo{Name: "add_to_cart", Type: TypeEvent}) // values unknown: not checked
	add(FieldInfo{Name: "Order Count", Type: TypeInt})   // needs back-quotes; mixed case
	add(FieldInfo{Name: "interests", Type: TypeSet}, []string{}...)
	return s
}

func (s *testSchema) Field(name string) (FieldInfo, bool) {
	f, ok := s.fields[strings.ToLower(name)]
	return f, ok
}

func (s *testSchema) FieldNames() []string {
	names := make([]string, 0, len(s.fields))
	for _, f := range s.fields {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	return names
}

func (s *testSchema) KnownValues(field string) []string { return s.values[field] }

// testOptions enables value checking against the test schema.
func testOptions(s *testSchema) Options { return Options{Values: s} }
