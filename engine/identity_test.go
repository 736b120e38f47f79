package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/reference"
	"github.com/cohortdb/cohort/engine/schema"
)

// identTypes are the identifier types testgen's lines use.
var identTypes = []string{"email", "openid", "phone"}

// applyLines applies NDJSON lines and fails on any refused line.
func applyLines(t *testing.T, ds *engine.Dataset, lines ...string) engine.Result {
	t.Helper()
	res, err := ds.ApplyNDJSON(strings.NewReader(strings.Join(lines, "\n")), engine.LoadOptions{})
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("apply: %v %v", err, res.Errors)
	}
	return res
}

// engineProfile renders row's values field by field, as the snapshot's
// indexes hold them.
func engineProfile(sn *engine.Snapshot, row uint32) string {
	var b strings.Builder
	for _, f := range sn.Fields() {
		fmt.Fprintf(&b, "%s=", f.Field.Name)
		switch {
		case f.Values != nil:
			vals := f.Values.RowValues(nil, row)
			slices.Sort(vals)
			fmt.Fprint(&b, vals)
		case f.Bool != nil:
			if v, ok := f.Bool.Value(row); ok {
				fmt.Fprint(&b, v)
			}
		case f.BSI != nil:
			if v, ok := f.BSI.Value(row); ok {
				fmt.Fprint(&b, v)
			}
		default:
			days := f.Events.RowDays(row)
			for _, v := range slices.Sorted(mapKeys(days)) {
				fmt.Fprint(&b, v, days[v])
			}
		}
		b.WriteString(" ")
	}
	return b.String()
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// refProfile renders a reference profile like engineProfile.
func refProfile(s *schema.Schema, p *reference.Profile) string {
	var b strings.Builder
	for fi := range s.Fields {
		f := &s.Fields[fi]
		fmt.Fprintf(&b, "%s=", f.Name)
		switch f.Type {
		case schema.Tag:
			var vals []string
			if v, ok := p.Tags[fi]; ok {
				vals = append(vals, v)
			}
			fmt.Fprint(&b, vals)
		case schema.Set:
			fmt.Fprint(&b, slices.Sorted(mapKeys(p.Sets[fi])))
		case schema.Bool:
			if v, ok := p.Bools[fi]; ok {
				fmt.Fprint(&b, v)
			}
		case schema.Event:
			for _, v := range slices.Sorted(mapKeys(p.Events[fi])) {
				fmt.Fprint(&b, v, slices.Sorted(mapKeys(p.Events[fi][v])))
			}
		default:
			if v, ok := p.Nums[fi]; ok {
				fmt.Fprint(&b, v)
			}
		}
		b.WriteString(" ")
	}
	return b.String()
}

// compareWithReference checks everything the identity rules decide:
// which profiles live, every field of every row, every identifier's
// profile, each profile's latest identifier of every type, and the
// identifiers and external ids each profile lists.
func compareWithReference(t *testing.T, what string, ds *engine.Dataset, ref *reference.Model) {
	t.Helper()
	sn := ds.Snapshot()
	if sn.Rows() != uint32(len(ref.Profiles)) {
		t.Fatalf("%s: %d rows, reference %d", what, sn.Rows(), len(ref.Profiles))
	}
	live := ref.Filter(func(*reference.Profile) bool { return true })
	if got := sn.All().ToArray(); sn.Profiles() != uint64(len(live)) || !slices.Equal(got, live) {
		t.Fatalf("%s: profiles %d %v, reference %d %v", what, sn.Profiles(), head(got), len(live), head(live))
	}
	for i, p := range ref.Profiles {
		row := uint32(i)
		if got, want := engineProfile(sn, row), refProfile(ref.Schema, p); got != want {
			t.Fatalf("%s: row %d (%s, dead %v):\nengine    %s\nreference %s", what, row, p.ID, p.Dead, got, want)
		}
		if sn.ExternalID(row) != p.ID {
			t.Fatalf("%s: row %d external id %q, want %q", what, row, sn.ExternalID(row), p.ID)
		}
		if got := sn.Identity().Root(row); got != uint32(ref.Root(i)) {
			t.Fatalf("%s: row %d stands for %d, reference %d", what, row, got, ref.Root(i))
		}
		if p.Dead {
			continue
		}
		for _, typ := range identTypes {
			got, gok := sn.Identity().AppendIdentifier(nil, typ, row)
			want, wok := ref.Latest(i, typ)
			if gok != wok || string(got) != want {
				t.Fatalf("%s: row %d latest %s %q (%v), reference %q (%v)", what, row, typ, got, gok, want, wok)
			}
		}
		id, _ := ds.Identity(row)
		for _, typ := range identTypes {
			got := slices.Sorted(slices.Values(id.IDs[typ]))
			want := slices.Sorted(slices.Values(p.IDs[typ]))
			if !slices.Equal(got, want) {
				t.Fatalf("%s: row %d %s identifiers %v, reference %v", what, row, typ, got, want)
			}
			if len(got) > 0 && id.IDs[typ][0] != p.Latest[typ] {
				t.Fatalf("%s: row %d lists %s %v, latest first, reference latest %q", what, row, typ, id.IDs[typ], p.Latest[typ])
			}
		}
		var exts []string
		for j, q := range ref.Profiles {
			if ref.Root(j) == i {
				exts = append(exts, q.ID)
			}
		}
		if ext := id.IDs[identity.External]; len(ext) == 0 || ext[0] != p.ID || !slices.Equal(slices.Sorted(slices.Values(ext)), slices.Sorted(slices.Values(exts))) {
			t.Fatalf("%s: row %d external ids %v, reference %v", what, row, ext, exts)
		}
	}
	for _, idf := range ref.Identifiers() {
		want, wok := ref.Lookup(idf[0], idf[1])
		got, gok := ds.Lookup(idf[0], idf[1])
		if gok != wok || int(got) != want {
			t.Fatalf("%s: lookup %s:%s gives row %d (%v), reference %d (%v)", what, idf[0], idf[1], got, gok, want, wok)
		}
	}
	for _, idf := range [][2]string{{"phone", "nobody"}, {"nosuchtype", "x"}, {identity.External, "nobody"}} {
		if r, ok := ds.Lookup(idf[0], idf[1]); ok {
			t.Fatalf("%s: lookup of unknown %v found row %d", what, idf, r)
		}
	}
	if _, n := ds.Merges(0, 0); n != ref.Merged {
		t.Fatalf("%s: %d merges logged, reference %d", what, n, ref.Merged)
	}
}

// TestMergeChain follows two merges by hand: A and B join through a
// record naming both, then C joins them, with every field and latest
// identifier decided by the rules.
func TestMergeChain(t *testing.T) {
	ds := newDataset(t)
	res := applyLines(t, ds,
		`{"id":"A","ids":{"phone":"pA"},"set":{"t":"a","n":1,"b":true},"add":{"s":["x"]},"events":[{"field":"e","value":"m","time":"2026-11-20"}]}`,
		`{"id":"B","ids":{"email":"eB","phone":"pB"},"set":{"t":"b","d":2.50},"add":{"s":["y"]},"events":[{"field":"e","value":"n","time":"2026-11-21"}]}`,
		`{"id":"C","ids":{"email":"eC"},"set":{"n":3,"dt":"2020-01-02"}}`,
		`{"id":"A","add":{"s":["z"]},"events":[{"field":"e","value":"m","time":"2026-11-19"}]}`, // not a single-valued write
	)
	if res.Created != 3 || res.Merged != 0 {
		t.Fatalf("created %d merged %d", res.Created, res.Merged)
	}
	// A (row 0, written by line 1) absorbs B (row 1, written by line 2):
	// B's single values win where both have one.
	res = applyLines(t, ds, `{"ids":{"phone":"pA","email":"eB"}}`)
	if res.Created != 0 || res.Merged != 1 {
		t.Fatalf("A+B: created %d merged %d", res.Created, res.Merged)
	}
	sn := ds.Snapshot()
	if sn.Profiles() != 2 || sn.Rows() != 3 || !slices.Equal(sn.All().ToArray(), []uint32{0, 2}) {
		t.Fatalf("A+B: %d profiles %v of %d rows", sn.Profiles(), sn.All().ToArray(), sn.Rows())
	}
	want := "t=[b] s=[x y z] b=true n=1 d=250 dt= e=m[" + fmt.Sprint(day(t, "2026-11-19"), " ", day(t, "2026-11-20")) + "]n[" + fmt.Sprint(day(t, "2026-11-21")) + "] e2= "
	if got := engineProfile(sn, 0); got != want {
		t.Fatalf("A+B:\n got %s\nwant %s", got, want)
	}
	if got := engineProfile(sn, 1); got != "t=[] s=[] b= n= d= dt= e= e2= " {
		t.Fatalf("B kept values: %s", got)
	}
	// B won the phone (written later), but the record named pA again:
	// pA is the latest. A had no email: it takes B's.
	latest(t, sn, 0, "phone", "pA")
	latest(t, sn, 0, "email", "eB")
	latest(t, sn, 1, "phone", "")
	// C (row 2, written by line 3: n after A's n of line 1) joins through
	// its id; C wins n. The email: eB was named by the A+B record, after
	// line 3 named eC, so eB stays the latest. The record names pB,
	// which becomes the latest phone, then sets t.
	res = applyLines(t, ds, `{"id":"C","ids":{"phone":"pB"},"set":{"t":"c"}}`)
	if res.Created != 0 || res.Merged != 1 {
		t.Fatalf("AB+C: created %d merged %d", res.Created, res.Merged)
	}
	sn = ds.Snapshot()
	want = "t=[c] s=[x y z] b=true n=3 d=250 dt=" + fmt.Sprint(day(t, "2020-01-02")) + " e=m[" + fmt.Sprint(day(t, "2026-11-19"), " ", day(t, "2026-11-20")) + "]n[" + fmt.Sprint(day(t, "2026-11-21")) + "] e2= "
	if got := engineProfile(sn, 0); got != want || sn.Profiles() != 1 {
		t.Fatalf("AB+C (%d profiles):\n got %s\nwant %s", sn.Profiles(), got, want)
	}
	latest(t, sn, 0, "phone", "pB")
	latest(t, sn, 0, "email", "eB")
	for _, id := range [][2]string{{"external", "A"}, {"external", "B"}, {"external", "C"}, {"phone", "pA"}, {"phone", "pB"}, {"email", "eB"}, {"email", "eC"}} {
		if r, ok := ds.Lookup(id[0], id[1]); !ok || r != 0 {
			t.Fatalf("lookup %v: row %d %v", id, r, ok)
		}
	}
	if rows, missing := ds.LookupRows([]string{"A", "B", "C", "D"}); !slices.Equal(rows.ToArray(), []uint32{0}) || missing != 1 {
		t.Fatalf("LookupRows: %v, %d missing", rows.ToArray(), missing)
	}
	ms, n := ds.Merges(0, 10)
	if n != 2 || len(ms) != 2 ||
		ms[0].Survivor != "A" || ms[0].Absorbed != "B" || ms[0].Via != "email:eB" || ms[0].Seq != 1 ||
		ms[1].Survivor != "A" || ms[1].Absorbed != "C" || ms[1].Via != "external:C" || ms[1].Seq != 2 {
		t.Fatalf("merge log %d: %+v", n, ms)
	}
	id, _ := ds.Identity(0)
	if !slices.Equal(id.IDs["external"], []string{"A", "B", "C"}) || !slices.Equal(id.IDs["phone"], []string{"pB", "pA"}) ||
		!slices.Equal(id.IDs["email"], []string{"eB", "eC"}) || len(id.Merges) != 2 {
		t.Fatalf("identity: %+v", id)
	}
	// ALL, NOT and counts range over the one profile left.
	for text, n := range map[string]uint64{"ALL": 1, "NOT t = 'a'": 1, "t = 'c'": 1, "t IS NULL": 0, "e() AT MOST 0 TIMES": 0, "NOT b": 0} {
		q, err := exec.Compile(sn, text, exec.Options{AnyValue: true})
		if err != nil {
			t.Fatal(err)
		}
		c, err := q.Count(context.Background())
		bm, _ := q.Bitmap(context.Background())
		if err != nil || c != n || bm.GetCardinality() != n {
			t.Fatalf("%s: count %d, bitmap %v, want %d (%v)", text, c, bm.ToArray(), n, err)
		}
	}
}

func day(t *testing.T, s string) schema.Day {
	t.Helper()
	d, err := schema.ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func latest(t *testing.T, sn *engine.Snapshot, row uint32, typ, want string) {
	t.Helper()
	got, ok := sn.Identity().AppendIdentifier(nil, typ, row)
	if string(got) != want || ok != (want != "") {
		t.Fatalf("row %d latest %s %q (%v), want %q", row, typ, got, ok, want)
	}
}

// TestMergeRulesEdges covers the cases of rows without a merge: a new id
// naming a known profile, a record without id, and a tie of write order.
func TestMergeRulesEdges(t *testing.T) {
	ds := newDataset(t)
	applyLines(t, ds,
		`{"id":"F","ids":{"phone":"pF","email":"eF"}}`,
		`{"id":"G","ids":{"phone":"pG"},"add":{"s":["y"]}}`,
		`{"id":"openid:o9","set":{"t":"a"}}`,
	)
	// pG was named after pF: it becomes the merged profile's latest phone
	// (the order of naming, not of writing values, decides identifiers).
	res := applyLines(t, ds, `{"id":"G","ids":{"email":"eF"}}`)
	sn := ds.Snapshot()
	if res.Merged != 1 || sn.Profiles() != 2 {
		t.Fatalf("F+G: merged %d, %d profiles", res.Merged, sn.Profiles())
	}
	latest(t, sn, 0, "phone", "pG")
	if r, ok := ds.Lookup("phone", "pG"); !ok || r != 0 {
		t.Fatalf("pG: %d %v", r, ok)
	}
	// A new id naming a known profile gets a row, absorbed at once: not
	// created, not a merge, not logged.
	res = applyLines(t, ds, `{"id":"H","ids":{"phone":"pG"},"set":{"n":7}}`)
	sn = ds.Snapshot()
	if res.Created != 0 || res.Merged != 0 || sn.Rows() != 4 || sn.Profiles() != 2 {
		t.Fatalf("H: created %d merged %d, %d rows %d profiles", res.Created, res.Merged, sn.Rows(), sn.Profiles())
	}
	if r, ok := ds.Lookup("external", "H"); !ok || r != 0 || sn.ExternalID(3) != "H" {
		t.Fatalf("H: %d %v %q", r, ok, sn.ExternalID(3))
	}
	if _, n := ds.Merges(0, 0); n != 1 {
		t.Fatalf("%d merges logged", n)
	}
	// Without id, unknown identifiers make a profile named by the first
	// in type order...
	res = applyLines(t, ds, `{"ids":{"phone":"pN","email":"eN"},"set":{"t":"b"}}`)
	sn = ds.Snapshot()
	if res.Created != 1 || sn.ExternalID(4) != "email:eN" {
		t.Fatalf("new by ids: created %d, id %q", res.Created, sn.ExternalID(4))
	}
	// ...or find the profile whose external id that already is.
	res = applyLines(t, ds, `{"ids":{"openid":"o9"},"set":{"b":true}}`)
	if r, ok := ds.Lookup("openid", "o9"); res.Created != 0 || !ok || r != 2 {
		t.Fatalf("openid:o9: created %d, row %d %v", res.Created, r, ok)
	}
	// The same through a merged-away external id: the survivor.
	res = applyLines(t, ds, `{"id":"phone:zz","ids":{"phone":"pF"}}`, `{"ids":{"phone":"zz"}}`)
	if r, ok := ds.Lookup("phone", "zz"); res.Created != 0 || !ok || r != 0 {
		t.Fatalf("phone:zz: created %d, row %d %v", res.Created, r, ok)
	}
}

// identityRun drives a dataset and the reference with random lines
// that carry identifiers from small pools.
type identityRun struct {
	*harness
}

func newIdentityRun(t *testing.T, seed uint64) identityRun {
	h := newHarness(t, seed)
	h.lines.IDs = 2
	return identityRun{h}
}

// TestIdentityAgainstReference applies random records naming 40 or 80
// profiles by id and by phones and emails, and compares the engine with
// the reference after every batch.
func TestIdentityAgainstReference(t *testing.T) {
	merges := 0
	for seed := uint64(1); seed <= 12; seed++ {
		r := newIdentityRun(t, seed)
		// 40 profiles merge into a handful within the run, 80 into
		// tens: long chains and many small merges.
		profiles := 40 + 40*int(seed%2)
		for round := range 40 {
			before := r.ref.Merged
			r.batch(1+r.rng.IntN(30), profiles)
			merges += r.ref.Merged - before
			if round%8 == 7 {
				r.clock.now = r.clock.now.Add(time.Duration(1+r.rng.IntN(20)) * 24 * time.Hour)
				r.ds.Expire()
				r.ref.Expire(r.today())
			}
			compareWithReference(t, fmt.Sprintf("seed %d round %d", seed, round), r.ds, r.ref)
		}
	}
	if merges < 500 {
		t.Fatalf("only %d merges", merges)
	}
}

// TestIdentityCheckpoint writes a checkpoint after merges, loads it, and
// checks that the loaded dataset is the same and goes on merging as the
// reference does: write stamps and latest identifiers were kept.
func TestIdentityCheckpoint(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		r := newIdentityRun(t, seed)
		for range 6 {
			r.batch(40, 40)
		}
		// Stamps decide a merge after the reload: X is written after Y,
		// then the two join.
		applyLines(t, r.ds, `{"id":"Y","ids":{"phone":"pY"},"set":{"t":"b","n":5}}`, `{"id":"X","ids":{"phone":"pX"},"set":{"t":"a"}}`)
		for _, line := range []string{`{"id":"Y","ids":{"phone":"pY"},"set":{"t":"b","n":5}}`, `{"id":"X","ids":{"phone":"pX"},"set":{"t":"a"}}`} {
			u, err := record.Decode([]byte(line), r.s)
			if err != nil {
				t.Fatal(err)
			}
			r.ref.Apply(u, r.today())
		}
		compareWithReference(t, "before", r.ds, r.ref)
		var cp memCheckpoint
		if err := r.ds.Snapshot().WriteCheckpoint(&cp); err != nil {
			t.Fatal(err)
		}
		ds2, err := engine.New(engine.Options{Clock: r.clock.Now}).LoadCheckpoint("copy", r.s, cp.reader())
		if err != nil {
			t.Fatal(err)
		}
		compareWithReference(t, "loaded", ds2, r.ref)
		r.ds = ds2
		line := `{"ids":{"phone":"pX","email":"eXY"}}`
		applyLines(t, ds2, `{"ids":{"phone":"pY","email":"eXY"}}`, line)
		for _, line := range []string{`{"ids":{"phone":"pY","email":"eXY"}}`, line} {
			u, _ := record.Decode([]byte(line), r.s)
			r.ref.Apply(u, r.today())
		}
		x, _ := ds2.Lookup("external", "X")
		if tf, _ := ds2.Snapshot().Field("t"); !tf.Values.Has(x, "a") {
			t.Fatalf("seed %d: X's later tag lost the merge after the reload", seed)
		}
		for round := range 10 {
			r.batch(30, 40)
			compareWithReference(t, fmt.Sprintf("seed %d after reload, round %d", seed, round), ds2, r.ref)
		}
	}
}

// TestMergesWhileReading merges profiles on one goroutine while others
// read snapshots: every snapshot must be consistent (no absorbed row in
// any index, counts adding up to Profiles) and must never change.
func TestMergesWhileReading(t *testing.T) {
	r := newIdentityRun(t, 5)
	r.batch(100, 60)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for range 80 {
			r.batch(20, 60)
		}
	}()
	errs := make(chan error, 4)
	var seqs sync.Map
	for k := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 5))
			type seen struct {
				sn *engine.Snapshot
				fp string
			}
			var kept []seen
			for i := 0; i < 400; i++ {
				select {
				case <-done:
					if i > 20 {
						i = 400
					}
				default:
				}
				sn := r.ds.Snapshot()
				seqs.Store(sn.Seq(), true)
				if err := mergeInvariants(sn); err != nil {
					errs <- err
					return
				}
				if err := checkInvariants(sn, rng); err != nil {
					errs <- err
					return
				}
				if i%10 == 0 {
					kept = append(kept, seen{sn, fingerprint(sn)})
				}
				if i%25 == 0 {
					for _, s := range kept {
						if fp := fingerprint(s.sn); fp != s.fp {
							errs <- fmt.Errorf("snapshot %d changed:\nwas %s\nnow %s", s.sn.Seq(), s.fp, fp)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, n := r.ds.Merges(0, 0); n < 50 {
		t.Fatalf("only %d merges", n)
	}
	n := 0
	seqs.Range(func(any, any) bool { n++; return true })
	t.Logf("readers saw %d snapshots", n)
}

// mergeInvariants checks one snapshot: All and Profiles agree, no index
// holds a row outside All, tag counts and IS NULL add up to Profiles,
// queries and their negations partition the profiles, and Canonical of
// every row is All.
func mergeInvariants(sn *engine.Snapshot) error {
	all := sn.All()
	if all.GetCardinality() != sn.Profiles() {
		return fmt.Errorf("seq %d: all %d, profiles %d", sn.Seq(), all.GetCardinality(), sn.Profiles())
	}
	for _, f := range sn.Fields() {
		if ex := f.Exists(); ex.AndCardinality(all) != ex.GetCardinality() {
			return fmt.Errorf("seq %d: field %s holds absorbed rows", sn.Seq(), f.Field.Name)
		}
	}
	tag, _ := sn.Field("t")
	sum := roaring.AndNot(all, tag.Exists()).GetCardinality()
	for _, v := range tag.Values.Values() {
		sum += tag.Values.Count(v)
	}
	if sum != sn.Profiles() {
		return fmt.Errorf("seq %d: tag values and IS NULL count %d, profiles %d", sn.Seq(), sum, sn.Profiles())
	}
	every := roaring.New()
	every.AddRange(0, uint64(sn.Rows()))
	if !sn.Canonical(every).Equals(all) {
		return fmt.Errorf("seq %d: canonical rows are not all profiles", sn.Seq())
	}
	for _, text := range []string{"t = 'a'", "n > 100 OR s HAS 'x'", "e() AT LEAST 2 TIMES IN LAST 10 DAYS"} {
		var n [2]uint64
		for i, q := range []string{text, "NOT (" + text + ")"} {
			c, err := exec.Compile(sn, q, exec.Options{AnyValue: true})
			if err != nil {
				return err
			}
			if n[i], err = c.Count(context.Background()); err != nil {
				return err
			}
		}
		if n[0]+n[1] != sn.Profiles() {
			return fmt.Errorf("seq %d: %s counts %d and its negation %d, profiles %d", sn.Seq(), text, n[0], n[1], sn.Profiles())
		}
	}
	return nil
}

// fingerprint sums up a snapshot: its profiles, tag counts and every
// row's root and latest identifiers.
func fingerprint(sn *engine.Snapshot) string {
	var b []byte
	b = fmt.Appendf(b, "%d %d %v ", sn.Profiles(), sn.Rows(), sn.All().ToArray())
	tag, _ := sn.Field("t")
	for _, v := range tag.Values.Values() {
		b = fmt.Appendf(b, "%s:%d ", v, tag.Values.Count(v))
	}
	for row := range sn.Rows() {
		b = fmt.Appendf(b, "%d>%d", row, sn.Identity().Root(row))
		for _, typ := range identTypes {
			b = append(b, ',')
			b, _ = sn.Identity().AppendIdentifier(b, typ, row)
		}
		b = append(b, ' ')
	}
	return string(b)
}

// TestMergeAllOrNothing checks that a record refused whole changes no
// identity: no merge, no identifier, no row.
func TestMergeAllOrNothing(t *testing.T) {
	ds := newDataset(t)
	applyLines(t, ds, `{"id":"A","ids":{"phone":"p1"},"set":{"t":"a"}}`, `{"id":"B","ids":{"email":"e1"},"set":{"t":"b"}}`)
	before := fingerprint(ds.Snapshot())
	check := func(what string) {
		t.Helper()
		sn := ds.Snapshot()
		if fp := fingerprint(sn); fp != before {
			t.Fatalf("%s changed the dataset:\nwas %s\nnow %s", what, before, fp)
		}
		if _, n := ds.Merges(0, 0); n != 0 {
			t.Fatalf("%s logged a merge", what)
		}
		for _, id := range [][2]string{{"phone", "p2"}, {"email", "e2"}, {"external", "C"}, {"external", "email:e2"}} {
			if _, ok := ds.Lookup(id[0], id[1]); ok {
				t.Fatalf("%s left identifier %v", what, id)
			}
		}
	}
	// Refused by decoding: a bad field, a bad value, a bad identifier.
	for _, line := range []string{
		`{"ids":{"phone":"p1","email":"e1"},"set":{"nope":1}}`,
		`{"id":"C","ids":{"phone":"p1","email":"e1"},"set":{"n":1000}}`,
		`{"ids":{"phone":"p1","email":"e1","Bad":"x"}}`,
		`{"ids":{"phone":"p2","email":""}}`,
	} {
		res, err := ds.ApplyNDJSON(strings.NewReader(line), engine.LoadOptions{})
		if err != nil || len(res.Errors) != 1 || res.Applied != 0 {
			t.Fatalf("%s: %v %+v", line, err, res)
		}
		check(line)
	}
	// Refused by the dataset: updates that decode but do not fit. A
	// record without id naming only an unknown identifier of 1,020 bytes
	// would need the external id "phone:" + value, longer than an id may
	// be.
	long := strings.Repeat("x", 1020)
	res, err := ds.ApplyNDJSON(strings.NewReader(`{"ids":{"phone":"`+long+`"},"set":{"t":"a"}}`), engine.LoadOptions{})
	if err != nil || len(res.Errors) != 1 || res.Applied != 0 {
		t.Fatalf("long identifier: %v %+v", err, res)
	}
	check("a new profile whose external id would be too long")
	if _, ok := ds.Lookup("phone", long); ok {
		t.Fatal("the long identifier was attached")
	}
	s := ds.Schema()
	e, _ := s.Index("e")
	bad := []record.Update{
		{ID: "C", IDs: []record.Identifier{{Type: "email", Value: "e1"}, {Type: "phone", Value: "p1"}}, Set: []record.Assign{{Field: e}}},
		{IDs: []record.Identifier{{Type: "email", Value: "e2"}, {Type: "phone", Value: "p1"}}, Add: []record.SetChange{{Field: e, Values: []string{"x"}}}},
		{ID: "A", IDs: []record.Identifier{{Type: "email", Value: "e1"}}, Set: []record.Assign{{Field: 99}}},
	}
	res = ds.Apply(bad)
	if len(res.Errors) != len(bad) || res.Applied != 0 || res.Merged != 0 {
		t.Fatalf("bad updates: %+v", res)
	}
	check("refused updates")
	// Too many identifier types: the record that would add the 65th is
	// refused before its merge.
	var many []record.Update
	for i := range identity.MaxTypes - 2 {
		many = append(many, record.Update{ID: "A", IDs: []record.Identifier{{Type: fmt.Sprintf("k%02d", i), Value: "v"}}})
	}
	if res := ds.Apply(many); len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	before = fingerprint(ds.Snapshot())
	res = ds.Apply([]record.Update{{IDs: []record.Identifier{{Type: "email", Value: "e1"}, {Type: "phone", Value: "p1"}, {Type: "zz", Value: "v"}}}})
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Err.Error(), "identifier types") {
		t.Fatalf("65 types: %+v", res)
	}
	check("a 65th identifier type")
}
