package analytics_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/cespare/xxhash/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/analytics"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

const splitSchema = `{"fields":[{"name":"score","type":"int","min":-3,"max":20},{"name":"city","type":"tag"}]}`

// score gives profile i a value in a small range (so caps by score meet
// ties) or, for one in five, none.
func score(i int) (int64, bool) {
	if i%5 == 4 {
		return 0, false
	}
	return int64(i*7919%24) - 3, true
}

// splitDataset creates a dataset holding profiles "u<i>" for ids, applied
// in the order given.
func splitDataset(t testing.TB, ids []int) *engine.Dataset {
	t.Helper()
	s, err := schema.Parse([]byte(splitSchema))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return testNow }}).Create("split", s)
	if err != nil {
		t.Fatal(err)
	}
	addProfiles(ds, ids)
	return ds
}

func addProfiles(ds *engine.Dataset, ids []int) {
	ups := make([]record.Update, 0, len(ids))
	for _, i := range ids {
		u := record.Update{ID: fmt.Sprintf("u%d", i), Set: []record.Assign{{Field: 1, Value: record.Value{Str: "c"}}}}
		if v, ok := score(i); ok {
			u.Set = append(u.Set, record.Assign{Field: 0, Value: record.Value{Int: v}})
		}
		ups = append(ups, u)
	}
	ds.Apply(ups)
}

func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

var abHoldout = []analytics.Group{{"A", 45}, {"B", 45}, {"holdout", 10}}

// groupsByID maps every external id of a split to its group.
func groupsByID(t testing.TB, sn *engine.Snapshot, res []analytics.GroupResult) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range res {
		if g.Count != g.Rows.GetCardinality() {
			t.Fatalf("group %s: count %d, rows %d", g.Name, g.Count, g.Rows.GetCardinality())
		}
		it := g.Rows.Iterator()
		for it.HasNext() {
			id := sn.ExternalID(it.Next())
			if prev, ok := out[id]; ok {
				t.Fatalf("%s is in groups %s and %s", id, prev, g.Name)
			}
			out[id] = g.Name
		}
	}
	return out
}

