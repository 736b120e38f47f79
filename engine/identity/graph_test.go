package identity

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func attach(t *testing.T, g *Graph, typ, value string, row uint32) {
	t.Helper()
	if err := g.CheckTypes(typ); err != nil {
		t.Fatal(err)
	}
	g.Tick() // as a record naming the identifier does
	if err := g.Attach(typ, value, row); err != nil {
		t.Fatal(err)
	}
}

func latestOf(v *View, typ string, row uint32) string {
	b, ok := v.AppendIdentifier(nil, typ, row)
	if !ok {
		return "-"
	}
	return string(b)
}

func TestAttachLookupAndLatest(t *testing.T) {
	g := New()
	attach(t, g, "phone", "p0", 0)
	attach(t, g, "phone", "p1", 0)
	attach(t, g, "email", "e0", 0)
	attach(t, g, "phone", "q", 1)
	if got := g.Types(); !slices.Equal(got, []string{"email", "phone"}) {
		t.Fatalf("types %v", got)
	}
	for _, c := range []struct {
		typ, val string
		row      uint32
		ok       bool
	}{{"phone", "p0", 0, true}, {"phone", "p1", 0, true}, {"email", "e0", 0, true}, {"phone", "q", 1, true}, {"phone", "e0", 0, false}, {"openid", "p0", 0, false}} {
		if r, ok := g.Lookup(c.typ, c.val); ok != c.ok || (ok && r != c.row) {
			t.Fatalf("lookup %s %s: %d %v", c.typ, c.val, r, ok)
		}
	}
	// The latest attached is the one emitted; re-attaching promotes.
	if v := g.View(); latestOf(v, "phone", 0) != "p1" || latestOf(v, "email", 0) != "e0" || latestOf(v, "email", 1) != "-" {
		t.Fatalf("latest %s %s %s", latestOf(v, "phone", 0), latestOf(v, "email", 0), latestOf(v, "email", 1))
	}
	attach(t, g, "phone", "p0", 0)
	if v := g.View(); latestOf(v, "phone", 0) != "p0" {
		t.Fatalf("re-attached p0 is not latest: %s", latestOf(v, "phone", 0))
	}
	if got := g.Identifiers(0); !slices.Equal(got["phone"], []string{"p0", "p1"}) || !slices.Equal(got["email"], []string{"e0"}) {
		t.Fatalf("identifiers %v", got)
	}
	// Someone else's identifier, an empty or too long value: refused,
	// and nothing changes (no type is created by a refused value).
	if err := g.Attach("phone", "q", 0); err == nil {
		t.Fatal("attached row 1's identifier to row 0")
	}
	for _, bad := range []string{"", strings.Repeat("x", 2000)} {
		if err := g.Attach("openid", bad, 0); err == nil {
			t.Fatalf("attached %q", bad)
		}
	}
	if got := g.Types(); !slices.Equal(got, []string{"email", "phone"}) {
		t.Fatalf("a refused attach left types %v", got)
	}
	if g.Len()["phone"] != 3 || g.Len()["email"] != 1 {
		t.Fatalf("len %v", g.Len())
	}
}

func TestCheckTypes(t *testing.T) {
	g := New()
	for _, bad := range []string{"", "External", "external", "1a", "a-b", strings.Repeat("a", 33)} {
		if g.CheckTypes(bad) == nil {
			t.Fatalf("type %q accepted", bad)
		}
	}
	for i := range MaxTypes {
		attach(t, g, fmt.Sprintf("t%02d", i), "v", 0)
	}
	if g.CheckTypes("t00", "t63") != nil {
		t.Fatal("existing types refused")
	}
	if g.CheckTypes("t00", "new") == nil {
		t.Fatal("a 65th type accepted")
	}
}

