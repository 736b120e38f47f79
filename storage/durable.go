package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// Durable is the write path of an engine backed by a store: a batch is
// validated, written to the log, applied to the engine and only then
// acknowledged. A record is either logged and applied or neither: if the
// log write fails, nothing of the batch is applied.
//
// Records reach the engine in log order, whatever the number of
// concurrent writers, so that replay rebuilds exactly the state that was
// acknowledged. While a Durable is in use, write to its store only
// through it.
type Durable struct {
	store *Store
	eng   *engine.Engine
	opts  DurableOptions

	ddl  sync.Mutex // serialises Create and Drop
	mu   sync.Mutex // guards sets
	sets map[string]*durableSet
	wg   sync.WaitGroup // pending applies
	// scratch holds *scratch buffers for Prepare's write-ahead encoding,
	// one per batch being prepared at a time.
	scratch sync.Pool
}

// durableSet is the write state of one dataset.
type durableSet struct {
	name string
	id   uint64
	ds   *engine.Dataset

	schemaMu sync.Mutex // serialises AddField: check, log, apply

	mu   sync.Mutex
	cond *sync.Cond
	turn uint64 // the sequence to apply next
	// applying is set while an inTurn function runs: turn moves only
	// after it, so Checkpoint waits for it to be clear to see a state
	// that is exactly "every sequence before turn".
	applying bool

	// bulk applies the batches when the options let records wait before
	// a publication (nil: every batch is published); it is used in turn.
	bulk *engine.Bulk
}

// DurableOptions tune a Durable.
type DurableOptions struct {
	// Bulk lets applied records wait before readers see them, published
	// as engine.Bulk publishes (every PublishEvery records, or by the
	// dataset's size when PublishEvery is 0), and at Checkpoint and
	// Close. Bulk loads set it: publishing costs a copy-on-write clone of
	// every bitmap the batch touched. Without Bulk or PublishEvery every
	// batch is published, so a reader sees a batch as soon as it is
	// acknowledged.
	Bulk bool
	// PublishEvery, when above zero, publishes every that many applied
	// records (Bulk is then implied).
	PublishEvery int
}

// NewDurable returns the write path over s and e. e must hold the datasets
// of s, as Recover leaves it.
func NewDurable(s *Store, e *engine.Engine) *Durable {
	return NewDurableWith(s, e, DurableOptions{})
}

// NewDurableWith is NewDurable with options.
func NewDurableWith(s *Store, e *engine.Engine, opts DurableOptions) *Durable {
	return &Durable{store: s, eng: e, opts: opts, sets: map[string]*durableSet{}}
}

// Engine returns the engine the Durable applies to.
func (d *Durable) Engine() *engine.Engine { return d.eng }

// Store returns the store the Durable logs to.
func (d *Durable) Store() *Store { return d.store }

// Close waits for batches that were logged to be applied and publishes
// what is still unpublished. It does not close the store.
func (d *Durable) Close() {
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range d.sets {
		if st.bulk != nil && st.bulk.Unpublished() {
			st.bulk.Finish()
		}
	}
}

func newDurableSet(name string, id uint64, ds *engine.Dataset, next uint64) *durableSet {
	st := &durableSet{name: name, id: id, ds: ds, turn: next}
	st.cond = sync.NewCond(&st.mu)
	return st
}

// set returns the write state of a dataset, building it on first use.
func (d *Durable) set(name string) (*durableSet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	info, ok := d.store.Dataset(name)
	if !ok {
		delete(d.sets, name)
		return nil, fmt.Errorf("dataset %s: %w", name, engine.ErrNotFound)
	}
	if st, ok := d.sets[name]; ok && st.id == info.ID {
		return st, nil
	}
	ds, err := d.eng.Dataset(name)
	if err != nil {
		return nil, fmt.Errorf("dataset %s is stored but not in the engine: recover it first: %w", name, err)
	}
	st := newDurableSet(name, info.ID, ds, info.NextSeq)
	d.sets[name] = st
	return st, nil
}

