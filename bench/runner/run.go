package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/analytics"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/lookalike"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

// Dataset is the name of the dataset the runner writes and reuses.
const Dataset = "bench"

// Config configures Run.
type Config struct {
	Profiles int
	Seed     int64
	// Now is the generator's reference time and the engine's clock, so
	// every window ends on the same day whenever the run happens.
	Now time.Time
	// Dir is the store to write, or to reuse if it holds Dataset.
	Dir string
	// Runs is the samples per count query; SlowRuns per profile and
	// lookalike (0: Runs/10, at least 1).
	Runs, SlowRuns int
	// WarmUp is the least time each measurement runs its call before
	// timing it (besides its warm-up calls): see measure.
	WarmUp time.Duration
	// Progress receives progress lines (nil: none); Terminal redraws a
	// status line in place instead of printing one every few seconds.
	Progress io.Writer
	Terminal bool
	// StoreOptions open the store (Badger's log).
	StoreOptions storage.Options
	// DurableLoad, if set, measures the durable path separately and
	// returns records applied and the time taken; it runs before the
	// in-memory load so the two never hold data at once.
	DurableLoad func(ctx context.Context) (records int, took time.Duration, err error)
	// IngestSample is how many records the ingest rate is measured over
	// (see ingestRate): 0 means DefaultIngestSample (or Profiles, if
	// fewer), negative skips it.
	IngestSample int
}

// DefaultIngestSample is the records the ingest rate is measured over by
// default: ~800 MB of NDJSON held in memory while it is applied.
const DefaultIngestSample = 1_000_000