func TestAbsorb(t *testing.T) {
	g := New()
	attach(t, g, "phone", "a", 0)
	attach(t, g, "phone", "b", 1)
	attach(t, g, "email", "eb", 1)
	attach(t, g, "phone", "c", 2)
	attach(t, g, "email", "ec", 2)
	attach(t, g, "openid", "oc", 2)
	touch(g, 0)
	touch(g, 1) // 1 is written after 0
	if !g.Newer(1, 0, 0) || g.Newer(0, 1, 0) || g.Newer(2, 3, 0) || g.Newer(3, 2, 0) {
		t.Fatal("write order")
	}
	// 1 into 0, 1 newer: its phone becomes 0's latest; 0 had no email.
	g.Absorb(1, 0, at, "email:eb")
	v := g.View()
	if latestOf(v, "phone", 0) != "b" || latestOf(v, "email", 0) != "eb" || latestOf(v, "phone", 1) != "-" {
		t.Fatalf("after 1→0: phone %s email %s", latestOf(v, "phone", 0), latestOf(v, "email", 0))
	}
	if g.Root(1) != 0 || !g.Absorbed(1) || g.Absorbed(0) || g.Root(0) != 0 {
		t.Fatal("root after 1→0")
	}
	if r, ok := g.Lookup("phone", "b"); !ok || r != 0 {
		t.Fatal("lookup b")
	}
	// 0 now carries 1's stamp: newer than 2 (never written).
	if !g.Newer(0, 2, 0) {
		t.Fatal("the survivor did not take the absorbed row's stamp")
	}
	// 2 into 0: 2's phone and email were named after 0's, so they become
	// 0's latest; 0 takes 2's openid.
	g.Absorb(2, 0, at, "phone:c")
	v = g.View()
	if latestOf(v, "phone", 0) != "c" || latestOf(v, "email", 0) != "ec" || latestOf(v, "openid", 0) != "oc" {
		t.Fatalf("after 2→0: %v", g.Identifiers(0))
	}
	ids := g.Identifiers(0)
	for typ, want := range map[string][]string{"phone": {"a", "b", "c"}, "email": {"eb", "ec"}, "openid": {"oc"}} {
		if got := slices.Sorted(slices.Values(ids[typ])); !slices.Equal(got, want) {
			t.Fatalf("%s: %v, want %v", typ, got, want)
		}
	}
	if got := g.Group(0); !slices.Equal(got, []uint32{1, 2}) {
		t.Fatalf("group %v", got)
	}
	// A survivor absorbed in turn re-points its whole group.
	attach(t, g, "phone", "z", 5)
	g.Absorb(0, 5, at, "phone:z")
	for _, r := range []uint32{0, 1, 2} {
		if g.Root(r) != 5 {
			t.Fatalf("row %d root %d", r, g.Root(r))
		}
	}
	for _, id := range []string{"a", "b", "c", "z"} {
		if r, ok := g.Lookup("phone", id); !ok || r != 5 {
			t.Fatalf("lookup %s: %d %v", id, r, ok)
		}
	}
	if g.Group(0) != nil || !slices.Equal(g.Group(5), []uint32{0, 1, 2}) {
		t.Fatalf("groups %v %v", g.Group(0), g.Group(5))
	}
	if !g.Newer(5, 3, 0) {
		t.Fatal("stamp did not follow the chain")
	}
	v = g.View()
	if latestOf(v, "phone", 5) != "z" || latestOf(v, "email", 5) != "ec" || v.Merged().GetCardinality() != 3 {
		t.Fatalf("after 0→5: %v", g.Identifiers(5))
	}
	// A silent absorb (a new id's row) is not logged.
	g.Absorb(6, 5, at, "")
	ms, n := g.Merges(0, 10)
	if n != 3 || ms[0].Absorbed != 1 || ms[1].Via != "phone:c" || ms[2].Survivor != 5 || ms[2].Absorbed != 0 {
		t.Fatalf("log %d %+v", n, ms)
	}
	if got := g.MergesOf(5); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("merges of 5: %v", got)
	}
	if ms, n := g.Merges(2, 5); n != 3 || len(ms) != 1 {
		t.Fatalf("page: %d %v", n, ms)
	}
	if ms, _ := g.Merges(-3, -1); len(ms) != 0 {
		t.Fatalf("negative page: %v", ms)
	}
}