// inTurn runs f once every sequence before seq has been applied, then
// marks seq..seq+n-1 applied. Log order is the order of the committer's
// queue; this makes it the order of application too.
func (st *durableSet) inTurn(seq, n uint64, f func()) {
	st.mu.Lock()
	for st.turn < seq {
		st.cond.Wait()
	}
	st.applying = true
	st.mu.Unlock()
	f()
	st.mu.Lock()
	st.applying = false
	st.turn = max(st.turn, seq+n)
	st.cond.Broadcast()
	st.mu.Unlock()
}

// Create stores a new dataset and creates it in the engine.
func (d *Durable) Create(ctx context.Context, name string, sc *schema.Schema) (*engine.Dataset, error) {
	d.ddl.Lock()
	defer d.ddl.Unlock()
	if _, err := d.eng.Dataset(name); err == nil {
		return nil, fmt.Errorf("cannot create %s: %w", name, engine.ErrExists)
	}
	if err := d.store.CreateDataset(ctx, name, sc); err != nil {
		return nil, err
	}
	ds, err := d.eng.Create(name, sc)
	if err != nil {
		return nil, err
	}
	if _, err := d.set(name); err != nil {
		return nil, err
	}
	return ds, nil
}

// Drop removes a dataset from the store and the engine.
func (d *Durable) Drop(ctx context.Context, name string) error {
	d.ddl.Lock()
	defer d.ddl.Unlock()
	if err := d.store.DropDataset(ctx, name); err != nil {
		return err
	}
	d.mu.Lock()
	delete(d.sets, name)
	d.mu.Unlock()
	if err := d.eng.Drop(name); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	return nil
}

// ErrSchemaChange marks a schema change the current schema refuses (a
// field that exists, a bad declaration), found under the schema lock: a
// caller that checked before may lose a race with another change.
var ErrSchemaChange = errors.New("invalid schema change")

// AddField adds a field to a dataset's schema, durably and in sequence
// with its records.
func (d *Durable) AddField(ctx context.Context, dataset string, f schema.Field) error {
	st, err := d.set(dataset)
	if err != nil {
		return err
	}
	st.schemaMu.Lock()
	defer st.schemaMu.Unlock()
	// Checked here, under schemaMu, so the logged change cannot fail on
	// replay.
	if _, err := st.ds.Schema().WithField(f); err != nil {
		return fmt.Errorf("cannot add field %s to %s: %w (%w)", f.Name, dataset, err, ErrSchemaChange)
	}
	r, err := d.store.addFieldRequest(dataset, st.id, f)
	if err != nil {
		return err
	}
	if err := d.store.do(ctx, r); err != nil {
		return fmt.Errorf("cannot add field %s to %s: %w", f.Name, dataset, err)
	}
	st.inTurn(r.seq, 1, func() { err = st.ds.AddField(f) })
	return err
}

// Batch is a batch of ingest lines decoded and checked against a
// dataset's schema, ready to be logged and applied.
type Batch struct {
	st       *durableSet
	lines    [][]byte // the lines that decoded, in order
	value    []byte   // their write-ahead entry (recordsValue)
	ups      []record.Update
	at       []int              // 1-based input position of each line that decoded
	rejected []engine.ItemError // lines that did not decode; Index is the 1-based input position
}

// Lines is the number of lines that decoded and will be logged.
func (b *Batch) Lines() int { return len(b.lines) }

