package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/storage"
)

// mergeSchema is the schema of the merge crash test: a tag whose
// conflicts merges settle and a set whose values merges union, one value
// per original profile, so a half-moved profile shows.
const mergeSchema = `{"fields":[{"name":"tier","type":"tag"},{"name":"marks","type":"set"}]}`

// TestKillDuringMerges kills 'cohort serve' with SIGKILL while records
// that merge profiles stream in, and checks after every kill that each
// acknowledged merge holds and that every profile is whole: exactly the
// external ids, phones and set values of the original profiles merged
// into it, as if the records up to some point after the acknowledged
// ones had applied one by one.
func TestKillDuringMerges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it")
	}
	const (
		profiles = 1500
		edges    = 1200
		batch    = 20
		kills    = 10
	)
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	var base [][]byte
	for i := range profiles {
		base = append(base, fmt.Appendf(nil, `{"id":"u%d","ids":{"phone":"p%d"},"set":{"tier":"t%d"},"add":{"marks":["m%d"]}}`+"\n", i, i, i%7, i))
	}
	// Edge j names profile a by its external id and profile b by its
	// phone (which, once merged, finds b's survivor), and adds an email.
	rng := rand.New(rand.NewPCG(5, 9))
	type edge struct{ a, b int }
	var es []edge
	var lines [][]byte
	for j := range edges {
		e := edge{rng.IntN(profiles), rng.IntN(profiles)}
		es = append(es, e)
		lines = append(lines, fmt.Appendf(nil, `{"id":"u%d","ids":{"phone":"p%d","email":"e%d"}}`+"\n", e.a, e.b, j))
	}
	edgeA := func(j int) int { return es[j].a }
	// groups returns, per original profile, the lowest profile of its
	// group once the first k edges applied: the survivor's row, since
	// rows follow the profiles' order.
	groups := func(k int) []int {
		parent := make([]int, profiles)
		for i := range parent {
			parent[i] = i
		}
		var find func(int) int
		find = func(x int) int {
			for parent[x] != x {
				x = parent[x]
			}
			return x
		}
		for _, e := range es[:k] {
			ra, rb := find(e.a), find(e.b)
			parent[max(ra, rb)] = min(ra, rb)
		}
		out := make([]int, profiles)
		for i := range out {
			out[i] = find(i)
		}
		return out
	}

	p := startServe(t, bin, data)
	if code, body, err := httpDo("PUT", p.base+"/v1/datasets/m", "application/json", []byte(mergeSchema)); err != nil || code != 201 {
		t.Fatalf("create: %d %s %v", code, body, err)
	}
	if code, body, err := httpDo("POST", p.base+"/v1/datasets/m/ingest", "application/x-ndjson", slices.Concat(base...)); err != nil || code != 200 {
		t.Fatalf("ingest profiles: %d %s %v", code, body, err)
	}
	crng := rand.New(rand.NewPCG(13, 17))
	durable := 0
	for cycle := 0; ; cycle++ {
		if cycle > 0 {
			p = startServe(t, bin, data)
		}
		// Kill only while enough lines remain for the kill to land
		// mid-stream.
		kill := cycle < kills && len(lines)-durable > 12*batch
		armAfter := 1 + crng.IntN(4)
		delay := time.Duration(crng.IntN(2000)) * time.Microsecond
		acked, failure := ingestUntilKilled(p, lines[durable:], batch, armAfter, delay, kill, "m")
		if failure != "" {
			t.Fatalf("cycle %d: %s", cycle, failure)
		}
		durable += acked
		if !kill {
			break
		}
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("cycle %d: serve ended with %v, not the kill\n%s", cycle, err, p.stderr.String())
		}
		checkMerged(t, data, profiles, durable, min(durable+batch, edges), groups, edgeA)
		t.Logf("cycle %d: killed; %d merge records acknowledged so far", cycle, durable)
	}
	if durable != edges {
		t.Fatalf("%d of %d records acknowledged at the end", durable, edges)
	}
	stopGracefully(t, p)
	checkMerged(t, data, profiles, edges, edges, groups, edgeA)
}

// checkMerged recovers the dataset from data and checks it against the
// groups the first k edges make, for some k in [lo, hi]: the records
// acknowledged are in, and of the batch in flight at the kill, any
// prefix may be.
func checkMerged(t *testing.T, data string, profiles, lo, hi int, groups func(int) []int, edgeA func(int) int) {
	t.Helper()
	st, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	e := engine.New(engine.Options{})
	_, err = st.RecoverDataset(context.Background(), e, "m")
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("recover after kill: %v", err)
	}
	ds, err := e.Dataset("m")
	if err != nil {
		t.Fatal(err)
	}
	sn := ds.Snapshot()
	// The engine's groups: the survivor each original profile's external
	// id and phone lead to.
	got := make([]int, profiles)
	for i := range profiles {
		r, ok := ds.Lookup("external", fmt.Sprintf("u%d", i))
		r2, ok2 := ds.Lookup("phone", fmt.Sprintf("p%d", i))
		if !ok || !ok2 || r != r2 {
			t.Fatalf("u%d finds row %d (%v), p%d finds row %d (%v)", i, r, ok, i, r2, ok2)
		}
		got[i] = int(r)
	}
	k := -1
	for c := lo; c <= hi; c++ {
		if slices.Equal(got, groups(c)) {
			k = c
			break
		}
	}
	if k < 0 {
		t.Fatalf("the profiles' groups match no prefix of %d to %d merge records", lo, hi)
	}
	members := map[int][]int{}
	for i, g := range got {
		members[g] = append(members[g], i)
	}
	if sn.Profiles() != uint64(len(members)) {
		t.Fatalf("%d profiles, %d groups", sn.Profiles(), len(members))
	}
	marks, _ := sn.Field("marks")
	tier, _ := sn.Field("tier")
	for s, ms := range members {
		row := uint32(s)
		if !sn.All().Contains(row) {
			t.Fatalf("survivor row %d is not a profile", row)
		}
		var wantMarks, wantPhones, wantExt []string
		for _, i := range ms {
			wantMarks = append(wantMarks, fmt.Sprintf("m%d", i))
			wantPhones = append(wantPhones, fmt.Sprintf("p%d", i))
			wantExt = append(wantExt, fmt.Sprintf("u%d", i))
		}
		gotMarks := marks.Values.RowValues(nil, row)
		id, _ := ds.Identity(row)
		for _, c := range []struct {
			what      string
			got, want []string
		}{{"marks", gotMarks, wantMarks}, {"phones", id.IDs["phone"], wantPhones}, {"external ids", id.IDs["external"], wantExt}} {
			g := slices.Clone(c.got)
			slices.Sort(g)
			w := slices.Clone(c.want)
			slices.Sort(w)
			if !slices.Equal(g, w) {
				t.Fatalf("profile %d (after %d merge records): %s %v, want %v", row, k, c.what, g, w)
			}
		}
		if vals := tier.Values.RowValues(nil, row); len(vals) != 1 {
			t.Fatalf("profile %d has tier %v", row, vals)
		}
	}
	if got := marks.Values.Exists().GetCardinality(); got != uint64(len(members)) {
		t.Fatalf("%d profiles hold marks, want %d", got, len(members))
	}
	for j := range k {
		a, _ := ds.Lookup("external", fmt.Sprintf("u%d", edgeA(j)))
		if r, ok := ds.Lookup("email", fmt.Sprintf("e%d", j)); !ok || r != a {
			t.Fatalf("email e%d finds row %d (%v), want %d", j, r, ok, a)
		}
	}
}
