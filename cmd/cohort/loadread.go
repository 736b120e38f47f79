package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cohortdb/cohort/engine/record"
)

// read cuts files into chunks and passes them to emit, which reports
// whether to go on.
func (l *loader) read(ctx context.Context, files []string, emit func(*chunk) bool) error {
	records := 0
	for _, path := range files {
		if ctx.Err() != nil {
			return nil
		}
		more, err := l.readFile(path, &records, emit)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// readFile reads one file ("-": standard input) into chunks; records
// counts the records of the whole input.
func (l *loader) readFile(path string, records *int, emit func(*chunk) bool) (bool, error) {
	var r io.Reader = os.Stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return false, err
		}
		defer f.Close()
		r, name = f, path
	}
	// A CSV chunk's buffer is sized from the previous chunk: growing it by
	// appends copied every byte of the input about twice more. NDJSON
	// lines need no buffer of the chunk's: readLines hands out lines that
	// stay valid.
	last := 64 << 10
	newChunk := func(buffered bool) *chunk {
		c := &chunk{file: name, ready: make(chan struct{})}
		if buffered {
			c.buf = make([]byte, 0, min(last+last/4+4<<10, maxChunkBytes+record.MaxLineBytes))
		}
		return c
	}
	csv := fileFormat(path, l.format) == formatCSV
	c := newChunk(csv)
	var ends []int // CSV: end of each line in c.buf
	size := 0      // bytes of the chunk's lines
	flush := func() bool {
		if len(c.lines) == 0 && len(ends) == 0 && len(c.tooLong) == 0 && len(c.refused) == 0 {
			return true
		}
		start := 0
		for _, end := range ends {
			c.lines = append(c.lines, c.buf[start:end:end])
			start = end
		}
		c.end = *records
		last = len(c.buf)
		ok := emit(c)
		c, ends, size = newChunk(csv), nil, 0
		return ok
	}
	more := true
	// add takes one record line (or the reason it has none) of either
	// format; size is the input bytes it came from; stable says line
	// stays valid (else it is copied: the reader reuses its memory).
	add := func(no int, line []byte, bad error, read int, stable bool) bool {
		*records++
		l.progress.read(read)
		if bad != nil {
			c.refused = append(c.refused, refusedRow{no, bad})
			return true
		}
		if stable {
			c.lines = append(c.lines, line[:len(line):len(line)])
		} else {
			c.buf = append(c.buf, line...)
			ends = append(ends, len(c.buf))
		}
		size += len(line)
		c.nos = append(c.nos, no)
		if len(c.nos) == l.batch || size >= maxChunkBytes {
			more = flush()
		}
		return more
	}
	var err error
	if csv {
		err = readCSV(r, l.schema, l.dataset, func(no int, line []byte, bad error, read int) bool {
			return add(no, line, bad, read, false)
		})
	} else {
		err = readLines(r, func(no int, line []byte, tooLong bool) bool {
			if tooLong {
				*records++
				l.progress.read(len(line) + 1)
				c.tooLong = append(c.tooLong, no)
				return true
			}
			return add(no, line, nil, len(line)+1, true)
		})
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	if more {
		more = flush()
	}
	return more, nil
}

// readLines calls f with each non-blank line of r (without its line end)
// and its 1-based number. A line longer than a record may be is passed as
// tooLong, without its content, and skipped, rather than ending the load.
// f returns false to stop.
//
// Lines are read straight into large blocks that are never reused, so a
// line f gets stays valid (the loader logs and decodes it where it lies,
// instead of copying every input byte once more); a line that runs past
// the end of a block is moved to the next.
func readLines(r io.Reader, f func(no int, line []byte, tooLong bool) bool) error {
	const blockSize = 4 << 20
	buf := make([]byte, 0, blockSize)
	start := 0        // where the current line begins in buf
	skipping := false // the current line is too long: its bytes are dropped
	no := 0
	// emit ends the current line at buf[start:end]; it reports whether to
	// go on.
	emit := func(end int) bool {
		no++
		line := bytes.TrimRight(buf[start:end], "\r")
		if skipping || len(line) > record.MaxLineBytes {
			skipping = false
			return f(no, nil, true)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return true
		}
		return f(no, line, false)
	}
	for {
		if len(buf) == cap(buf) {
			// Move the unfinished line to a new block; an over-long one
			// keeps nothing.
			rest := buf[start:]
			if skipping {
				rest = nil
			}
			next := make([]byte, len(rest), max(blockSize, 2*len(rest)))
			copy(next, rest)
			buf, start = next, 0
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		scan := len(buf)
		buf = buf[:len(buf)+n]
		for {
			i := bytes.IndexByte(buf[scan:], '\n')
			if i < 0 {
				break
			}
			end := scan + i
			if !emit(end) {
				return nil
			}
			start, scan = end+1, end+1
		}
		if !skipping && len(bytes.TrimRight(buf[start:], "\r")) > record.MaxLineBytes {
			// Too long already: drop what is held of it and the rest up
			// to its newline.
			skipping = true
			buf = buf[:start]
		}
		switch {
		case errors.Is(err, io.EOF):
			if start < len(buf) || skipping {
				emit(len(buf))
			}
			return nil
		case err != nil:
			return err
		}
	}
}