// Run measures cfg and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Profiles <= 0 {
		return nil, errors.New("bench: profiles must be positive")
	}
	if cfg.Dir == "" {
		return nil, errors.New("bench: a store directory is required")
	}
	if cfg.Now.IsZero() {
		cfg.Now = gen.DefaultNow()
	}
	cfg.Runs = max(cfg.Runs, 1)
	if cfg.SlowRuns <= 0 {
		cfg.SlowRuns = max(1, (cfg.Runs+9)/10)
	}
	start := time.Now()
	p := &printer{w: cfg.Progress, terminal: cfg.Terminal}
	clock := func() time.Time { return cfg.Now }
	rep := &Report{
		Seed: cfg.Seed, Now: cfg.Now.Format("2006-01-02"), Runs: cfg.Runs, SlowRuns: cfg.SlowRuns,
		Machine: machine(), LoadPath: "in-memory apply (bench.Load: generate, decode NDJSON, apply)",
	}

	if err := ingestRate(cfg, clock, p, rep); err != nil {
		return nil, err
	}
	st, err := storage.Open(cfg.Dir, cfg.StoreOptions)
	if err != nil {
		return nil, fmt.Errorf("bench: open store %s: %w", cfg.Dir, err)
	}
	if _, ok := st.Dataset(Dataset); ok {
		rep.Reused = true
		p.linef("reusing dataset %s in %s", Dataset, cfg.Dir)
	} else {
		if cfg.DurableLoad != nil {
			p.linef("durable load (cohort load path) of %d profiles…", cfg.Profiles)
			n, took, err := cfg.DurableLoad(ctx)
			if err != nil {
				st.Close()
				return nil, fmt.Errorf("bench: durable load: %w", err)
			}
			rep.DurableLoadRecordsPerS = round(float64(n)/took.Seconds(), 0)
			p.linef("durable load: %d records in %s, %.0f records/s", n, took.Round(time.Millisecond), rep.DurableLoadRecordsPerS)
		}
		if err := loadAndCheckpoint(ctx, st, cfg, clock, p, rep); err != nil {
			st.Close()
			return nil, err
		}
	}
	if err := st.Close(); err != nil {
		return nil, fmt.Errorf("bench: close store: %w", err)
	}
	// The loading engine is unreachable now; give its memory back so the
	// recovered copy is the only one RSS sees.
	debug.FreeOSMemory()

	p.linef("starting from disk: open %s and recover %s…", cfg.Dir, Dataset)
	t := time.Now()
	st, err = storage.Open(cfg.Dir, cfg.StoreOptions)
	if err != nil {
		return nil, fmt.Errorf("bench: reopen store %s: %w", cfg.Dir, err)
	}
	defer st.Close()
	e := engine.New(engine.Options{Clock: clock})
	if _, err := st.RecoverDataset(ctx, e, Dataset); err != nil {
		return nil, fmt.Errorf("bench: recover %s: %w", Dataset, err)
	}
	ds, err := e.Dataset(Dataset)
	if err != nil {
		return nil, fmt.Errorf("bench: recovered engine: %w", err)
	}
	sn := ds.Snapshot()
	rep.StartupS = round(time.Since(t).Seconds(), 3)
	rep.Profiles = int(sn.Profiles())
	p.linef("started in %.3f s: %d profiles", rep.StartupS, rep.Profiles)
	if rep.Reused && rep.Profiles != cfg.Profiles {
		return nil, fmt.Errorf("bench: %s holds dataset %s with %d profiles, not the %d asked for: give --profiles %d or another --data",
			cfg.Dir, Dataset, rep.Profiles, cfg.Profiles, rep.Profiles)
	}
	if rep.Profiles == 0 {
		return nil, fmt.Errorf("bench: dataset %s is empty", Dataset)
	}

	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.RSSBytes, _ = rss()
	rep.RSSAnonBytes, rep.RSSFileBytes = rssSplit()
	rep.HeapBytes = ms.HeapAlloc
	rep.GoHeldBytes = ms.Sys - ms.HeapReleased
	rep.BytesPerProfile = round(float64(rep.RSSBytes)/float64(rep.Profiles), 1)
	rep.HeapBytesPerProfile = round(float64(rep.HeapBytes)/float64(rep.Profiles), 1)
	p.linef("resident %s (%.1f B/profile), heap %s", bytesStr(rep.RSSBytes), rep.BytesPerProfile, bytesStr(rep.HeapBytes))

	now := schema.DayOf(cfg.Now, sn.Schema().Location())
	mix := Mix()
	for i, q := range mix {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		var res QueryResult
		var err error
		switch q.Kind {
		case KindCount:
			res, err = runCount(ctx, sn, now, q, cfg.Runs, cfg.WarmUp)
		case KindProfile:
			res, err = runProfile(ctx, sn, now, q, cfg.SlowRuns, cfg.WarmUp)
		case KindLookalike:
			res, err = runLookalike(ctx, sn, now, q, cfg.SlowRuns, cfg.WarmUp)
		default:
			err = fmt.Errorf("unknown kind %q", q.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("bench: query %s: %w", q.Name, err)
		}
		rep.Queries = append(rep.Queries, res)
		line := fmt.Sprintf("[%d/%d] %-22s count %-9d p50 %-9s floor %-9s %.2f×", i+1, len(mix), q.Name, res.Count, durStr(res.P50US), durStr(res.FloorUS), res.Ratio)
		if res.FirstP50US > 0 {
			line += fmt.Sprintf("  first %s (%.2f×)", durStr(res.FirstP50US), res.FirstRatio)
		}
		if res.FirstFloorUS > 0 {
			line += fmt.Sprintf(", floor of its reads %s (%.2f×)", durStr(res.FirstFloorUS), res.FirstFloorRatio)
		}
		p.linef("%s", line)
		// Dense floors of the last query are garbage now; collect them
		// before the next query's timings, not during.
		runtime.GC()
	}
	_, rep.PeakRSSBytes = rss()
	rep.ElapsedS = round(time.Since(start).Seconds(), 1)
	return rep, nil
}

