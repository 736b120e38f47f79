package storage

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Every write goes through one committer goroutine. It takes a group of
// queued requests, stages them in one Badger transaction and commits it:
// Badger fsyncs the commit (SyncWrites), and every request of the group
// is acknowledged only after that. Concurrent writers therefore share one
// write and one fsync, and the committer is the only writer of the
// catalog and the sequence counters, so they need no locks and no
// conflict checks.

// request is one write waiting for the committer.
type request struct {
	// state moves from pending to taken (by the committer) or canceled
	// (by a caller whose context ended first). A taken request is
	// written whatever its caller does next, so the caller must wait for
	// it: it may be durable.
	state atomic.Int32
	stage func(*stager) error
	size  int // approximate bytes, to bound a group

	done chan struct{}
	err  error
	seq  uint64 // first sequence of an append, once done
}

const (
	pending int32 = iota
	taken
	canceled
)

// ErrClosed is returned for writes to a closed store.
var ErrClosed = errors.New("storage: store is closed")

// submit queues a request. It fails only if the store is closed or ctx
// ends before the queue has room; once submitted, the request must be
// waited for.
func (s *Store) submit(ctx context.Context, r *request) error {
	r.done = make(chan struct{})
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait waits for a submitted request. If ctx ends before the committer
// has taken the request, the request is withdrawn and ctx's error
// returned: nothing was written. Once taken, the request is waited for
// regardless of ctx, because it may already be durable.
func (r *request) wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if r.cancel(ctx.Err()) {
			return ctx.Err()
		}
		<-r.done
		return r.err
	}
}

// cancel withdraws a request the committer has not taken and finishes it
// with err; it reports whether it did. The committer skips a withdrawn
// request, so exactly one side finishes each request.
func (r *request) cancel(err error) bool {
	if !r.state.CompareAndSwap(pending, canceled) {
		return false
	}
	r.finish(err)
	return true
}

// do submits a request and waits for it.
func (s *Store) do(ctx context.Context, r *request) error {
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return r.wait(ctx)
}

func (r *request) finish(err error) {
	r.err = err
	close(r.done)
}

// commitLoop is the committer goroutine. It exits when the queue is
// closed and drained.
func (s *Store) commitLoop() {
	defer close(s.committerDone)
	for {
		first, ok := <-s.queue
		if !ok {
			return
		}
		group := s.collect(first)
		s.commitGroup(group)
	}
}

// collect gathers a group: everything already queued and, within the
// commit window, whatever arrives, up to a count and a size.
func (s *Store) collect(first *request) []*request {
	group := make([]*request, 0, 16)
	size := 0
	add := func(r *request) {
		if r.state.CompareAndSwap(pending, taken) {
			group = append(group, r)
			size += r.size
		}
	}
	add(first)
	full := func() bool { return len(group) >= maxGroupRequests || size >= s.groupBytes }
	var timer <-chan time.Time
	if s.opts.CommitWindow > 0 {
		timer = time.After(s.opts.CommitWindow)
	}
	for !full() {
		select {
		case r, ok := <-s.queue:
			if !ok {
				return group
			}
			add(r)
			continue
		default:
		}
		if timer == nil {
			break
		}
		select {
		case r, ok := <-s.queue:
			if !ok {
				return group
			}
			add(r)
		case <-timer:
			timer = nil
		}
	}
	return group
}

// commitGroup writes a group in as few transactions as fit, in order.
func (s *Store) commitGroup(group []*request) {
	for len(group) > 0 {
		n := s.commitPrefix(group)
		group = group[n:]
	}
}

// stager is what a request's stage function works with: the transaction
// and the catalog as it will be once the transaction commits.
type stager struct {
	txn *badger.Txn
	cat *catalog
	// after runs once the transaction has committed (a drop removes the
	// dataset's keys then).
	after []func()
	// touched are the datasets whose metadata must be written.
	touched map[string]bool
}

// writeError marks an error from the transaction itself (as opposed to a
// request refused before it wrote anything): the transaction may hold
// part of the request and cannot be committed as it is.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

func (st *stager) set(key, value []byte) error {
	if err := st.txn.Set(key, value); err != nil {
		return writeError{err}
	}
	return nil
}

func (st *stager) delete(key []byte) error {
	if err := st.txn.Delete(key); err != nil {
		return writeError{err}
	}
	return nil
}

// commitPrefix commits as many requests from the front of group as fit in
// one transaction and finishes them; it returns how many it finished. A
// request refused by its own checks fails alone. A request that does not
// fit ends the transaction before it (and goes first in the next), unless
// it is alone, when it fails as too large.
func (s *Store) commitPrefix(group []*request) int {
	if s.broken != nil {
		for _, r := range group {
			r.finish(s.broken)
		}
		return len(group)
	}
	if err := s.checkSpace(); err != nil {
		for _, r := range group {
			r.finish(err)
		}
		return len(group)
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	st := &stager{txn: txn, cat: s.catalog().clone(), touched: map[string]bool{}}
	refused := map[*request]error{}
	staged := 0
	for i, r := range group {
		err := r.stage(st)
		if err == nil {
			err = st.writeMeta()
		}
		var we writeError
		switch {
		case err == nil:
			staged++
			continue
		case !errors.As(err, &we):
			refused[r] = err
			continue
		}
		// The transaction holds part of r: start again without it.
		txn.Discard()
		if staged > 0 {
			s.commitGroup(group[:i])
			if !errors.Is(err, badger.ErrTxnTooBig) {
				r.finish(fmt.Errorf("cannot write: %w", err))
				return i + 1
			}
			return i
		}
		for _, q := range group[:i] {
			q.finish(refused[q])
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			err = fmt.Errorf("one write of %d bytes is too large for a transaction (at most %d): split it", r.size, s.groupBytes)
		}
		r.finish(fmt.Errorf("cannot write: %w", err))
		return i + 1
	}
	if staged > 0 {
		if err := txn.Commit(); err != nil {
			// Part of the transaction may have reached the disk; what
			// did will be replayed after a restart, but this process
			// can no longer say what is durable. Refuse further writes
			// rather than hand out sequences twice.
			s.broken = fmt.Errorf("storage: a write failed and the store accepts no more writes until cohort restarts: %w", err)
			for _, r := range group {
				if e, ok := refused[r]; ok {
					r.finish(e)
				} else {
					r.finish(s.broken)
				}
			}
			return len(group)
		}
		s.cat.Store(st.cat)
		s.commits.Add(1)
		s.writes.Add(uint64(staged))
	}
	for _, r := range group {
		r.finish(refused[r])
	}
	for _, f := range st.after {
		f()
	}
	return len(group)
}

// writeMeta writes the metadata of the datasets touched so far. Writing it
// after every request (rather than once per transaction) keeps every
// staged prefix of a transaction complete; Badger keeps the last write of
// a key.
func (st *stager) writeMeta() error {
	for name := range st.touched {
		d, ok := st.cat.get(name)
		if !ok {
			continue
		}
		k := metaKey(d.ID)
		if err := st.set(k, seal(k, kindMeta, metaRecord{NextSeq: d.NextSeq, AppliedThrough: d.AppliedThrough, Generation: d.Checkpoint}.encode())); err != nil {
			return err
		}
	}
	clear(st.touched)
	return nil
}
