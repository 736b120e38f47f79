// Package bench loads generated data into engines and measures them. The
// data itself comes from package gen.
package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

// Reader streams a generator's records as NDJSON, so generated data flows
// through the same decode-and-apply path as a real ingest.
type Reader struct {
	g   *gen.Generator
	buf []byte
	off int
	eof bool
}

// NewReader returns a reader of opts' records.
func NewReader(opts gen.Options) *Reader { return &Reader{g: gen.New(opts)} }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.eof {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		// Fill a few KiB at a time to keep the per-call overhead small.
		for len(r.buf) < 32<<10 {
			var ok bool
			if r.buf, ok = r.g.Next(r.buf); !ok {
				r.eof = true
				break
			}
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// Load generates opts' records into ds.
func Load(ds *engine.Dataset, opts gen.Options, lo engine.LoadOptions) (engine.Result, error) {
	return ds.ApplyNDJSON(NewReader(opts), lo)
}

// Generated returns a dataset named "bench" holding n generated profiles
// (generator seed seed, reference day now), loaded in memory by an engine
// whose clock stands at now, so relative windows give the same answers
// on any day. Benchmarks share it as their fixture.
func Generated(n int, seed int64, now time.Time) (*engine.Dataset, error) {
	s, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		return nil, fmt.Errorf("generator schema: %w", err)
	}
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return now }}).Create("bench", s)
	if err != nil {
		return nil, err
	}
	res, err := Load(ds, gen.Options{Profiles: n, Seed: seed, Now: now}, engine.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("loading %d generated profiles: %w", n, err)
	}
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("loading %d generated profiles: %d rejected, the first: %w", n, len(res.Errors), res.Errors[0])
	}
	return ds, nil
}