// loadAndCheckpoint generates cfg.Profiles into a fresh engine through the
// in-memory bulk path, measures it, and stores it as one checkpoint (the
// path of 'cohort demo': quicker than logging every generated record).
func loadAndCheckpoint(ctx context.Context, st *storage.Store, cfg Config, clock func() time.Time, p *printer, rep *Report) error {
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		return fmt.Errorf("bench: schema: %w", err)
	}
	if err := st.CreateDataset(ctx, Dataset, sc); err != nil {
		return fmt.Errorf("bench: create dataset: %w", err)
	}
	ds, err := engine.New(engine.Options{Clock: clock}).Create(Dataset, sc)
	if err != nil {
		return fmt.Errorf("bench: create dataset: %w", err)
	}
	r := &countingReader{g: gen.New(gen.Options{Profiles: cfg.Profiles, Seed: cfg.Seed, Now: cfg.Now})}
	p.linef("generating and loading %d profiles (seed %d)…", cfg.Profiles, cfg.Seed)
	t := time.Now()
	stop := p.every(func() string {
		n := r.records.Load()
		el := time.Since(t)
		rate := float64(n) / max(el.Seconds(), 1e-9)
		left := time.Duration(float64(cfg.Profiles-int(n)) / max(rate, 1) * float64(time.Second))
		return fmt.Sprintf("loading: %d of %d records, %.0f%%, %.0f records/s, ETA %s",
			n, cfg.Profiles, 100*float64(n)/float64(cfg.Profiles), rate, left.Round(time.Second))
	})
	res, err := ds.ApplyNDJSON(r, engine.LoadOptions{})
	stop()
	if err != nil {
		return fmt.Errorf("bench: load: %w", err)
	}
	took := time.Since(t)
	if res.Applied != cfg.Profiles {
		return fmt.Errorf("bench: load applied %d of %d records (%d rejected)", res.Applied, cfg.Profiles, len(res.Errors))
	}
	rep.LoadS = round(took.Seconds(), 2)
	rep.LoadRecordsPerS = round(float64(res.Applied)/took.Seconds(), 0)
	debug.FreeOSMemory()
	rep.LoadRSSBytes, _ = rss()
	p.linef("loaded %d records in %s: %.0f records/s, resident %s", res.Applied, took.Round(time.Millisecond), rep.LoadRecordsPerS, bytesStr(rep.LoadRSSBytes))

	t = time.Now()
	if err := st.Checkpoint(ctx, Dataset, ds.Snapshot(), 0); err != nil {
		return fmt.Errorf("bench: checkpoint: %w", err)
	}
	rep.CheckpointS = round(time.Since(t).Seconds(), 3)
	p.linef("checkpoint written in %.3f s", rep.CheckpointS)
	return nil
}

// ingestRate measures the engine's own ingest: the first records of the
// run's data are generated as NDJSON into memory first, then applied to
// a scratch dataset through the same bulk path as the load, timed
// alone. The load rate times generation too, on a core the decoders
// share: at 1M profiles 2.7-2.9 s against 2.0-2.3 s from memory, the
// generator alone taking ~1.65 us a record. Everything is dropped and
// the memory returned before the run goes on.
func ingestRate(cfg Config, clock func() time.Time, p *printer, rep *Report) error {
	n := cfg.IngestSample
	switch {
	case n < 0:
		return nil
	case n == 0:
		n = DefaultIngestSample
	}
	n = min(n, cfg.Profiles)
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		return fmt.Errorf("bench: schema: %w", err)
	}
	p.linef("ingest rate: generating %d records into memory…", n)
	g := gen.New(gen.Options{Profiles: n, Seed: cfg.Seed, Now: cfg.Now})
	buf := make([]byte, 0, n*850) // ~800 bytes a generated record
	for ok := true; ok; {
		buf, ok = g.Next(buf)
	}
	ds, err := engine.New(engine.Options{Clock: clock}).Create(Dataset, sc)
	if err != nil {
		return fmt.Errorf("bench: ingest dataset: %w", err)
	}
	t := time.Now()
	res, err := ds.ApplyNDJSON(bytes.NewReader(buf), engine.LoadOptions{})
	took := time.Since(t)
	if err != nil {
		return fmt.Errorf("bench: ingest: %w", err)
	}
	if res.Applied != n {
		return fmt.Errorf("bench: ingest applied %d of %d records (%d rejected)", res.Applied, n, len(res.Errors))
	}
	rep.IngestSample = n
	rep.IngestRecordsPerS = round(float64(n)/took.Seconds(), 0)
	p.linef("ingest rate: %d records (%s of NDJSON) applied from memory in %s: %.0f records/s",
		n, bytesStr(uint64(len(buf))), took.Round(time.Millisecond), rep.IngestRecordsPerS)
	buf, ds = nil, nil
	debug.FreeOSMemory()
	return nil
}

// countingReader is bench.Reader with a record count the progress line
// can read while the load runs.
type countingReader struct {
	g       *gen.Generator
	buf     []byte
	off     int
	eof     bool
	records atomic.Int64
}

func (r *countingReader) Read(b []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.eof {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		n := 0
		// A few KiB at a time keeps the per-call overhead small.
		for len(r.buf) < 32<<10 {
			var ok bool
			if r.buf, ok = r.g.Next(r.buf); !ok {
				r.eof = true
				break
			}
			n++
		}
		r.records.Add(int64(n))
	}
	n := copy(b, r.buf[r.off:])
	r.off += n
	return n, nil
}

