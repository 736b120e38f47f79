package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	profiles := fs.Int("profiles", 1_000_000, "number of generated profiles")
	seed := fs.Int64("seed", 1, "generator seed")
	data := fs.String("data", "", "data directory to keep the demo in (default: a temporary directory, removed at exit); an existing demo there is reused")
	once := fs.Bool("once", false, "exit after the example queries instead of serving until interrupted")
	sf := addServeFlags(fs, "127.0.0.1:7070")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "cohort-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	st, err := openStore(dir, false, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	e := engine.New(engine.Options{})
	if _, err := st.Recover(ctx, e); err != nil {
		return err
	}
	if _, err := e.Dataset("demo"); err != nil {
		if err := loadDemo(ctx, st, e, *profiles, *seed, stdout); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "Reusing the demo dataset in %s\n", dir)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	return serveStore(ctx, st, e, sf, stderr, func(addr string) {
		base := "http://" + addr
		fmt.Fprintf(stdout, "\nServing the demo dataset at %s\n  console: %s/\n  data:    %s\n\nTry:\n", base, base, dir)
		for _, ex := range curlExamples(base, demoPhone(e)) {
			fmt.Fprintf(stdout, "  %s\n", ex)
		}
		fmt.Fprintln(stdout)
		if err := demoSegments(ctx, base, stdout); err != nil {
			fmt.Fprintf(stderr, "demo queries: %v\n", err)
		}
		if *once {
			stop()
		} else {
			fmt.Fprintln(stdout, "Serving until interrupted (Ctrl-C).")
		}
	})
}

// loadDemo generates the demo dataset in memory at full speed and makes
// it durable with one checkpoint, which is quicker than logging every
// generated record.
func loadDemo(ctx context.Context, st *storage.Store, e *engine.Engine, profiles int, seed int64, stdout io.Writer) error {
	s, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		return fmt.Errorf("demo schema: %w", err)
	}
	if err := st.CreateDataset(ctx, "demo", s); err != nil {
		return err
	}
	ds, err := e.Create("demo", s)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Generating and loading %d demo profiles (seed %d)…\n", profiles, seed)
	start := time.Now()
	res, err := bench.Load(ds, gen.Options{Profiles: profiles, Seed: seed, Now: time.Now(), Identifiers: true}, engine.LoadOptions{})
	if err != nil {
		return err
	}
	took := time.Since(start)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	rows := ds.Snapshot().Rows()
	fmt.Fprintf(stdout, "Loaded %d profiles (%d records) in %s: %.0f records/s, heap %.1f MiB (%.0f B/profile)\n",
		rows, res.Applied, took.Round(time.Millisecond), float64(res.Applied)/took.Seconds(),
		float64(ms.HeapAlloc)/(1<<20), float64(ms.HeapAlloc)/float64(max(1, rows)))
	start = time.Now()
	if err := st.Checkpoint(ctx, "demo", ds.Snapshot(), 0); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Checkpointed to disk in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// demoPhone returns the phone number of the first demo profile that has
// one, for the 360° view example ("" if none has).
func demoPhone(e *engine.Engine) string {
	ds, err := e.Dataset("demo")
	if err != nil {
		return ""
	}
	sn := ds.Snapshot()
	it := sn.All().Iterator()
	for range 1000 {
		if !it.HasNext() {
			break
		}
		if p, ok := sn.Identity().AppendIdentifier(nil, "phone", it.Next()); ok {
			return string(p)
		}
	}
	return ""
}

func curlExamples(base, phone string) []string {
	ds := base + "/v1/datasets/demo"
	ex := []string{
		fmt.Sprintf(`curl -s %s/count -H 'Content-Type: application/json' -d '{"q":"gender = '\''female'\'' AND city IN ('\''上海'\'', '\''杭州'\'')"}'`, ds),
		fmt.Sprintf(`curl -s %s/explain -H 'Content-Type: application/json' -d '{"q":"purchase('\''milk_powder'\'') IN LAST 90 DAYS AND NOT lifecycle = '\''churned'\''"}'`, ds),
		fmt.Sprintf(`curl -s %s/export -H 'Content-Type: application/json' -d '{"q":"is_vip","fields":["city","ltv"],"format":"csv"}' | head`, ds),
	}
	if phone != "" {
		ex = append(ex, fmt.Sprintf(`curl -s %s/profiles/phone/%s`, ds, url.PathEscape(phone)))
	}
	return ex
}

// demoQueries are the DESIGN's example segments, in the segment language.
var demoQueries = []string{
	`gender = 'female' AND age BETWEEN 25 AND 35
  AND city IN ('上海', '杭州')
  AND purchase('milk_powder') IN LAST 90 DAYS
  AND lifecycle != 'churned'`,
	`member_level IN ('L3', 'L4') AND NOT channels HAS 'wechat'`,
	`add_to_cart() IN LAST 7 DAYS AND NOT purchase() IN LAST 7 DAYS`,
	`purchase('coffee') AT LEAST 3 TIMES IN LAST 30 DAYS`,
	`is_vip AND churn_score >= 800`,
	`registered_at IN LAST 365 DAYS AND ltv > 5000`,
}

// demoSegments counts the example segments through the API, as any
// client would.
func demoSegments(ctx context.Context, base string, stdout io.Writer) error {
	client := &http.Client{Timeout: time.Minute}
	for _, text := range demoQueries {
		body, err := json.Marshal(map[string]string{"q": text})
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/datasets/demo/count", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		var out struct {
			Count  uint64 `json:"count"`
			TookUS int64  `json:"took_us"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if out.Error != nil {
			return fmt.Errorf("%s: %s", text, out.Error.Message)
		}
		fmt.Fprintf(stdout, "%s\n  → %d profiles (%d µs on the server)\n\n", strings.Join(strings.Fields(text), " "), out.Count, out.TookUS)
	}
	return nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
