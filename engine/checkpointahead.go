package engine

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// aheadPair is one checkpoint pair as decodeAhead hands it over: a field's
// bitmap (and, for a tag or event value, the value's name) decoded, or
// the decoding error; any other value copied.
type aheadPair struct {
	key  string
	val  []byte // a copy, for keys that hold no bitmap
	name string
	b    *roaring.Bitmap
	err  error // this pair's decoding error, reported when it is loaded
}

// ahead reads a checkpoint and decodes its bitmaps on its own goroutine,
// a few pairs ahead of the loader, so that decoding (a fifth of a large
// start) runs beside the loader's indexing and id table. Pairs come out
// in the reader's order; a pair's error surfaces when the loader reaches
// it, as if it decoded the pair itself.
type ahead struct {
	pairs chan aheadItem
	done  chan struct{}
	wg    sync.WaitGroup
}

type aheadItem struct {
	p   *aheadPair
	err error // the reader's error (io.EOF at the end)
}

// aheadDepth is how many decoded pairs may wait for the loader.
const aheadDepth = 16

func decodeAhead(r CheckpointReader) *ahead {
	a := &ahead{pairs: make(chan aheadItem, aheadDepth), done: make(chan struct{})}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(a.pairs)
		for {
			key, val, err := r.Next()
			var item aheadItem
			if err != nil {
				item.err = err
			} else {
				item.p = decodePair(key, val)
			}
			select {
			case a.pairs <- item:
			case <-a.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return a
}

// decodePair decodes the bitmap of a field's pair ("f/…"); other values
// are copied, since the reader's buffer is reused by its next call.
func decodePair(key string, val []byte) *aheadPair {
	p := &aheadPair{key: key}
	rest, ok := strings.CutPrefix(key, "f/")
	if !ok {
		p.val = bytes.Clone(val)
		return p
	}
	_, rest, _ = strings.Cut(rest, "/")
	if kind, _, _ := strings.Cut(rest, "/"); kind == "v" || kind == "a" {
		name, v, err := named(val)
		if err != nil {
			p.err = err
			return p
		}
		p.name, val = name, v
	}
	p.b, p.err = decodeBitmap(val)
	return p
}

// next returns the next pair, or the reader's error (io.EOF at the end).
func (a *ahead) next() (*aheadPair, error) {
	it, ok := <-a.pairs
	if !ok {
		return nil, io.EOF
	}
	return it.p, it.err
}

// stop ends the goroutine, if it still runs, and waits for it: the
// reader is the caller's again.
func (a *ahead) stop() {
	close(a.done)
	a.wg.Wait()
}
