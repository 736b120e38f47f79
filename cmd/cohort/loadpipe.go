package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

// The loader is a pipeline:
//
//	reader → decoders (all cores) → submitter → acknowledger
//
// The reader cuts the input into chunks; decoders validate chunks in
// parallel (Durable.Prepare); the submitter hands them to the store in
// input order (Durable.Submit), which fixes their order in the log and in
// the engine; the acknowledger waits for each in the same order, counts it
// and, with --ack, reports how much of the input is durable. Several
// chunks are in flight at once, so the fsync of one overlaps the decoding
// and applying of others, and batches queued together share an fsync.

// maxChunkBytes bounds one chunk, and so one write-ahead entry.
const maxChunkBytes = 8 << 20

// inFlight is how many submitted chunks may wait for acknowledgement.
const inFlight = 4

type chunk struct {
	file  string
	nos   []int    // line number of each line
	lines [][]byte // the lines (sub-slices of buf)
	buf   []byte
	// tooLong are lines refused while reading (longer than a record may
	// be); their line numbers.
	tooLong []int
	// refused are CSV rows that could not become a record.
	refused []refusedRow
	// end is the number of records of the whole input read through this
	// chunk: once it is durable, so are the first end records.
	end int

	ready chan struct{} // closed when batch/err are set
	batch *storage.Batch
	err   error
}

type refusedRow struct {
	no  int
	err error
}

type submitted struct {
	c *chunk
	p *storage.Pending
}

// loader loads files into one dataset through a Durable.
type loader struct {
	d        *storage.Durable
	dataset  string
	batch    int
	ack      io.Writer // nil: no acknowledgements
	progress *progress
	format   string         // --format: forces the input format; "" decides by extension
	schema   *schema.Schema // the dataset's, for CSV headers

	// Results, kept by the acknowledger.
	applied, created, rejected, expired, merged int
	releasedAt                                  int      // applied when the store's maps were last released
	rejections                                  []string // the first few, "file:line: reason"
}

const maxRejectionsShown = 5

// run loads files. It returns the first fatal error; ctx ending stops it
// after the chunks already taken by the store.
func (l *loader) run(ctx context.Context, files []string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers)
	queue := make(chan submitted, inFlight)
	var wg sync.WaitGroup

	// The reader is not waited for: on an interrupt it may be blocked
	// reading standard input, and everything downstream stops on ctx.
	go func() {
		defer close(ordered)
		defer close(work)
		err := l.read(ctx, files, func(c *chunk) bool {
			// work first: a chunk in ordered must reach a decoder, or
			// the submitter would wait for it forever.
			for _, ch := range []chan *chunk{work, ordered} {
				select {
				case ch <- c:
				case <-ctx.Done():
					return false
				}
			}
			return true
		})
		if err != nil {
			cancel(err)
		}
	}()
	for range workers {
		wg.Go(func() {
			for {
				select {
				case c, ok := <-work:
					if !ok {
						return
					}
					c.batch, c.err = l.d.Prepare(l.dataset, c.lines)
					close(c.ready)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Go(func() {
		defer close(queue)
		for {
			var c *chunk
			select {
			case c = <-ordered:
			case <-ctx.Done():
			}
			if c == nil {
				return // input done, or stopped
			}
			select {
			case <-c.ready:
			case <-ctx.Done():
				return
			}
			if c.err != nil {
				cancel(c.err)
				return
			}
			p, err := l.d.Submit(ctx, c.batch)
			if err != nil {
				cancel(err)
				return
			}
			queue <- submitted{c, p} // the acknowledger drains queue to the end
		}
	})

	acking := true
	for s := range queue {
		res, err := s.p.Wait(ctx)
		if err != nil {
			// Later chunks may still become durable, but the input is
			// no longer durable as a prefix: stop acknowledging.
			acking = false
			cancel(err)
			continue
		}
		l.merged += res.Merged
		l.account(s.c, res.Applied, res.Created, res.Expired, res.Errors)
		if acking && l.ack != nil {
			fmt.Fprintf(l.ack, "ACK %d\n", s.c.end)
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// account adds a chunk's outcome to the totals.
func (l *loader) account(c *chunk, applied, created, expired int, errs []engine.ItemError) {
	l.applied += applied
	l.created += created
	l.expired += expired
	bad := len(errs) + len(c.tooLong) + len(c.refused)
	l.rejected += bad
	for _, no := range c.tooLong {
		l.reject(fmt.Sprintf("%s:%d: record is longer than %d bytes", c.file, no, record.MaxLineBytes))
	}
	for _, r := range c.refused {
		l.reject(fmt.Sprintf("%s:%d: %v", c.file, r.no, r.err))
	}
	for _, e := range errs {
		l.reject(fmt.Sprintf("%s:%d: %v", c.file, c.nos[e.Index-1], e.Err))
	}
	l.progress.done(applied, bad)
}

func (l *loader) reject(msg string) {
	if len(l.rejections) < maxRejectionsShown {
		l.rejections = append(l.rejections, msg)
	}
}