// TestRebase renumbers stamps directly: the order of written rows is
// kept, and a written row stays newer than one never written, even when
// no row of a page was left unwritten.
func TestRebase(t *testing.T) {
	g := New()
	// Rows 0..1023 fill page 0, every one written (row 0 newest); rows
	// from 1024 on never were.
	base := uint32(3_000_000_000)
	for r := range uint32(pageSize) {
		g.stamps.set(r, base+uint32(pageSize)-r)
	}
	g.clock = base + pageSize
	g.rebase()
	if g.clock > pageSize+1 {
		t.Fatalf("clock %d after rebase", g.clock)
	}
	for r := uint32(1); r < pageSize; r++ {
		if !g.Newer(r-1, r, 0) {
			t.Fatalf("row %d is not newer than row %d after rebase", r-1, r)
		}
	}
	for _, r := range []uint32{0, pageSize - 1} {
		if !g.Newer(r, 5000, 0) || g.Newer(5000, r, 0) {
			t.Fatalf("written row %d is not newer than row 5000, never written", r)
		}
	}
	// Touch after a rebase is newest; the overflow path rebases by itself.
	touch(g, 2000)
	if !g.Newer(2000, 0, 0) || g.Newer(0, 2000, 0) {
		t.Fatal("touch after rebase")
	}
	g.clock = ^uint32(0)
	touch(g, 9)
	if g.clock > pageSize+3 || !g.Newer(9, 2000, 0) || !g.Newer(2000, 0, 0) || !g.Newer(1022, 1023, 0) || !g.Newer(1023, 5000, 0) || g.Newer(5000, 3000, 0) {
		t.Fatalf("overflow: clock %d", g.clock)
	}
}

// fingerprint renders everything a view answers for rows below n.
func fingerprint(v *View, n uint32) string {
	var b strings.Builder
	fmt.Fprint(&b, v.Types(), v.Merged().ToArray(), v.clock, len(v.log), v.log)
	for r := range n {
		fmt.Fprintf(&b, " %d>%d:%d", r, v.Root(r), v.stamps.get(r))
		for _, typ := range v.Types() {
			b.WriteString("," + latestOf(v, typ, r))
		}
	}
	return b.String()
}

func TestViewIsImmutable(t *testing.T) {
	g := New()
	rng := rand.New(rand.NewPCG(1, 2))
	const rows = 3000
	type kept struct {
		v  *View
		fp string
	}
	var views []kept
	live := []uint32{}
	for r := range uint32(rows) {
		live = append(live, r)
	}
	for step := range 3000 {
		r := live[rng.IntN(len(live))]
		switch rng.IntN(4) {
		case 0:
			touch(g, r)
		case 1, 2:
			typ := []string{"phone", "email", "openid"}[rng.IntN(3)]
			val := fmt.Sprint(rng.IntN(5000))
			if o, ok := g.Lookup(typ, val); ok {
				r = o
			}
			attach(t, g, typ, val, r)
		default:
			if len(live) > 10 {
				i := rng.IntN(len(live))
				from := live[i]
				to := live[rng.IntN(len(live))]
				if from != to {
					g.Absorb(from, to, at, "x:y")
					live = slices.Delete(live, i, i+1)
				}
			}
		}
		if step%100 == 0 {
			v := g.View()
			if g.View() != v {
				t.Fatal("an unchanged graph published a new view")
			}
			views = append(views, kept{v, fingerprint(v, rows)})
		}
	}
	for i, k := range views {
		if fp := fingerprint(k.v, rows); fp != k.fp {
			t.Fatalf("view %d changed after later writes", i)
		}
	}
}

