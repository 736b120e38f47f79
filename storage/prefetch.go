package storage

import (
	"io"
	"sync"

	"github.com/cohortdb/cohort/engine"
)

// prefetcher runs a checkpoint reader's Next on its own goroutine, up to
// depth values ahead, so that reading the store (Badger's iteration,
// value checksums, envelopes, references into older generations) runs on
// one core while the engine decodes and indexes on another. Values are
// copied into a ring of depth+2 buffers that go round between the two: a
// value stays valid until the next call to Next, as engine.CheckpointReader
// requires, and a start allocates no buffer per value.
type prefetcher struct {
	items chan prefetched
	free  chan []byte
	done  chan struct{}
	wg    sync.WaitGroup
	last  []byte // the buffer of the value Next returned last
}

type prefetched struct {
	key string
	val []byte
	err error
}

// prefetch starts reading r ahead. The caller must call stop before
// reading anything else r holds.
func prefetch(r engine.CheckpointReader, depth int) *prefetcher {
	p := &prefetcher{items: make(chan prefetched, depth), free: make(chan []byte, depth+2), done: make(chan struct{})}
	for range depth + 2 {
		p.free <- nil
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.items)
		for {
			var buf []byte
			select {
			case buf = <-p.free:
			case <-p.done:
				return
			}
			key, val, err := r.Next()
			if err == nil {
				buf = append(buf[:0], val...)
			}
			select {
			case p.items <- prefetched{key, buf, err}:
			case <-p.done:
				return
			}
			if err != nil {
				return // io.EOF included: the reader is done
			}
		}
	}()
	return p
}

// Next implements engine.CheckpointReader.
func (p *prefetcher) Next() (string, []byte, error) {
	if p.last != nil {
		// Never blocks: the free channel holds every buffer there is.
		p.free <- p.last
		p.last = nil
	}
	it, ok := <-p.items
	switch {
	case !ok:
		return "", nil, io.EOF
	case it.err != nil:
		return "", nil, it.err
	}
	p.last = it.val
	return it.key, it.val, nil
}

// stop ends the reading goroutine, if it still runs, and waits for it.
func (p *prefetcher) stop() {
	close(p.done)
	p.wg.Wait()
}
