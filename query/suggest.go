package query

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// maxSuggestions is how many "did you mean" candidates a message offers.
const maxSuggestions = 3

// editDistance is the optimal-string-alignment distance over runes:
// insertions, deletions, substitutions and swaps of adjacent runes each cost
// one. Runes, not bytes, so that one wrong Chinese character is one edit;
// swaps, because 'Shanghia' for 'Shanghai' is a typical typo. It gives up
// and returns limit+1 once the distance must exceed limit.
func editDistance(a, b []rune, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	// Three rolling rows: two back for the swap, one back, current.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// suggestLimit is the largest distance still worth suggesting for a word of
// n runes: about one typo per three characters, at least one.
func suggestLimit(n int) int { return max(1, n/3) }

// suggest returns up to maxSuggestions candidates close to word, nearest
// first (ties alphabetically, so the answer never depends on the order
// the engine lists candidates in). Comparison ignores case: "Shanghai" is the
// best answer to "shanghai" even though values are case-sensitive. A
// candidate that starts with a word of three or more characters also counts
// ("milk" finds "milk_powder").
func suggest(word string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	w := []rune(strings.ToLower(word))
	limit := suggestLimit(len(w))
	var found []scored
	seen := map[string]bool{}
	for _, c := range candidates {
		if c == word || seen[c] {
			continue
		}
		lc := strings.ToLower(c)
		d := editDistance(w, []rune(lc), limit)
		if d > limit {
			if len(w) < 3 || !strings.HasPrefix(lc, string(w)) {
				continue
			}
			d = limit + utf8.RuneCountInString(lc) - len(w) // after every real near miss
		}
		seen[c] = true
		found = append(found, scored{c, d})
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].d != found[j].d {
			return found[i].d < found[j].d
		}
		return found[i].s < found[j].s
	})
	out := make([]string, 0, maxSuggestions)
	for _, f := range found {
		if len(out) == maxSuggestions {
			break
		}
		out = append(out, f.s)
	}
	return out
}

// orList joins quoted names as "'a'", "'a' or 'b'", "'a', 'b' or 'c'".
func orList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = clip(quoteString(s))
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// didYouMean renders suggestions as " — did you mean 'x' or 'y'?", or "".
func didYouMean(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return " — did you mean " + orList(items) + "?"
}
