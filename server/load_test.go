package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/server"
)

// TestLoad runs readers (counts and queries) against one writer
// ingesting new profiles. Every request must succeed, each reader's
// counts must never decrease, each count must include every profile
// acknowledged before it was sent, and at the end ALL must equal the
// distinct ids acknowledged. Bounded by iterations and by a deadline;
// nothing is asserted about time.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, server.Config{IngestBatch: 64})
	e.createDataset(t, "shop", "", gen.SchemaJSON())
	// A first batch so that values exist for the readers' queries.
	first := genLines(100, 1, "b0-")
	if rep := e.ingest(t, "shop", "", joinLines(first)); rep.Applied != len(first) {
		t.Fatalf("%+v", rep)
	}

	const (
		readers    = 4
		maxReads   = 400
		maxBatches = 40
		batchSize  = 60
	)
	deadline := time.Now().Add(2 * time.Second)
	var acked atomic.Int64 // distinct ids acknowledged so far
	acked.Store(int64(len(first)))
	ids := map[string]bool{}
	for _, l := range first {
		ids[idOf(t, l)] = true
	}
	var writerDone atomic.Bool
	var overlapped atomic.Int64 // reads answered while the writer ran
	errs := make(chan error, readers+1)
	var wg sync.WaitGroup
	// The writer starts once every reader has been answered once, so
	// reads and writes overlap whatever the scheduling.
	var started sync.WaitGroup
	started.Add(readers)

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer writerDone.Store(true)
		started.Wait()
		for b := 1; b <= maxBatches && time.Now().Before(deadline); b++ {
			lines := genLines(batchSize, int64(b), fmt.Sprintf("b%d-", b))
			// Re-send a few ids of the previous batch as updates: they must
			// not be counted twice.
			if b > 1 {
				lines = append(lines, []byte(fmt.Sprintf(`{"id":"b%d-000000001","set":{"city":"拉萨"}}`+"\n", b-1)))
			}
			r, err := e.trySend(req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: bytes.NewReader(joinLines(lines))})
			if err != nil {
				errs <- err
				return
			}
			var rep ingestReply
			if r.status != http.StatusOK || json.Unmarshal(r.body, &rep) != nil || rep.Applied != len(lines) || rep.Rejected != 0 {
				errs <- fmt.Errorf("batch %d: %d %s", b, r.status, trim(r.body))
				return
			}
			for _, l := range lines {
				ids[idOf(t, l)] = true
			}
			acked.Store(int64(len(ids)))
		}
	}()

	queries := []string{"ALL", "city = '上海' OR age < 30", "purchase() IN LAST 90 DAYS AND NOT is_vip", "channels HAS 'wechat'"}
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := map[string]uint64{}
			once := sync.OnceFunc(started.Done)
			defer once()
			for n := 0; n < maxReads && (time.Now().Before(deadline) || !writerDone.Load()); n++ {
				q := queries[(i+n)%len(queries)]
				atLeast := acked.Load()
				var out struct {
					Count uint64   `json:"count"`
					IDs   []string `json:"ids"`
				}
				path, body := "/count", map[string]any{"q": q, "any_value": true}
				if n%3 == 2 {
					path, body["limit"] = "/query", 50
				}
				b, _ := json.Marshal(body)
				r, err := e.trySend(req{method: "POST", path: ds("shop") + path, ctype: "application/json", body: bytes.NewReader(b)})
				if err != nil {
					errs <- err
					return
				}
				if r.status != http.StatusOK || json.Unmarshal(r.body, &out) != nil {
					errs <- fmt.Errorf("%s %s: %d %s", path, q, r.status, trim(r.body))
					return
				}
				if out.Count < last[q] {
					errs <- fmt.Errorf("%s: count went down from %d to %d", q, last[q], out.Count)
					return
				}
				last[q] = out.Count
				once()
				if !writerDone.Load() {
					overlapped.Add(1)
				}
				if q == "ALL" && out.Count < uint64(atLeast) {
					errs <- fmt.Errorf("ALL = %d, but %d profiles were acknowledged before the request", out.Count, atLeast)
					return
				}
				if path == "/query" && len(out.IDs) != int(min(out.Count, 50)) {
					errs <- fmt.Errorf("query page of %d ids for count %d", len(out.IDs), out.Count)
					return
				}
				if writerDone.Load() && n >= 20 {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d distinct ids acknowledged, %d reads overlapped the writer", len(ids), overlapped.Load())
	if overlapped.Load() == 0 {
		t.Fatal("no read overlapped the writer")
	}
	if n := e.count(t, "shop", "", "ALL"); n != uint64(len(ids)) {
		t.Fatalf("ALL = %d, distinct ids acknowledged %d", n, len(ids))
	}
	all, _ := e.queryAll(t, "shop", "", map[string]any{"q": "ALL"}, 10000)
	seen := map[string]bool{}
	for _, id := range all {
		if !ids[id] || seen[id] {
			t.Fatalf("id %s unexpected or repeated", id)
		}
		seen[id] = true
	}
	if len(seen) != len(ids) {
		t.Fatalf("%d ids listed, %d acknowledged", len(seen), len(ids))
	}
	// the request log saw every request without a server error
	for _, l := range e.logs.records(t, "request") {
		if st, _ := l["status"].(float64); st >= 500 {
			t.Fatalf("server error logged: %v", l)
		}
	}
	if strings.Contains(e.logs.String(), "panic") {
		t.Fatal("panic logged")
	}
}

func idOf(t *testing.T, line []byte) string {
	var v struct{ ID string }
	if err := json.Unmarshal(line, &v); err != nil || v.ID == "" {
		t.Errorf("no id in %q", trim(line))
	}
	return v.ID
}
