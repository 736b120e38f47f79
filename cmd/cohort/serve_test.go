package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// TestDemoOnce runs the README's demo command, small, and checks that it
// served the dataset and counted the example segments through the API.
func TestDemoOnce(t *testing.T) {
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"demo", "--once", "--profiles", "3000", "--addr", "127.0.0.1:0", "--log", "json"}, &out, &errs)
	if code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, out.String(), errs.String())
	}
	text := out.String()
	for _, want := range []string{"Serving the demo dataset at http://127.0.0.1:", "console: http://", "curl -s http://", "/profiles/phone/+861", "→ "} {
		if !strings.Contains(text, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, text)
		}
	}
	if got := strings.Count(text, "→ "); got != len(demoQueries) {
		t.Fatalf("demo counted %d segments, want %d:\n%s", got, len(demoQueries), text)
	}
	if !strings.Contains(errs.String(), "stopped cleanly") {
		t.Fatalf("demo did not stop cleanly:\n%s", errs.String())
	}
}

// serveProc is a running 'cohort serve'.
type serveProc struct {
	cmd    *exec.Cmd
	base   string
	stderr *bytes.Buffer
}

// startServe starts the binary on a free loopback port and waits for the
// line that says where it listens.
func startServe(t *testing.T, bin, data string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--log", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Wait()
		t.Fatalf("cohort serve did not start: %v\n%s", err, stderr.String())
	}
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("unexpected first line %q", line)
	}
	base := strings.Fields(line[i:])[0]
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return &serveProc{cmd: cmd, base: base, stderr: &stderr}
}

func httpDo(method, url, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestKillServeDuringIngest kills 'cohort serve' with SIGKILL while a
// client streams ingest requests, restarts it, and checks after every
// kill that each acknowledged record is there whole and nothing is there
// half. Then it loads the rest, stops the server with SIGTERM, and checks
// that the graceful stop left nothing to replay and the counts are right.
func TestKillServeDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it")
	}
	const (
		profiles = 6_000
		batch    = 150
		kills    = 8
	)
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	g := gen.New(gen.Options{Profiles: profiles, Seed: 23})
	var lines [][]byte
	want := make([]record.Update, profiles)
	for i := range profiles {
		l := g.Record(nil, i)
		lines = append(lines, l)
		if want[i], err = record.Decode(bytes.TrimSuffix(l, []byte("\n")), sc); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	durable := 0
	var p *serveProc
	for cycle := range kills + 1 {
		p = startServe(t, bin, data)
		if cycle == 0 {
			if code, body, err := httpDo("PUT", p.base+"/v1/datasets/demo", "application/json", gen.SchemaJSON()); err != nil || code != 201 {
				t.Fatalf("create: %d %s %v", code, body, err)
			}
		}
		last := cycle == kills
		// The kill is armed after a few acknowledged batches and lands a
		// little later, mid-request.
		armAfter := 1 + rng.IntN(4)
		delay := time.Duration(rng.IntN(2000)) * time.Microsecond
		acked, failure := ingestUntilKilled(p, lines[durable:], batch, armAfter, delay, !last, "demo")
		if failure != "" {
			t.Fatalf("cycle %d: %s", cycle, failure)
		}
		durable += acked
		if last {
			break
		}
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("cycle %d: serve ended with %v, not the kill\n%s", cycle, err, p.stderr.String())
		}
		checkRecovered(t, data, sc, want, durable, rng)
		t.Logf("cycle %d: killed; %d records acknowledged so far", cycle, durable)
	}
	if durable != profiles {
		t.Fatalf("%d of %d records acknowledged at the end", durable, profiles)
	}
	// Stop the last server gracefully: it checkpoints, so the next start
	// replays nothing and counts everything.
	stopGracefully(t, p)
	p = startServe(t, bin, data)
	code, body, err := httpDo("POST", p.base+"/v1/datasets/demo/count", "application/json", []byte(`{"q":"ALL"}`))
	if err != nil || code != 200 || !strings.Contains(string(body), fmt.Sprintf(`"count":%d`, profiles)) {
		t.Fatalf("count after restart: %d %s %v", code, body, err)
	}
	// An online backup while the server holds the directory goes through
	// the server; the restored copy counts the same.
	backup := filepath.Join(t.TempDir(), "online.backup")
	if out, err := exec.Command(bin, "backup", "--data", data, "--out", backup).CombinedOutput(); err != nil || !strings.Contains(string(out), "online, verified") {
		t.Fatalf("online backup: %v\n%s", err, out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := exec.Command(bin, "restore", "--in", backup, "--data", restored).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "query", "--data", restored, "--dataset", "demo", "ALL").Output(); err != nil || strings.TrimSpace(string(out)) != fmt.Sprint(profiles) {
		t.Fatalf("count of the restored backup: %q %v", out, err)
	}
	stopGracefully(t, p)
	if !strings.Contains(p.stderr.String(), " 0 records replayed") {
		t.Fatalf("the start after a graceful stop replayed records:\n%s", p.stderr.String())
	}
}

// ingestUntilKilled posts lines in batches, one request at a time, and
// returns how many were acknowledged. With kill, it sends SIGKILL delay
// after the armAfter-th acknowledged batch while it goes on ingesting.
func ingestUntilKilled(p *serveProc, lines [][]byte, batch, armAfter int, delay time.Duration, kill bool, dataset string) (acked int, failure string) {
	for next, batches := 0, 0; next < len(lines); batches++ {
		end := min(next+batch, len(lines))
		code, body, err := httpDo("POST", p.base+"/v1/datasets/"+dataset+"/ingest", "application/x-ndjson", bytes.Join(lines[next:end], nil))
		if err != nil {
			if kill && batches > armAfter-1 {
				return acked, "" // killed mid-request: not acknowledged
			}
			return acked, fmt.Sprintf("ingest: %v", err)
		}
		var rep struct{ Applied, Rejected int }
		if code != 200 || json.Unmarshal(body, &rep) != nil || rep.Applied != end-next {
			return acked, fmt.Sprintf("ingest: %d %s", code, body)
		}
		acked, next = end, end
		if kill && batches+1 == armAfter {
			time.AfterFunc(delay, func() { _ = p.cmd.Process.Signal(syscall.SIGKILL) })
		}
	}
	if kill {
		return acked, "all lines were acknowledged before the kill landed"
	}
	return acked, ""
}

// stopGracefully sends SIGTERM and expects a clean exit.
func stopGracefully(t *testing.T, p *serveProc) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "stopped cleanly") {
		t.Fatalf("serve did not say it stopped cleanly:\n%s", p.stderr.String())
	}
}
