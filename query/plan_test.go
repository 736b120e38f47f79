package query_test

import (
	"strings"
	"testing"

	"github.com/cohortdb/cohort/query"
)

type planSchema map[string]query.FieldInfo

func (s planSchema) Field(name string) (query.FieldInfo, bool) {
	f, ok := s[strings.ToLower(name)]
	return f, ok
}

func (s planSchema) FieldNames() []string {
	var names []string
	for n := range s {
		names = append(names, n)
	}
	return names
}

var testPlanSchema = planSchema{
	"city":     {Name: "city", Type: query.TypeTag},
	"gender":   {Name: "gender", Type: query.TypeTag},
	"channels": {Name: "channels", Type: query.TypeSet},
	"age":      {Name: "age", Type: query.TypeInt, Min: 0, Max: 120},
	"is_vip":   {Name: "is_vip", Type: query.TypeBool},
	"purchase": {Name: "purchase", Type: query.TypeEvent},
}

// fixedStats estimates each leaf by a table keyed by its text.
type fixedStats map[string]uint64

func (s fixedStats) Total() uint64 { return 1000 }
func (s fixedStats) Estimate(p query.Pred) uint64 {
	if n, ok := s[p.String()]; ok {
		return n
	}
	return 500
}

func TestPlanRules(t *testing.T) {
	stats := fixedStats{"city = 'a'": 10, "gender = 'f'": 600, "is_vip": 50}
	f := func(q, want string) {
		t.Helper()
		c, err := query.Compile(q, testPlanSchema, query.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSpace(query.NewPlan(c, stats).String())
		want = strings.TrimSpace(want)
		if got != want {
			t.Fatalf("%s\n got:\n%s\nwant:\n%s", q, got, want)
		}
	}
	// Flattened, ordered smallest first.
	f(`gender = 'f' AND (is_vip AND city = 'a')`, `
AND
  city = 'a'
  is_vip
  gender = 'f'`)
	// NOT under AND becomes AND-NOT.
	f(`gender = 'f' AND NOT is_vip`, `
AND
  gender = 'f'
  - is_vip`)
	// Double negation.
	f(`NOT NOT is_vip`, `is_vip`)
	// NOT over OR: everyone minus each term.
	f(`NOT (is_vip OR city = 'a')`, `
AND
  ALL
  - is_vip
  - city = 'a'`)
	// Contradiction on one tag field.
	f(`city = 'a' AND city = 'b' AND is_vip`, `EMPTY`)
	f(`city IN ('a', 'b') AND city != 'b'`, `city = 'a'`)
	// Disjoint and overlapping ranges.
	f(`age > 50 AND age < 20`, `EMPTY`)
	f(`age >= 20 AND age <= 30 AND age != 25`, `
AND
  age != 25
  age BETWEEN 20 AND 30`)
	// Constants.
	f(`ALL AND is_vip`, `is_vip`)
	f(`ALL OR is_vip`, `ALL`)
	f(`NOT ALL`, `EMPTY`)
	f(`is_vip AND NOT is_vip`, `EMPTY`)
	// Shared sub-expressions are marked.
	f(`(is_vip AND city = 'a') OR (city = 'a' AND is_vip AND gender = 'f')`, `
OR
  AND
    city = 'a'  [shared]
    is_vip  [shared]
  AND
    city = 'a'  [shared]
    is_vip  [shared]
    gender = 'f'`)
}