// Prepare decodes and validates lines against the dataset's current
// schema. Lines that fail are reported in the result with their 1-based
// position in lines and are not logged. Prepare does not write; batches
// can be prepared in parallel.
func (d *Durable) Prepare(dataset string, lines [][]byte) (*Batch, error) {
	st, err := d.set(dataset)
	if err != nil {
		return nil, err
	}
	// Sized for every line up front: a chunk is thousands of lines, and
	// growing three slices by doubling copied each Update several times.
	b := &Batch{st: st, lines: make([][]byte, 0, len(lines)), ups: make([]record.Update, 0, len(lines)), at: make([]int, 0, len(lines))}
	sc := st.ds.Schema()
	for i, l := range lines {
		u, err := record.Decode(l, sc)
		if err != nil {
			b.rejected = append(b.rejected, engine.ItemError{Index: i + 1, Err: err})
			continue
		}
		b.lines = append(b.lines, l)
		b.ups = append(b.ups, u)
		b.at = append(b.at, i+1)
	}
	if len(b.lines) > 0 {
		sc, ok := d.scratch.Get().(*scratch)
		if !ok {
			sc = &scratch{}
		}
		b.value, err = recordsValue(dataset, b.lines, sc)
		d.scratch.Put(sc)
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Pending is a submitted batch.
type Pending struct {
	req  *request
	done chan struct{}
	res  engine.Result
	err  error
}

// Submit logs a prepared batch and, once it is durable, applies it, in
// the background; Wait for the outcome. Batches of one dataset are logged
// and applied in the order of their Submit calls, so a caller that
// submits in input order gets input order even with several batches in
// flight (which is what lets their fsyncs be shared). An error means
// nothing was logged.
func (d *Durable) Submit(ctx context.Context, b *Batch) (*Pending, error) {
	p := &Pending{done: make(chan struct{})}
	if len(b.lines) == 0 {
		p.res.Errors = b.rejected
		close(p.done)
		return p, nil
	}
	r := d.store.appendRequest(b.st.name, b.st.id, b.value, len(b.lines))
	if err := d.store.submit(ctx, r); err != nil {
		return nil, fmt.Errorf("cannot append to %s: %w", b.st.name, err)
	}
	p.req = r
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(p.done)
		<-r.done
		if r.err != nil {
			p.err = fmt.Errorf("cannot append to %s: %w", b.st.name, r.err)
			return
		}
		var res engine.Result
		b.st.inTurn(r.seq, uint64(len(b.lines)), func() { res = d.apply(b.st, b.ups) })
		for i := range res.Errors {
			res.Errors[i].Index = b.at[res.Errors[i].Index]
		}
		res.Errors = append(res.Errors, b.rejected...)
		slices.SortStableFunc(res.Errors, func(x, y engine.ItemError) int { return cmp.Compare(x.Index, y.Index) })
		p.res = res
	}()
	return p, nil
}

// apply applies a logged batch, publishing by the options' policy. It
// runs in turn, so the bulk path needs no other lock.
func (d *Durable) apply(st *durableSet, ups []record.Update) engine.Result {
	if !d.opts.Bulk && d.opts.PublishEvery <= 0 {
		return st.ds.Apply(ups)
	}
	if st.bulk == nil {
		st.bulk = st.ds.Bulk(d.opts.PublishEvery)
	}
	return st.bulk.Apply(ups)
}

// Wait returns the batch's result once it is logged and applied. If ctx
// ends before the committer has taken the batch, it is withdrawn (nothing
// logged, nothing applied) and ctx's error returned; after that, Wait
// waits for the outcome, because the batch may already be durable.
func (p *Pending) Wait(ctx context.Context) (engine.Result, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		if p.req != nil {
			p.req.cancel(ctx.Err())
		}
		<-p.done
	}
	return p.res, p.err
}

// Ingest prepares, logs and applies lines: when it returns without error,
// every applied line is durable.
func (d *Durable) Ingest(ctx context.Context, dataset string, lines [][]byte) (engine.Result, error) {
	b, err := d.Prepare(dataset, lines)
	if err != nil {
		return engine.Result{}, err
	}
	p, err := d.Submit(ctx, b)
	if err != nil {
		return engine.Result{}, err
	}
	return p.Wait(ctx)
}

// Checkpoint writes a checkpoint of dataset and drops the log it covers.
// Between two applies (no apply of the dataset runs while it holds the
// turn lock), it publishes everything applied and takes the snapshot and
// the last applied sequence together, so they agree; the checkpoint is
// then written outside the turn, while ingest goes on.
func (d *Durable) Checkpoint(ctx context.Context, dataset string) error {
	st, err := d.set(dataset)
	if err != nil {
		return fmt.Errorf("cannot checkpoint: %w", err)
	}
	st.mu.Lock()
	for st.applying {
		st.cond.Wait()
	}
	if st.bulk != nil {
		st.bulk.Publish()
	} else {
		st.ds.Publish()
	}
	sn, through := st.ds.Snapshot(), st.turn-1
	st.mu.Unlock()
	if info, ok := d.store.Dataset(dataset); ok && info.Checkpoint != 0 && info.AppliedThrough == through {
		return nil // nothing new since the last checkpoint
	}
	return d.store.Checkpoint(ctx, dataset, sn, through)
}
