package engine

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// LoadOptions tune ApplyNDJSON.
type LoadOptions struct {
	// BatchSize is the number of lines decoded and applied together; one
	// snapshot is published per batch. 0 means 4096.
	BatchSize int
	// Decoders is the number of goroutines decoding JSON in parallel
	// (decoding costs more than applying). 0 means GOMAXPROCS.
	Decoders int
	// PublishEvery is how many applied records may wait before readers
	// see them; a snapshot is always published at the end. 0 means 2^20
	// or an eighth of the dataset's rows, whichever is more (see Bulk:
	// the callers are bulk paths, recovery's replay, loads of files, the
	// benchmark).
	PublishEvery int
	// Progress, if set, is called after each batch with the lines read so far.
	Progress func(lines int)
}

// chunk is a batch of raw lines on its way through the decode pipeline.
type chunk struct {
	buf   []byte // the lines, back to back
	ends  []int  // end offset of each line in buf
	nos   []int  // 1-based line numbers
	ups   []record.Update
	upNos []int
	errs  []ItemError
	arena record.Arena // the arrays of ups (record.DecodeIn)
	done  chan struct{}
}

// reset empties c for the next lines, keeping its arrays. A chunk comes
// back once it is applied: a record owns its strings (record.Decode
// copies what it keeps out of the line), and applying one keeps none of
// its Update, so nothing still reads the chunk's arrays.
func (c *chunk) reset() {
	c.buf, c.ends, c.nos = c.buf[:0], c.ends[:0], c.nos[:0]
	clear(c.ups) // the records' values may go
	c.ups, c.upNos, c.errs = c.ups[:0], c.upNos[:0], c.errs[:0]
	c.arena.Reset()
	c.done = make(chan struct{})
}

// ApplyNDJSON reads ingest lines from r and applies them: lines are
// decoded in parallel and applied in order, one batch at a time. A line
// that fails is reported with its 1-based line number and changes
// nothing; the others apply. Blank lines are skipped. The error is for
// the reader itself failing; what was applied before that stays applied.
func (d *Dataset) ApplyNDJSON(r io.Reader, opts LoadOptions) (Result, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 4096
	}
	bulk := d.Bulk(opts.PublishEvery)
	if opts.Decoders <= 0 {
		opts.Decoders = runtime.GOMAXPROCS(0)
	}
	work := make(chan *chunk, opts.Decoders)
	ordered := make(chan *chunk, 2*opts.Decoders)
	var wg sync.WaitGroup
	for range opts.Decoders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				decodeChunk(c, d.Schema())
			}
		}()
	}
	// Applied chunks go back to splitLines (see chunk.reset): a bulk
	// load then allocates its line buffers and record arrays a few
	// times, not once per 4096 lines (8 of a 10M load's 26 GB: the
	// garbage the collector chases near a memory limit).
	free := make(chan *chunk, cap(ordered)+opts.Decoders+1)
	var readErr error
	go func() {
		defer close(ordered)
		defer close(work)
		readErr = splitLines(r, opts.BatchSize, free, func(c *chunk) {
			work <- c
			ordered <- c
		})
	}()
	var res Result
	lines := 0
	for c := range ordered {
		<-c.done
		br := bulk.Apply(c.ups)
		for i := range br.Errors {
			br.Errors[i].Index = c.upNos[br.Errors[i].Index]
		}
		res.merge(br)
		res.Errors = append(res.Errors, c.errs...)
		if len(c.nos) > 0 {
			lines = c.nos[len(c.nos)-1]
		}
		if opts.Progress != nil {
			opts.Progress(lines)
		}
		c.reset()
		select {
		case free <- c:
		default:
		}
	}
	wg.Wait()
	bulk.Finish()
	sortErrors(res.Errors)
	return res, readErr
}

// sortErrors puts errors in line order: they come from two places
// (decode and apply).
func sortErrors(errs []ItemError) {
	slices.SortStableFunc(errs, func(a, b ItemError) int { return cmp.Compare(a.Index, b.Index) })
}

func decodeChunk(c *chunk, s *schema.Schema) {
	defer close(c.done)
	// Most lines decode: size the results once rather than by append
	// (a recycled chunk has them already).
	if cap(c.ups) < len(c.ends) {
		c.ups = make([]record.Update, 0, len(c.ends))
		c.upNos = make([]int, 0, len(c.ends))
	}
	start := 0
	for i, end := range c.ends {
		line := c.buf[start:end]
		start = end
		u, err := record.DecodeIn(line, s, &c.arena)
		if err != nil {
			c.errs = append(c.errs, ItemError{Index: c.nos[i], Err: err})
			continue
		}
		c.ups = append(c.ups, u)
		c.upNos = append(c.upNos, c.nos[i])
	}
}

// splitLines cuts r into chunks of up to n non-blank lines, reusing the
// chunks that come back on free.
func splitLines(r io.Reader, n int, free <-chan *chunk, emit func(*chunk)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), record.MaxLineBytes+1)
	// A new chunk's arrays start at the previous chunk's sizes: grown
	// from nil by append (a quarter at a time once large), a chunk of
	// 4096 records allocated about five times its bytes, most of a bulk
	// load's allocation (39 GB for 10M generated records), and the
	// collector's work near a memory limit. Applied chunks come back on
	// free and are filled again.
	hint, lines := 0, min(n, 4096) // (a huge batch size grows as before)
	newChunk := func() *chunk {
		select {
		case c := <-free:
			return c
		default:
		}
		return &chunk{
			done: make(chan struct{}),
			buf:  make([]byte, 0, hint+hint/16),
			ends: make([]int, 0, lines),
			nos:  make([]int, 0, lines),
		}
	}
	c := newChunk()
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) > 0 && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
		}
		if len(b) == 0 {
			continue
		}
		c.buf = append(c.buf, b...)
		c.ends = append(c.ends, len(c.buf))
		c.nos = append(c.nos, line)
		if len(c.nos) == n {
			hint = len(c.buf)
			emit(c)
			c = newChunk()
		}
	}
	if len(c.nos) > 0 {
		emit(c)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", line+1, record.MaxLineBytes)
		}
		return fmt.Errorf("reading ingest lines: %w", err)
	}
	return nil
}
