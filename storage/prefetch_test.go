package storage

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// fakeReader yields n pairs from one reused buffer, then err.
type fakeReader struct {
	i, n int
	buf  []byte
	err  error
}

func (f *fakeReader) Next() (string, []byte, error) {
	if f.i == f.n {
		return "", nil, f.err
	}
	f.buf = fmt.Appendf(f.buf[:0], "value %d %0*d", f.i, f.i%50, 0)
	f.i++
	return fmt.Sprint("k", f.i-1), f.buf, nil
}

// TestPrefetch: the prefetcher yields the reader's pairs in order, each
// value intact until the next call although the reader reuses its
// buffer, then the reader's error (io.EOF or another; io.EOF on later
// calls); stopping early ends the goroutine.
func TestPrefetch(t *testing.T) {
	bad := errors.New("damaged")
	for _, end := range []error{io.EOF, bad} {
		p := prefetch(&fakeReader{n: 1000, err: end}, 4)
		for i := range 1000 {
			k, v, err := p.Next()
			want := fmt.Sprintf("value %d %0*d", i, i%50, 0)
			if err != nil || k != fmt.Sprint("k", i) || string(v) != want {
				t.Fatalf("pair %d: %q %q %v", i, k, v, err)
			}
		}
		for range 2 {
			if _, _, err := p.Next(); !errors.Is(err, end) && !(end == bad && errors.Is(err, io.EOF)) {
				t.Fatalf("after the last pair: %v, want %v", err, end)
			}
		}
		p.stop()
	}
	// Stopped after a few values, with the reader far from done.
	f := &fakeReader{n: 1 << 20, err: io.EOF}
	p := prefetch(f, 4)
	for range 3 {
		if _, _, err := p.Next(); err != nil {
			t.Fatal(err)
		}
	}
	p.stop()
	if f.i > 3+4+2 {
		t.Fatalf("the reader ran %d values ahead of a stopped prefetcher", f.i)
	}
}