func runCount(ctx context.Context, sn *engine.Snapshot, now schema.Day, q Query, runs int, warmFor time.Duration) (QueryResult, error) {
	cq, err := exec.Compile(sn, q.Text, exec.Options{Now: &now})
	if err != nil {
		return QueryResult{}, fmt.Errorf("compile: %w", err)
	}
	var count uint64
	lat, err := measure(3, warmFor, runs, func() error {
		count, err = cq.Count(ctx)
		return err
	})
	if err != nil {
		return QueryResult{}, fmt.Errorf("count: %w", err)
	}
	// The same count as a first one: ranges and windows computed from
	// the index every time, as on a snapshot that never saw them (the
	// timings above read what the views keep from the second run on).
	fresh, err := exec.Compile(sn, q.Text, exec.Options{Now: &now, Fresh: true})
	if err != nil {
		return QueryResult{}, fmt.Errorf("compile: %w", err)
	}
	var freshCount uint64
	first, err := measure(3, warmFor, runs, func() error {
		freshCount, err = fresh.Count(ctx)
		return err
	})
	if err != nil {
		return QueryResult{}, fmt.Errorf("first count: %w", err)
	}
	if freshCount != count {
		return QueryResult{}, fmt.Errorf("a first count gives %d, a repeated one %d", freshCount, count)
	}
	dense, minus, err := DenseLeaves(ctx, cq)
	if err != nil {
		return QueryResult{}, err
	}
	acc := make([]uint64, len(dense[0]))
	var fc int
	floor, err := measure(3, warmFor, runs, func() error {
		fc = AndPopcount(acc, dense, minus)
		return nil
	})
	if err != nil {
		return QueryResult{}, err
	}
	res := result(q, count, uint64(fc), lat, floor)
	res.FirstP50US = us(first.P50)
	res.FirstRatio = round(float64(first.P50)/float64(max(floor.P50, 1)), 3)
	// The floor of what a first count reads: dense passes over the
	// stored slices and days, not over their combination.
	ff, _, ok, err := FirstFloor(ctx, fresh, runs, warmFor)
	if err != nil {
		return QueryResult{}, fmt.Errorf("first count's floor: %w", err)
	}
	if ok {
		res.FirstFloorUS = us(ff)
		res.FirstFloorRatio = round(float64(first.P50)/float64(max(ff, 1)), 3)
	}
	return res, nil
}

func runProfile(ctx context.Context, sn *engine.Snapshot, now schema.Day, q Query, runs int, warmFor time.Duration) (QueryResult, error) {
	cq, err := exec.Compile(sn, q.Text, exec.Options{Now: &now})
	if err != nil {
		return QueryResult{}, fmt.Errorf("compile: %w", err)
	}
	// The segment is computed once: what is timed is the profile of it.
	seg, err := cq.Bitmap(ctx)
	if err != nil {
		return QueryResult{}, fmt.Errorf("segment: %w", err)
	}
	fv, err := sn.Field(q.Field)
	if err != nil {
		return QueryResult{}, fmt.Errorf("profile field: %w", err)
	}
	if fv.Values == nil {
		return QueryResult{}, fmt.Errorf("profile field %s is not a tag or set field", q.Field)
	}
	opts := analytics.ProfileOptions{Fields: []string{q.Field}, Now: now}
	var count uint64
	lat, err := measure(1, warmFor, runs, func() error {
		res, err := analytics.Profile(ctx, sn, seg, opts)
		if err == nil {
			count = res.Count
		}
		return err
	})
	if err != nil {
		return QueryResult{}, fmt.Errorf("profile: %w", err)
	}
	// Floor: the segment ANDed with every value's bitset and counted. A
	// dense pass costs the same whatever its bits, so the timed passes
	// cycle through at most floorBytes of distinct value bitsets (every
	// value up to ~10M rows; 20 of the 300 cities at 100M, still far more
	// than the caches hold): 300 dense bitsets would be 3.7 GB at 100M,
	// the largest allocation of the whole run. Its count is taken value
	// by value, untimed, through one reused buffer.
	rows := sn.Rows()
	denseSeg := Dense(seg, rows)
	acc := make([]uint64, len(denseSeg))
	pair := [][]uint64{denseSeg, nil}
	noMinus := []bool{false, false}
	names := fv.Values.Values()
	keep := max(1, min(len(names), floorBytes/max(len(denseSeg)*8, 1)))
	var values [][]uint64
	var fc uint64
	buf := make([]uint64, len(denseSeg))
	for i, v := range names {
		if i < keep {
			values = append(values, Dense(fv.Values.Bitmap(v), rows))
			pair[1] = values[i]
		} else {
			DenseInto(buf, fv.Values.Bitmap(v))
			pair[1] = buf
		}
		fc += uint64(AndPopcount(acc, pair, noMinus))
	}
	floor, err := measure(1, warmFor, runs, func() error {
		for i := range names {
			pair[1] = values[i%len(values)]
			AndPopcount(acc, pair, noMinus)
		}
		return nil
	})
	if err != nil {
		return QueryResult{}, err
	}
	return result(q, count, fc, lat, floor), nil
}

