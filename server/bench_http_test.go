package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/server"
	"github.com/cohortdb/cohort/storage"
)

var benchNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// benchProfiles is the dataset size: 1M, or COHORT_BENCH_PROFILES.
func benchProfiles(b *testing.B) int {
	if v := os.Getenv("COHORT_BENCH_PROFILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("COHORT_BENCH_PROFILES: %v", err)
		}
		return n
	}
	return 1_000_000
}

// startBenchServer serves a generated dataset of n profiles on loopback.
// The data is loaded in memory (the store only knows the dataset), which
// is all that reads need.
func startBenchServer(b *testing.B, n int) string {
	st, err := storage.Open(b.TempDir(), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := st.CreateDataset(ctx, "bench", sc); err != nil {
		b.Fatal(err)
	}
	e := engine.New(engine.Options{Clock: func() time.Time { return benchNow }})
	ds, err := e.Create("bench", sc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bench.Load(ds, gen.Options{Profiles: n, Seed: 1, Now: benchNow}, engine.LoadOptions{}); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Durable: storage.NewDurable(st, e),
		Addr:    "127.0.0.1:0",
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		_ = st.Close()
	})
	return ln.Addr().String()
}

var benchCounts = []struct{ name, q string }{
	{"tag", `city = '上海'`},
	{"tags-3", `gender = 'female' AND city IN ('上海', '杭州') AND member_level != 'L1'`},
	{"design-example", `gender = 'female' AND age BETWEEN 25 AND 35 AND city IN ('上海', '杭州') AND purchase('milk_powder') IN LAST 90 DAYS AND lifecycle != 'churned'`},
}

// BenchmarkServeCount measures count requests over real loopback HTTP
// with keep-alive clients (clients=N concurrent connections), reporting
// requests/s and the p50/p99 latency each client saw. Client and server
// share the machine's cores, as a benchmark on one box must.
//
//	go test -run=^$ -bench=BenchmarkServeCount -benchtime=20000x ./server/
//	COHORT_BENCH_PROFILES=10000000 go test -run=^$ -bench=BenchmarkServeCount -benchtime=100000x -timeout=30m ./server/
func BenchmarkServeCount(b *testing.B) {
	n := benchProfiles(b)
	addr := startBenchServer(b, n)
	for _, bq := range benchCounts {
		body := []byte(fmt.Sprintf(`{"q":%q,"now":"2026-11-22"}`, bq.q))
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("profiles=%d/query=%s/clients=%d", n, bq.name, clients), func(b *testing.B) {
				hc := &fasthttp.HostClient{Addr: addr, MaxConns: clients}
				url := "http://" + addr + "/v1/datasets/bench/count"
				if err := countOnce(hc, url, body); err != nil {
					b.Fatal(err)
				}
				lat := make([][]time.Duration, clients)
				var wg sync.WaitGroup
				var failed error
				var once sync.Once
				per := (b.N + clients - 1) / clients
				b.ResetTimer()
				start := time.Now()
				for c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						lat[c] = make([]time.Duration, 0, per)
						for range per {
							t := time.Now()
							if err := countOnce(hc, url, body); err != nil {
								once.Do(func() { failed = err })
								return
							}
							lat[c] = append(lat[c], time.Since(t))
						}
					}()
				}
				wg.Wait()
				took := time.Since(start)
				b.StopTimer()
				if failed != nil {
					b.Fatal(failed)
				}
				all := slices.Concat(lat...)
				slices.Sort(all)
				b.ReportMetric(float64(len(all))/took.Seconds(), "req/s")
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50_us")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99_us")
			})
		}
	}
}

func countOnce(hc *fasthttp.HostClient, url string, body []byte) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetBody(body)
	if err := hc.Do(req, resp); err != nil {
		return err
	}
	if resp.StatusCode() != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	return nil
}
