package storage

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
)

// BenchmarkIncrementalCheckpoint measures a server's periodic checkpoint:
// 1M generated profiles checkpointed once, then 1,000 records changed and
// checkpointed again, in the same process (so the bitmaps that did not
// change are the very ones the first checkpoint encoded). With ids=true
// the profiles carry identifiers (a phone, an openid for many), whose
// chunks are most of a OneID dataset's checkpoint.
//
//	go test -run='^$' -bench=BenchmarkIncrementalCheckpoint -benchtime=5x ./storage/
func BenchmarkIncrementalCheckpoint(b *testing.B) {
	for _, ids := range []bool{false, true} {
		b.Run(fmt.Sprintf("ids=%v", ids), func(b *testing.B) { benchIncrementalCheckpoint(b, ids) })
	}
}

func benchIncrementalCheckpoint(b *testing.B, ids bool) {
	const n = 1_000_000
	ctx := context.Background()
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := engine.New(engine.Options{Clock: func() time.Time { return gen.DefaultNow() }})
	d := NewDurable(s, e)
	sc := parseSchema(b, string(gen.SchemaJSON()))
	if _, err := d.Create(ctx, "bench", sc); err != nil {
		b.Fatal(err)
	}
	g := gen.New(gen.Options{Profiles: n, Seed: 1, Identifiers: ids})
	var lines [][]byte
	for line, ok := g.Next(nil); ok; line, ok = g.Next(nil) {
		lines = append(lines, bytes.TrimSuffix(line, []byte("\n")))
		if len(lines) == 10_000 {
			if _, err := d.Ingest(ctx, "bench", lines); err != nil {
				b.Fatal(err)
			}
			lines = nil
		}
	}
	if len(lines) > 0 {
		if _, err := d.Ingest(ctx, "bench", lines); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Checkpoint(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		var changes [][]byte
		for i := range 1000 {
			changes = append(changes, fmt.Appendf(nil, `{"id":"u%09d","set":{"churn_score":%d}}`, (i*997+round*13)%n, (i+round)%1000))
		}
		if res, err := d.Ingest(ctx, "bench", changes); err != nil || len(res.Errors) > 0 {
			b.Fatalf("ingest: %v %v", err, res.Errors)
		}
		b.StartTimer()
		if err := d.Checkpoint(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
