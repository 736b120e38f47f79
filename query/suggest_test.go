package query

import (
	"reflect"
	"testing"
)

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"city", "city", 0}, {"cty", "city", 1},
		{"Shanghia", "Shanghai", 1}, // a swap is one edit
		{"上梅", "上海", 1}, {"上海市", "上海", 1}, {"杭州", "上海", 2},
		{"kitten", "sitting", 3}, {"ab", "ba", 1}, {"abc", "ca", 3},
	}
	for _, c := range cases {
		if got := editDistance([]rune(c.a), []rune(c.b), 100); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := editDistance([]rune(c.b), []rune(c.a), 100); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d (not symmetric)", c.b, c.a, got, c.want)
		}
	}
	if got := editDistance([]rune("kitten"), []rune("sitting"), 1); got != 2 {
		t.Errorf("a distance past the limit should report limit+1, got %d", got)
	}
}

func TestSuggest(t *testing.T) {
	cities := []string{"上海", "杭州", "北京", "Shanghai", "Hangzhou", "Beijing"}
	cases := []struct {
		word       string
		candidates []string
		want       []string
	}{
		{"Shanghia", cities, []string{"Shanghai"}},
		{"shanghai", cities, []string{"Shanghai"}},
		{"上梅", cities, []string{"上海"}},
		{"杭洲", cities, []string{"杭州"}},
		{"Paris", cities, []string{}},
		{"cty", []string{"city", "country", "age"}, []string{"city"}},
		{"milk", []string{"milk_powder", "silk", "coffee"}, []string{"silk", "milk_powder"}},
		{"L5", []string{"L1", "L2", "L3", "L4", "M5"}, []string{"L1", "L2", "L3"}},
		{"age", []string{"AGE", "page"}, []string{"AGE", "page"}},
	}
	for _, c := range cases {
		if got := suggest(c.word, c.candidates); !reflect.DeepEqual(got, c.want) {
			t.Errorf("suggest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
}

func TestOrList(t *testing.T) {
	cases := map[string][]string{
		"":                     nil,
		"'a'":                  {"a"},
		"'a' or 'b'":           {"a", "b"},
		"'a', 'b' or 'it\\'s'": {"a", "b", "it's"},
	}
	for want, in := range cases {
		if got := orList(in); got != want {
			t.Errorf("orList(%q) = %q, want %q", in, got, want)
		}
	}
}
