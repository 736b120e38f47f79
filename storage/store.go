package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Store is Cohort's data directory: one Badger database holding the
// schemas, write-ahead records and saved segments of every dataset. It is
// safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	db   *badger.DB
	cat  atomic.Pointer[catalog]

	// groupBytes bounds the payload of one group commit (Badger caps a
	// transaction at 15% of a memtable).
	groupBytes int
	// releaseEvery is how many checkpoint bytes recovery reads between
	// releases of the mapped files' pages (tests lower it).
	releaseEvery int
	// flushEvery is how many value bytes a checkpoint hands Badger
	// between flushes of its write batch (tests lower it).
	flushEvery int

	mu            sync.RWMutex // guards closed against sends on queue
	closed        bool
	queue         chan *request
	committerDone chan struct{}
	// broken is set by the committer (and read only by it) after a
	// commit failed; see commitPrefix.
	broken error

	commits, writes atomic.Uint64

	// checkpointMu serialises checkpoints: each picks the next
	// generation from the catalog and must not race another for it.
	checkpointMu sync.Mutex
	// writtenMu guards written; it is never held while waiting for
	// anything (the committer takes it after a drop).
	writtenMu sync.Mutex
	// written records, per dataset id, where each value of its current
	// checkpoint lives and a hash of it, so the next checkpoint writes
	// only what changed (see incremental.go).
	written map[uint64]*checkpointIndex
}

// Stats counts the store's work since Open.
type Stats struct {
	Commits uint64 // transactions committed (one fsync each)
	Writes  uint64 // requests they carried (appends, schema changes, segments)
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load()}
}

// ErrInUse is wrapped by Open when another process holds the directory.
var ErrInUse = errors.New("in use by another cohort process")

// formatRecord is the JSON payload of m/format.
type formatRecord struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
}

// Open opens (creating if needed) the data directory dir. Only one process
// may have a directory open: a second Open fails with ErrInUse.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data directory %s: %w", dir, err)
	}
	db, err := badger.Open(opts.badgerOptions(dir))
	if err != nil && strings.Contains(err.Error(), z.NewFile.Error()) {
		// A crash between Badger creating a memtable file and its first
		// write leaves the file empty; Open sizes it, then fails on it
		// (dgraph-io/badger#2207). Opened again, it is the empty
		// memtable it is. (Badger wraps the sentinel with %+v, not %w:
		// only its text survives.)
		db, err = badger.Open(opts.badgerOptions(dir))
	}
	if err != nil {
		if isLockError(err) {
			return nil, fmt.Errorf("data directory %s is %w", dir, ErrInUse)
		}
		return nil, fmt.Errorf("cannot open data directory %s: %w", dir, err)
	}
	s := &Store{
		dir:           dir,
		opts:          opts,
		db:            db,
		groupBytes:    int(opts.MemTableSize * 15 / 100),
		releaseEvery:  defaultReleaseEvery,
		flushEvery:    defaultFlushEvery,
		queue:         make(chan *request, maxGroupRequests),
		written:       map[uint64]*checkpointIndex{},
		committerDone: make(chan struct{}),
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot open data directory %s: %w", dir, err)
	}
	go s.commitLoop()
	return s, nil
}

// isLockError recognises Badger's directory lock failure. Badger formats
// the flock error into its message rather than wrapping it.
func isLockError(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "Cannot acquire directory lock")
}

// init checks (or writes) the format record, loads the catalog and removes
// what interrupted drops left behind.
func (s *Store) init() error {
	err := s.db.Update(func(txn *badger.Txn) error {
		p, found, err := readValue(txn, "", []byte(keyFormat), kindFormat)
		if err != nil {
			return err
		}
		if found {
			var f formatRecord
			if err := json.Unmarshal(p, &f); err != nil {
				return corrupt("", []byte(keyFormat), err)
			}
			if f.Format != formatVersion {
				return fmt.Errorf("data format %d is not supported by this build (it reads format %d)", f.Format, formatVersion)
			}
			return nil
		}
		if !empty(txn) {
			return errors.New("the directory holds a Badger database that is not Cohort's (no format record)")
		}
		b, err := json.Marshal(formatRecord{Format: formatVersion, Created: time.Now().UTC()})
		if err != nil {
			return err
		}
		k := []byte(keyFormat)
		if err := txn.Set(k, seal(k, kindFormat, b)); err != nil {
			return err
		}
		k = []byte(keyNextID)
		return txn.Set(k, seal(k, kindNextID, binary.BigEndian.AppendUint64(nil, 1)))
	})
	if err != nil {
		return err
	}
	var cat *catalog
	var orphaned []uint64
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		if cat, err = loadCatalog(txn); err != nil {
			return err
		}
		orphaned = orphans(txn, cat)
		return nil
	})
	if err != nil {
		return err
	}
	s.cat.Store(cat)
	for _, id := range orphaned {
		if err := s.db.DropPrefix(dataPrefix(id)); err != nil {
			return fmt.Errorf("cannot remove the keys of dropped dataset id %d: %w", id, err)
		}
	}
	return nil
}

func empty(txn *badger.Txn) bool {
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	it.Rewind()
	return !it.Valid()
}

func (s *Store) catalog() *catalog { return s.cat.Load() }

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

// Datasets describes the stored datasets in name order.
func (s *Store) Datasets() []DatasetInfo {
	c := s.catalog()
	out := make([]DatasetInfo, 0, len(c.byName))
	for _, n := range c.names() {
		out = append(out, c.byName[n])
	}
	return out
}

// Dataset describes one stored dataset.
func (s *Store) Dataset(name string) (DatasetInfo, bool) { return s.catalog().get(name) }

// Close waits for queued writes, stops the committer and closes Badger.
// Writes after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.committerDone
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cannot close data directory %s: %w", s.dir, err)
	}
	return nil
}

// IsStore reports whether dir looks like a data directory (as opposed to,
// say, the output of 'cohort gen'), without opening or locking it.
func IsStore(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "MANIFEST"))
	return err == nil
}
