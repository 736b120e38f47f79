package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progress reports a load as it goes: on a terminal, one status line
// redrawn in place; otherwise (a log, a pipe) a plain line every few
// seconds.
type progress struct {
	w        io.Writer
	terminal bool
	total    int64 // input bytes, -1 if unknown
	start    time.Time

	bytes, records, applied, rejected atomic.Int64

	quit chan struct{}
	wg   sync.WaitGroup
}

// isTerminal reports whether w is a character device (a terminal), the
// only place where redrawing a line with \r makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer, total int64) *progress {
	p := &progress{w: w, terminal: isTerminal(w), total: total, start: time.Now(), quit: make(chan struct{})}
	every := 5 * time.Second
	if p.terminal {
		every = 200 * time.Millisecond
	}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.print()
			case <-p.quit:
				return
			}
		}
	})
	return p
}

func (p *progress) read(bytes int) {
	p.bytes.Add(int64(bytes))
	p.records.Add(1)
}

func (p *progress) done(applied, rejected int) {
	p.applied.Add(int64(applied))
	p.rejected.Add(int64(rejected))
}

func (p *progress) line() string {
	el := time.Since(p.start)
	applied := p.applied.Load()
	rate := float64(applied) / max(el.Seconds(), 1e-9)
	s := fmt.Sprintf("read %d records, applied %d, rejected %d, %.0f records/s", p.records.Load(), applied, p.rejected.Load(), rate)
	if b := p.bytes.Load(); p.total > 0 && b > 0 {
		pct := min(100, 100*float64(b)/float64(p.total))
		left := time.Duration(float64(el) * float64(p.total-b) / float64(b))
		s += fmt.Sprintf(", %.0f%%, ETA %s", pct, max(0, left).Round(time.Second))
	}
	return s
}

func (p *progress) print() {
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.line())
		return
	}
	fmt.Fprintln(p.w, p.line())
}

// stop ends the reports; on a terminal it clears the status line so the
// summary starts on a clean one.
func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
	if p.terminal {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
