package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

// TestKillDuringLoad is DESIGN §5's proof that acknowledged writes survive
// kill -9. It builds the real binary, streams generated records into
// 'cohort load --ack', kills the process with SIGKILL at seeded random
// moments (after a chosen number of acknowledgements, or during start-up
// and recovery), restarts it on the input not yet acknowledged, and after
// every kill recovers the store in this process and checks that
//
//   - every acknowledged record is there, with all its values;
//   - every record that is there (acknowledged or not) is there whole;
//   - no profile is there twice, and nothing else is.
//
// A last run, not killed, loads the rest; the binary's own queries then
// count the whole data set. The kill points are chosen by a fixed seed;
// the exact moment still depends on timing, which is the point. Nothing
// asserts on time.
//
// Batches are small so that the kills happen within the first few
// thousand records: the check after each kill replays the whole store in
// this process, which under the race detector costs ~0.2 ms per record.
func TestKillDuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it two dozen times")
	}
	const (
		profiles = 50_000
		batch    = 200
		kills    = 24
	)
	start := time.Now()
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	schemaPath := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(schemaPath, gen.SchemaJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	// The input and what each record must leave behind.
	g := gen.New(gen.Options{Profiles: profiles, Seed: 11})
	var input []byte
	offsets := make([]int, profiles+1)
	want := make([]record.Update, profiles)
	for i := range profiles {
		offsets[i] = len(input)
		input = g.Record(input, i)
		if want[i], err = record.Decode(bytes.TrimSuffix(input[offsets[i]:], []byte("\n")), sc); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	offsets[profiles] = len(input)

	rng := rand.New(rand.NewPCG(2026, 1122))
	durable, killed := 0, 0
	for cycle := range kills {
		// Mostly after a few acknowledgements (mid-batch, mid-fsync,
		// mid-apply); one time in four during start-up: opening Badger,
		// recovering, creating the dataset.
		plan := killPlan{kill: true, afterAcks: rng.IntN(4), delay: time.Duration(rng.IntN(3000)) * time.Microsecond}
		if plan.afterAcks == 0 {
			plan.delay = time.Duration(rng.IntN(150)) * time.Millisecond
		}
		acked, wasKilled := runLoadOnce(t, bin, data, schemaPath, input[offsets[durable]:], batch, plan)
		if wasKilled {
			killed++
		}
		durable += acked
		checkRecovered(t, data, sc, want, durable, rng)
		t.Logf("run %d: killed %v after %d acknowledgements + %s; %d records durable", cycle+1, wasKilled, plan.afterAcks, plan.delay, durable)
	}
	if killed < 20 {
		t.Fatalf("only %d of %d runs were killed; the test needs at least 20", killed, kills)
	}
	// The rest, without a kill; then the binary counts what it recovers.
	if _, wasKilled := runLoadOnce(t, bin, data, schemaPath, input[offsets[durable]:], 4096, killPlan{}); wasKilled {
		t.Fatal("the last run was killed")
	}
	checkCountsByQuery(t, bin, data, sc, want)
	t.Logf("%d runs killed with SIGKILL, then the rest loaded; %s", killed, time.Since(start).Round(time.Millisecond))
}

// checkCountsByQuery counts a few segments with 'cohort query' over the
// store and compares them with the records.
func checkCountsByQuery(t *testing.T, bin, data string, sc *schema.Schema, want []record.Update) {
	t.Helper()
	index := func(name string) int {
		return slices.IndexFunc(sc.Fields, func(f schema.Field) bool { return f.Name == name })
	}
	gi, pi := index("gender"), index("purchase")
	var women, milk int
	for i := range want {
		if a, ok := assigned(&want[i], gi); ok && a.Str == "female" {
			women++
		}
		if slices.ContainsFunc(want[i].Events, func(e record.Event) bool { return e.Field == pi && e.Value == "milk_powder" }) {
			milk++
		}
	}
	for q, n := range map[string]int{"ALL": len(want), "gender = 'female'": women, "purchase('milk_powder')": milk} {
		out, err := exec.Command(bin, "query", "--data", data, "--dataset", "demo", "--now", "2026-11-22", q).Output()
		if err != nil {
			t.Fatalf("cohort query %s: %v", q, err)
		}
		if got := strings.TrimSpace(string(out)); got != strconv.Itoa(n) {
			t.Fatalf("cohort query %s = %s, want %d", q, got, n)
		}
	}
}

// buildBinary builds cmd/cohort into the test's directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cohort")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

type killPlan struct {
	kill      bool
	afterAcks int           // acknowledgements to see first; 0: kill during start-up
	delay     time.Duration // then wait this long
}

// runLoadOnce runs 'cohort load --ack' on input (fed on standard input)
// and kills it as planned. It returns how many records of input were
// acknowledged (a prefix) and whether the process died of the kill.
func runLoadOnce(t *testing.T, bin, data, schemaPath string, input []byte, batch int, plan killPlan) (acked int, killed bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "load", "--data", data, "--dataset", "demo", "--schema", schemaPath,
		"--batch", strconv.Itoa(batch), "--ack", "-")
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := make(chan int)
	go func() {
		defer close(acks)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
				v, err := strconv.Atoi(n)
				if err != nil {
					t.Errorf("bad acknowledgement %q", sc.Text())
					continue
				}
				acks <- v
			}
		}
	}()
	if plan.kill {
		for seen := 0; seen < plan.afterAcks; seen++ {
			n, ok := <-acks
			if !ok {
				break
			}
			acked = max(acked, n)
		}
		time.Sleep(plan.delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}
	// Acknowledgements printed before the process died count too.
	for n := range acks {
		acked = max(acked, n)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL && plan.kill:
		killed = true
	default:
		t.Fatalf("cohort load: %v\n%s", err, stderr.String())
	}
	if !killed && acked != bytes.Count(input, []byte("\n")) {
		t.Fatalf("cohort load finished but acknowledged %d of %d records\n%s", acked, bytes.Count(input, []byte("\n")), stderr.String())
	}
	return acked, killed
}

// TestInterruptStopsCleanly sends SIGINT to a load after a few
// acknowledgements: it stops with an error that says so, everything
// acknowledged is there, and the directory is released.
func TestInterruptStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	schemaPath := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(schemaPath, gen.SchemaJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	g := gen.New(gen.Options{Profiles: 30_000, Seed: 3})
	var input []byte
	for i := range 30_000 {
		input = g.Record(input, i)
	}
	cmd := exec.Command(bin, "load", "--data", data, "--dataset", "demo", "--schema", schemaPath, "--batch", "100", "--ack", "-")
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked, acks := 0, 0
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked, _ = strconv.Atoi(n)
			if acks++; acks == 3 {
				_ = cmd.Process.Signal(os.Interrupt)
			}
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("exit %v after SIGINT\n%s", err, stderr.String())
	}
	if acked < 300 || acked >= 30_000 {
		t.Fatalf("%d records acknowledged", acked)
	}
	st, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatalf("open after SIGINT: %v", err)
	}
	defer st.Close()
	e := engine.New(engine.Options{Clock: func() time.Time { return gen.DefaultNow() }})
	if _, err := st.RecoverDataset(context.Background(), e, "demo"); err != nil {
		t.Fatal(err)
	}
	ds, _ := e.Dataset("demo")
	if rows := int(ds.Snapshot().Rows()); rows < acked {
		t.Fatalf("%d profiles after recovery, %d acknowledged", rows, acked)
	}
}
