package main

import (
	"bufio"
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
	// A chunk's buffer is sized from the previous chunk: growing it by
	// appends copied every byte of the input about twice more.
	last := 64 << 10
	newChunk := func() *chunk {
		size := min(last+last/4+4<<10, maxChunkBytes+record.MaxLineBytes)
		return &chunk{file: name, ready: make(chan struct{}), buf: make([]byte, 0, size)}
	}
	c := newChunk()
	var ends []int // end of each line in c.buf
	flush := func() bool {
		if len(ends) == 0 && len(c.tooLong) == 0 && len(c.refused) == 0 {
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
		c, ends = newChunk(), nil
		return ok
	}
	more := true
	// add takes one record line (or the reason it has none) of either
	// format; size is the input bytes it came from.
	add := func(no int, line []byte, bad error, size int) bool {
		*records++
		l.progress.read(size)
		if bad != nil {
			c.refused = append(c.refused, refusedRow{no, bad})
			return true
		}
		// Copied: the reader's slice is only valid until its next read.
		c.buf = append(c.buf, line...)
		ends = append(ends, len(c.buf))
		c.nos = append(c.nos, no)
		if len(ends) == l.batch || len(c.buf) >= maxChunkBytes {
			more = flush()
		}
		return more
	}
	var err error
	if fileFormat(path, l.format) == formatCSV {
		err = readCSV(r, l.schema, l.dataset, add)
	} else {
		err = readLines(r, func(no int, line []byte, tooLong bool) bool {
			if tooLong {
				*records++
				l.progress.read(len(line) + 1)
				c.tooLong = append(c.tooLong, no)
				return true
			}
			return add(no, line, nil, len(line)+1)
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
func readLines(r io.Reader, f func(no int, line []byte, tooLong bool) bool) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var long []byte
	no := 0
	for {
		part, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Part of a line longer than the buffer: gather it, up to
			// the limit.
			if len(long) <= record.MaxLineBytes {
				long = append(long, part...)
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		line := part
		if long != nil {
			line = append(long, part...)
			long = nil
		}
		if len(line) > 0 || err == nil {
			no++
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) > record.MaxLineBytes:
			if !f(no, nil, true) {
				return nil
			}
		case len(bytes.TrimSpace(line)) > 0:
			if !f(no, line, false) {
				return nil
			}
		}
		if err != nil {
			return nil // EOF
		}
	}
}