// floorBytes bounds the dense bitsets the profile's floor holds at once.
const floorBytes = 256 << 20

func runLookalike(ctx context.Context, sn *engine.Snapshot, now schema.Day, q Query, runs int, warmFor time.Duration) (QueryResult, error) {
	cq, err := exec.Compile(sn, q.Text, exec.Options{Now: &now})
	if err != nil {
		return QueryResult{}, fmt.Errorf("compile: %w", err)
	}
	all, err := cq.Bitmap(ctx)
	if err != nil {
		return QueryResult{}, fmt.Errorf("seed: %w", err)
	}
	// The first SeedSize rows of the segment, or SeedSize rows taken
	// evenly over it: deterministic, and a seed of the size a marketer
	// uploads.
	seed := roaring.New()
	if q.Spread {
		rows := all.ToArray()
		k := min(q.SeedSize, len(rows))
		for i := range k {
			seed.Add(rows[i*len(rows)/k])
		}
	} else {
		it := all.Iterator()
		for it.HasNext() && seed.GetCardinality() < uint64(q.SeedSize) {
			seed.Add(it.Next())
		}
	}
	opts := lookalike.Options{Size: q.Size, ExcludeFields: lookalike.QueryFields(cq.Checked.Root), Now: now}
	var count uint64
	var passes int
	// Three warm-up calls at least: the view keeps an event window from
	// its second use, so the second call builds and keeps the dozen or
	// two windows a lookalike selects (~2 s at 100M profiles, where the
	// warm-up's second alone holds one or two calls and that build was
	// the report's p95); the third is the steady state.
	lat, err := measure(3, warmFor, runs, func() error {
		res, err := lookalike.Expand(ctx, sn, seed, opts)
		if err == nil {
			count, passes = uint64(len(res.Ranked)), res.FeaturesCounted+len(res.Features)
		}
		return err
	})
	if err != nil {
		return QueryResult{}, fmt.Errorf("lookalike: %w", err)
	}
	// Floor: one AND + popcount pass over the dense universe per bitmap
	// the lookalike touches: each candidate feature it counts against the
	// seed (a window or a bucket as one bitmap, as a count's floor takes
	// its leaves already evaluated), and each selected feature it scores.
	// A dense pass costs the same whatever the bits, so the seed stands in
	// for each feature's bitset.
	rows := sn.Rows()
	pair := [][]uint64{Dense(roaring.AndNot(sn.All(), seed), rows), Dense(seed, rows)}
	acc := make([]uint64, len(pair[0]))
	noMinus := []bool{false, false}
	var fc uint64
	floor, err := measure(1, warmFor, runs, func() error {
		fc = 0
		for range max(passes, 1) {
			fc += uint64(AndPopcount(acc, pair, noMinus))
		}
		return nil
	})
	if err != nil {
		return QueryResult{}, err
	}
	return result(q, count, fc, lat, floor), nil
}

func result(q Query, count, floorCount uint64, lat, floor Latency) QueryResult {
	return QueryResult{
		Name: q.Name, Kind: q.Kind, Query: q.Describe(), Count: count,
		P50US: us(lat.P50), P95US: us(lat.P95), P99US: us(lat.P99), FloorUS: us(floor.P50),
		Ratio:      round(float64(lat.P50)/float64(max(floor.P50, 1)), 3),
		FloorCount: floorCount, Runs: lat.Samples, Batch: lat.Batch,
	}
}

// printer writes progress: lines, and a status line redrawn in place on a
// terminal (one line every 5 s elsewhere), in the style of 'cohort load'.
type printer struct {
	w        io.Writer
	terminal bool
	mu       sync.Mutex
}

func (p *printer) linef(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// every prints status() periodically until the returned stop is called.
func (p *printer) every(status func() string) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	period := 5 * time.Second
	if p.terminal {
		period = 200 * time.Millisecond
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.mu.Lock()
				if p.terminal {
					fmt.Fprintf(p.w, "\r%s\x1b[K", status())
				} else {
					fmt.Fprintln(p.w, status())
				}
				p.mu.Unlock()
			case <-quit:
				return
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
		if p.terminal {
			p.mu.Lock()
			fmt.Fprint(p.w, "\r\x1b[K")
			p.mu.Unlock()
		}
	}
}