// checkpoint writes g's view as key/value pairs.
func checkpoint(t *testing.T, g *Graph, rows uint32) ([]string, map[string][]byte) {
	t.Helper()
	var keys []string
	vals := map[string][]byte{}
	err := g.View().WriteCheckpoint(rows, func(k string, _ any, encode func() ([]byte, error)) error {
		if len(keys) > 0 && k <= keys[len(keys)-1] {
			t.Fatalf("key %s after %s", k, keys[len(keys)-1])
		}
		v, err := encode()
		if err != nil {
			return err
		}
		keys = append(keys, k)
		vals[k] = slices.Clone(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys, vals
}

// legacy rewrites a checkpoint in the earlier layout: no l/ chunks, and
// identifier chunks under t/ with a latest flag after each row.
func legacy(t *testing.T, keys []string, vals map[string][]byte) ([]string, map[string][]byte) {
	t.Helper()
	latest := map[string]map[uint64]uint32{} // type → row → 1 + index
	var out []string
	lv := map[string][]byte{}
	for _, k := range keys {
		v := vals[k]
		switch {
		case strings.HasPrefix(k, "l/"):
			name, cs, _ := strings.Cut(k[2:], "/")
			c, _ := chunkOf(cs)
			if latest[name] == nil {
				latest[name] = map[uint64]uint32{}
			}
			for i := 0; i < len(v); i += 4 {
				latest[name][c*rowChunk+uint64(i/4)] = binary.LittleEndian.Uint32(v[i:])
			}
		case strings.HasPrefix(k, "u/"):
			name, cs, _ := strings.Cut(k[2:], "/")
			c, _ := chunkOf(cs)
			r := &reader{b: v}
			var b []byte
			for i := c * rowChunk; len(r.b) > 0; i++ {
				id, row, at := r.str(), r.uvarint(), r.uvarint()
				if r.err != nil {
					t.Fatal(r.err)
				}
				b = binary.AppendUvarint(b, uint64(len(id)))
				b = append(b, id...)
				b = binary.AppendUvarint(b, row)
				flag := byte(0)
				if latest[name][row] == uint32(i)+1 {
					flag = 1
				}
				b = append(b, flag)
				b = binary.AppendUvarint(b, at)
			}
			nk := "t/" + k[2:]
			out = append(out, nk)
			lv[nk] = b
		default:
			out = append(out, k)
			lv[k] = v
		}
	}
	slices.Sort(out)
	return out, lv
}

func load(keys []string, vals map[string][]byte, rows uint32) (g *Graph, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("PANIC: %v", r)
		}
	}()
	l := NewLoader(rows)
	for _, k := range keys {
		if err := l.Load(k, vals[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	if err := l.Finish(); err != nil {
		return nil, err
	}
	return l.G, nil
}

// sample builds a graph with merges, stamps and identifiers of two types
// over rows rows.
func sample(t *testing.T, rows uint32) *Graph {
	g := New()
	rng := rand.New(rand.NewPCG(3, 4))
	for r := range rows {
		attach(t, g, "phone", fmt.Sprint("p", r), r)
		if r%3 == 0 {
			attach(t, g, "email", fmt.Sprint("e", r), r)
		}
		if rng.IntN(2) == 0 {
			touch(g, r)
		}
	}
	for r := uint32(1); r < rows; r += 4 {
		g.Absorb(r, g.Root(r-1), at, fmt.Sprint("phone:p", r))
	}
	attach(t, g, "phone", "again", 0)
	return g
}

func TestCheckpointRoundTrip(t *testing.T) {
	const rows = 200
	g := sample(t, rows)
	keys, vals := checkpoint(t, g, rows)
	g2, err := load(keys, vals, rows)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fingerprint(g.View(), rows), fingerprint(g2.View(), rows); a != b {
		t.Fatalf("loaded graph differs:\n%s\n%s", a, b)
	}
	// A checkpoint of the earliest layout (clock without the exact flag)
	// loads, as not exact.
	if g.View().exact {
		t.Fatal("sample graph is exact; the test wants a graph that is not")
	}
	old := maps.Clone(vals)
	old["c"] = old["c"][:4]
	if g4, err := load(keys, old, rows); err != nil || g4.exact {
		t.Fatalf("4-byte clock: %v (exact %v)", err, err == nil && g4.exact)
	}
	// A checkpoint of the earlier layout loads to the same graph.
	lk, lv := legacy(t, keys, vals)
	g3, err := load(lk, lv, rows)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fingerprint(g.View(), rows), fingerprint(g3.View(), rows); a != b {
		t.Fatalf("graph loaded from the earlier layout differs:\n%s\n%s", a, b)
	}
	for r := range uint32(rows) {
		a, b := g.Identifiers(r), g2.Identifiers(r)
		for typ := range a {
			if !slices.Equal(slices.Sorted(slices.Values(a[typ])), slices.Sorted(slices.Values(b[typ]))) || a[typ][0] != b[typ][0] {
				t.Fatalf("row %d %s: %v vs %v", r, typ, a[typ], b[typ])
			}
		}
		if len(a) != len(b) || !slices.Equal(g.Group(r), g2.Group(r)) {
			t.Fatalf("row %d: %v %v vs %v %v", r, a, g.Group(r), b, g2.Group(r))
		}
	}
	// The loaded graph goes on as the original does.
	for _, x := range []*Graph{g, g2} {
		touch(x, 8)
		x.Absorb(8, 4, at, "phone:p8")
		attach(t, x, "phone", "late", 4)
	}
	if a, b := fingerprint(g.View(), rows), fingerprint(g2.View(), rows); a != b {
		t.Fatalf("graphs differ after more writes:\n%s\n%s", a, b)
	}
	k2, v2 := checkpoint(t, g2, rows)
	k1, v1 := checkpoint(t, g, rows)
	if !slices.Equal(k1, k2) {
		t.Fatalf("keys differ: %v vs %v", k1, k2)
	}
	for _, k := range k1 {
		if !strings.HasPrefix(k, "u/") && string(v1[k]) != string(v2[k]) {
			t.Fatalf("%s differs", k)
		}
	}
}

// TestCheckpointLoadErrors damages checkpoints of the earlier layout,
// which carries more of its checks (the latest flag); the current one's
// own checks are in TestCheckpointLoadErrorsLatest.
func TestCheckpointLoadErrors(t *testing.T) {
	const rows = 200
	g := sample(t, rows)
	keys, vals := checkpoint(t, g, rows)
	keys, vals = legacy(t, keys, vals)
	if !slices.Contains(keys, "t/phone/00000000") || !slices.Contains(keys, "p/00000000") || !slices.Contains(keys, "m/00000000") || !slices.Contains(keys, "s/00000000") {
		t.Fatalf("keys %v", keys)
	}
	with := func(key string, v []byte) map[string][]byte {
		m := maps.Clone(vals)
		m[key] = v
		return m
	}
	phone := vals["t/phone/00000000"]
	// The first identifier: uvarint length 2 ("p0"), the value, uvarint
	// row 0, flag, uvarint stamp.
	if phone[0] != 2 || string(phone[1:3]) != "p0" || phone[3] != 0 || phone[4] > 1 {
		t.Fatalf("unexpected layout % x", phone[:8])
	}
	_, k := binary.Uvarint(phone[5:])
	dup := append(slices.Clone(phone), phone[:5+k]...)
	dup[len(phone)+4] = 0
	beyond := slices.Concat([]byte{2, 'z', 'z', 0x80, 0x10, 0, 0}, phone) // row 2048
	flag := slices.Clone(phone)
	flag[4] = 2
	for _, c := range []struct {
		name, key string
		val       []byte
		rows      uint32
		want      string
	}{
		{"truncated identifiers", "t/phone/00000000", phone[:len(phone)-1], rows, "truncated"},
		{"truncated string", "t/phone/00000000", []byte{9, 'a'}, rows, "truncated"},
		{"no flag", "t/phone/00000000", phone[:4], rows, "flag"},
		{"bad flag", "t/phone/00000000", flag, rows, "flag"},
		{"duplicate identifier", "t/phone/00000000", dup, rows, "twice"},
		{"row beyond rows", "t/phone/00000000", beyond, rows, "beyond"},
		{"rows fewer than merges", "", nil, 100, "beyond"},
		{"truncated merges", "m/00000000", vals["m/00000000"][:len(vals["m/00000000"])-2], rows, "truncated"},
		{"merge of a row beyond", "m/00000000", []byte{0, 0x80, 0x10, 1, 0}, rows, "beyond"},
		{"truncated parents", "p/00000000", vals["p/00000000"][:1], rows, "truncated"},
		{"absorbed by itself", "p/00000000", []byte{5, 5}, rows, "itself"},
		{"parent beyond", "p/00000000", []byte{5, 0x80, 0x10}, rows, "beyond"},
		{"offset beyond chunk", "p/00000000", []byte{0x80, 0x80, 0x04, 1}, rows, "beyond its chunk"},
		{"bad clock", "c", []byte{1, 2, 3}, rows, "clock"},
		{"clock behind stamps", "c", []byte{0, 0, 0, 1, 0}, rows, "ahead of the clock"},
		{"absorbed twice", "p/00000000", append(slices.Clone(vals["p/00000000"]), vals["p/00000000"][:2]...), rows, "twice"},
		{"odd stamps", "s/00000000", []byte{1, 2, 3}, rows, "do not fit"},
		{"absorbed into an absorbed row", "p/00000000", []byte{1, 0, 0, 2}, rows, "itself absorbed"},
		{"identifier of an absorbed row", "p/00000000", append(slices.Clone(vals["p/00000000"]), 0x7f, 0), rows, "absorbed row"},
	} {
		v := vals
		if c.key != "" {
			v = with(c.key, c.val)
		}
		r := c.rows
		_, err := load(keys, v, r)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "PANIC") {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	for _, bad := range [][]string{{"x"}, {"t/Phone/00000000"}, {"t/phone"}, {"t/phone/1"}, {"m/00000001"}, {"p/zzzzzzzz"}} {
		if _, err := load(bad, map[string][]byte{bad[0]: {0}}, rows); err == nil || strings.Contains(err.Error(), "PANIC") {
			t.Errorf("key %s: %v", bad[0], err)
		}
	}
	randomDamage(t, keys, vals, rows)
}

// randomDamage damages one value at a time: an error or a graph, never a
// panic.
func randomDamage(t *testing.T, keys []string, vals map[string][]byte, rows uint32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		k := keys[rng.IntN(len(keys))]
		v := slices.Clone(vals[k])
		switch rng.IntN(3) {
		case 0:
			if len(v) > 0 {
				v[rng.IntN(len(v))] ^= byte(1 + rng.IntN(255))
			}
		case 1:
			v = v[:rng.IntN(len(v)+1)]
		default:
			v = make([]byte, rng.IntN(40))
			for i := range v {
				v[i] = byte(rng.IntN(256))
			}
		}
		m := maps.Clone(vals)
		m[k] = v
		if _, err := load(keys, m, rows); err != nil && strings.Contains(err.Error(), "PANIC") {
			t.Fatalf("damage to %s: %v", k, err)
		}
	}
}

func TestCheckpointLoadErrorsLatest(t *testing.T) {
	const rows = 200
	g := sample(t, rows)
	keys, vals := checkpoint(t, g, rows)
	for _, k := range []string{"l/phone/00000000", "l/email/00000000", "u/phone/00000000"} {
		if !slices.Contains(keys, k) {
			t.Fatalf("no %s in %v", k, keys)
		}
	}
	latest := vals["l/phone/00000000"]
	swap := slices.Clone(latest) // rows 0 and 2 name each other's latest
	copy(swap[0:4], latest[8:12])
	copy(swap[8:12], latest[0:4])
	beyond := slices.Clone(latest)
	binary.LittleEndian.PutUint32(beyond[8:], 1<<20)
	for _, c := range []struct {
		name, key string
		val       []byte
		want      string
	}{
		{"another row's identifier", "l/phone/00000000", swap, "not one of its own"},
		{"an identifier beyond the dictionary", "l/phone/00000000", beyond, "not one of its own"},
		{"odd latest chunk", "l/phone/00000000", latest[:5], "do not fit"},
		{"a row with identifiers and no latest", "l/phone/00000000", make([]byte, len(latest)), "no latest"},
	} {
		m := maps.Clone(vals)
		m[c.key] = c.val
		if _, err := load(keys, m, rows); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "PANIC") {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	// Latest chunks after the identifiers they name are refused: the
	// stream is in key order, and identifiers read before it would be
	// taken for older ones.
	late := append(slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "l/phone/00000000" }), "l/phone/00000000")
	if _, err := load(late, vals, rows); err == nil || !strings.Contains(err.Error(), "after its identifiers") {
		t.Errorf("latest after identifiers: %v", err)
	}
	randomDamage(t, keys, vals, rows)
}

// touch starts a record writing field 0 of row.
func touch(g *Graph, row uint32) {
	g.Tick()
	g.Touch(row, []int{0})
}

// TestCheckpointTokens: across checkpoints of a graph that keeps changing,
// a value whose token is unchanged has unchanged bytes (what lets a store
// skip it), and changes confined to the second row chunk leave the
// first's row values with their tokens.
func TestCheckpointTokens(t *testing.T) {
	const rows = 3 * rowChunk / 2 // two row chunks, the second partial
	g := New()
	rng := rand.New(rand.NewPCG(9, 10))
	type stored struct {
		token any
		bytes []byte
	}
	prev := map[string]stored{}
	for round := range 12 {
		// A burst over all rows in the first rounds, then a few changes
		// to rows of the second chunk that were never merged (a merge
		// re-points the rows absorbed before, wherever they are).
		n, lo := 3000, uint32(0)
		if round >= 2 {
			n, lo = 40, rowChunk
		}
		for range n {
			r := lo + uint32(rng.IntN(int(rows-lo)))
			if g.Absorbed(r) || (round >= 2 && len(g.Group(r)) > 1) {
				continue
			}
			switch rng.IntN(4) {
			case 0, 1:
				attach(t, g, "phone", fmt.Sprint("p", rng.IntN(1<<30)), r)
			case 2:
				touch(g, r)
			default:
				s := lo + uint32(rng.IntN(int(rows-lo)))
				if s != r && !g.Absorbed(s) && (round < 2 || len(g.Group(s)) <= 1) {
					g.Absorb(r, s, at, "phone:x")
				}
			}
		}
		next := map[string]stored{}
		err := g.View().WriteCheckpoint(rows, func(k string, token any, encode func() ([]byte, error)) error {
			v, err := encode()
			if err != nil {
				return err
			}
			p, ok := prev[k]
			kept := ok && token != nil && p.token == token
			if kept && string(p.bytes) != string(v) {
				t.Fatalf("round %d: %s has its previous token but other bytes", round, k)
			}
			rowValue := strings.HasPrefix(k, "f/") || strings.HasPrefix(k, "l/") || strings.HasPrefix(k, "p/") || strings.HasPrefix(k, "s/")
			if round >= 3 && rowValue && strings.HasSuffix(k, "/00000000") && !kept {
				t.Fatalf("round %d: %s of the unchanged chunk lost its token", round, k)
			}
			next[k] = stored{token, slices.Clone(v)}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		prev = next
	}
}