func split(t testing.TB, sn *engine.Snapshot, seg *roaring.Bitmap, opts analytics.SplitOptions) []analytics.GroupResult {
	t.Helper()
	res, err := analytics.Split(context.Background(), sn, seg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSplitStableAndBalanced: a profile's group depends on its id and the
// salt only — not on other profiles, nor on the order the dataset was
// built in — and groups are as large as their percentages say.
func TestSplitStableAndBalanced(t *testing.T) {
	const n = 50_000
	ds := splitDataset(t, seq(0, n))
	opts := analytics.SplitOptions{Groups: abHoldout, Salt: "exp-7"}
	sn := ds.Snapshot()
	res := split(t, sn, sn.All(), opts)
	first := groupsByID(t, sn, res)
	if len(first) != n {
		t.Fatalf("%d profiles placed, want %d", len(first), n)
	}
	for i, g := range res {
		p := g.Percent / 100
		sigma := math.Sqrt(n * p * (1 - p))
		if d := math.Abs(float64(g.Count) - n*p); d > 4*sigma {
			t.Errorf("group %s: %d profiles, expected %.0f ± %.0f", g.Name, g.Count, n*p, 4*sigma)
		}
		if g.Name != abHoldout[i].Name {
			t.Errorf("group %d is %s, want %s", i, g.Name, abHoldout[i].Name)
		}
	}

	// More profiles arrive.
	addProfiles(ds, seq(n, n+5000))
	sn2 := ds.Snapshot()
	after := groupsByID(t, sn2, split(t, sn2, sn2.All(), opts))
	// The same profiles, rebuilt from scratch in another order.
	order := seq(0, n)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	sn3 := splitDataset(t, order).Snapshot()
	rebuilt := groupsByID(t, sn3, split(t, sn3, sn3.All(), opts))
	for id, g := range first {
		if after[id] != g || rebuilt[id] != g {
			t.Fatalf("%s moved: %s, then %s after new profiles, %s after a rebuild", id, g, after[id], rebuilt[id])
		}
	}
	// A part of the segment keeps each member's group.
	part := roaring.New()
	for row := range sn.Rows() {
		if row%3 == 0 {
			part.Add(row)
		}
	}
	for id, g := range groupsByID(t, sn, split(t, sn, part, opts)) {
		if first[id] != g {
			t.Fatalf("%s is in %s within a smaller segment, %s within all", id, g, first[id])
		}
	}
	// Another salt draws anew: about 45% stay in A among A's members.
	other := groupsByID(t, sn, split(t, sn, sn.All(), analytics.SplitOptions{Groups: abHoldout, Salt: "exp-8"}))
	same := 0
	for id, g := range first {
		if other[id] == g {
			same++
		}
	}
	if want := n * (0.45*0.45 + 0.45*0.45 + 0.1*0.1); math.Abs(float64(same)-want) > 0.05*n {
		t.Errorf("%d profiles kept their group under another salt, expected about %.0f", same, want)
	}
}

func capHash(salt, id string) uint64 { return xxhash.Sum64String(salt + "\x00cap\x00" + id) }

// TestSplitCap checks both cap modes against a naive sort of the segment.
func TestSplitCap(t *testing.T) {
	const n = 6000
	ds := splitDataset(t, seq(0, n))
	sn := ds.Snapshot()
	r := rand.New(rand.NewPCG(5, 5))
	seg := roaring.New()
	for row := range sn.Rows() {
		if r.IntN(3) > 0 {
			seg.Add(row)
		}
	}
	const salt = "cap-test"
	uncapped := groupsByID(t, sn, split(t, sn, seg, analytics.SplitOptions{Groups: abHoldout, Salt: salt}))
	type member struct {
		id    string
		v     int64
		has   bool
		hash  uint64
		index int
	}
	var members []member
	it := seg.Iterator()
	for it.HasNext() {
		row := it.Next()
		id := sn.ExternalID(row)
		var i int
		fmt.Sscanf(id, "u%d", &i)
		v, ok := score(i)
		members = append(members, member{id: id, v: v, has: ok, hash: capHash(salt, id)})
	}
	for _, c := range []struct {
		by  string
		cap uint64
	}{
		{"", 1}, {"random", 1000}, {"", 3999}, {"", uint64(len(members))}, {"", 1 << 40},
		{"score", 1}, {"score", 777}, {"SCORE", 2500}, {"score", uint64(len(members)) - 10}, {"score", uint64(len(members))},
	} {
		ranked := slices.Clone(members)
		slices.SortFunc(ranked, func(a, b member) int {
			if c.by != "" && c.by != "random" {
				if a.has != b.has {
					if a.has {
						return -1
					}
					return 1
				}
				if d := cmp.Compare(b.v, a.v); d != 0 {
					return d
				}
			}
			return cmp.Or(cmp.Compare(a.hash, b.hash), strings.Compare(a.id, b.id))
		})
		want := map[string]bool{}
		for _, m := range ranked[:min(c.cap, uint64(len(ranked)))] {
			want[m.id] = true
		}
		got := groupsByID(t, sn, split(t, sn, seg, analytics.SplitOptions{Groups: abHoldout, Salt: salt, Cap: c.cap, CapBy: c.by}))
		if len(got) != len(want) {
			t.Fatalf("cap %d by %q: %d profiles kept, want %d", c.cap, c.by, len(got), len(want))
		}
		for id, g := range got {
			if !want[id] {
				t.Fatalf("cap %d by %q: %s kept, it should not be", c.cap, c.by, id)
			}
			if uncapped[id] != g {
				t.Fatalf("cap %d by %q: %s in %s, %s without a cap", c.cap, c.by, id, g, uncapped[id])
			}
		}
	}
}

func TestSplitErrors(t *testing.T) {
	ds := splitDataset(t, seq(0, 10))
	sn := ds.Snapshot()
	for _, c := range []struct {
		opts analytics.SplitOptions
		msg  string
	}{
		{analytics.SplitOptions{}, "no groups"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", 50}, {"B", 49}}}, "add up to 99"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", 50}, {"B", 50.001}}}, "add up to"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", 110}, {"B", -10}}}, "greater than 0"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", 100}, {"B", 0}}}, "greater than 0"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", math.NaN()}}}, "greater than 0"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", math.Inf(1)}}}, "greater than 0"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"", 100}}}, "group name"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"a b", 100}}}, "group name"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"a/b", 100}}}, "group name"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", 50}, {"A", 50}}}, "twice"},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", 100}}, Cap: 3, CapBy: "nope"}, `no field "nope"`},
		{analytics.SplitOptions{Groups: []analytics.Group{{"A", 100}}, Cap: 3, CapBy: "city"}, "a tag field"},
	} {
		if _, err := analytics.Split(context.Background(), sn, sn.All(), c.opts); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.opts, err, c.msg)
		}
	}
	// Valid edge cases: one group, Unicode and punctuation in names,
	// percentages that add to 100 only up to rounding.
	third := 100.0 / 3
	for _, groups := range [][]analytics.Group{
		{{"all", 100}},
		{{"对照组", 50}, {"test_v2.1-b", 50}},
		{{"a", third}, {"b", third}, {"c", third}},
	} {
		res := split(t, sn, sn.All(), analytics.SplitOptions{Groups: groups})
		var total uint64
		for _, g := range res {
			total += g.Count
		}
		if total != 10 {
			t.Errorf("%v: %d profiles placed, want 10", groups, total)
		}
	}
}
