package storage

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options configure a Store. The zero value is a sensible production
// setting.
type Options struct {
	// MemTableSize is the size of one Badger memtable; 0 means 16 MiB.
	// Badger keeps a few in memory and caps one transaction at 15% of
	// this, which bounds a group commit.
	MemTableSize int64
	// ValueLogFileSize is the size of one value log file; 0 means 64 MiB.
	ValueLogFileSize int64
	// CommitWindow is how long the committer waits for more writes after
	// the first of a group before it writes and syncs them together. 0
	// means 200µs; negative means it only takes what is already queued.
	// Writes that arrive while a group is being synced always join the
	// next group, so the window matters only for lightly loaded stores.
	CommitWindow time.Duration
	// MinFreeBytes is the free space the data directory's file system must
	// keep: below it, writes and checkpoints are refused with ErrDiskFull
	// before anything is written, and accepted again once space returns.
	// 0 means two value-log files, four memtables and 64 MiB (room for
	// Badger to finish the files it has begun and to flush and compact);
	// negative turns the guard off. Badger writes through memory maps, so
	// running out of space inside a write is a SIGBUS, not an error: the
	// guard is what turns a full disk into a clear refusal.
	MinFreeBytes int64
	// Log receives Badger's warnings and errors (and, with Verbose, its
	// informational messages); nil discards them.
	Log     io.Writer
	Verbose bool
}

const (
	defaultMemTable     = 16 << 20
	defaultValueLogFile = 64 << 20
	defaultCommitWindow = 200 * time.Microsecond
	maxGroupRequests    = 1024
)

func (o Options) withDefaults() Options {
	if o.MemTableSize <= 0 {
		o.MemTableSize = defaultMemTable
	}
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = defaultValueLogFile
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = 2*o.ValueLogFileSize + 4*o.MemTableSize + 64<<20
	}
	if o.CommitWindow == 0 {
		o.CommitWindow = defaultCommitWindow
	}
	return o
}

// badgerOptions turns Options into Badger's. SyncWrites is the durability
// policy (see doc.go): every transaction commit is fsynced before it
// returns, and the committer puts a whole group in one transaction, so
// there is one fsync per group, not per record.
func (o Options) badgerOptions(dir string) badger.Options {
	maxBatch := o.MemTableSize * 15 / 100
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(&logger{w: o.Log, verbose: o.Verbose}).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(3).
		WithValueLogFileSize(o.ValueLogFileSize).
		// Values under the threshold live in the LSM tree; larger ones,
		// in practice every ingest batch, go to the value log, written
		// once and read back in order by recovery, instead of being
		// rewritten by every LSM compaction on their way to deletion by
		// a checkpoint. Badger refuses a threshold above its
		// transaction cap.
		WithValueThreshold(min(64<<10, maxBatch/2)).
		WithNumCompactors(2).
		WithNumLevelZeroTables(4).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithCompression(options.Snappy).
		// Nothing reads Badger's expvar metrics; they are global state.
		WithMetricsEnabled(false).
		// Badger's own checksums guard its files (a damaged block could
		// otherwise be misparsed before our envelope is ever seen).
		WithVerifyValueChecksum(true).
		WithChecksumVerificationMode(options.OnBlockRead)
}

// logger adapts Badger's logging to an io.Writer: quiet unless asked.
type logger struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
}

func (l *logger) write(level, format string, args ...any) {
	if l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "badger %s: "+format, append([]any{level}, args...)...)
	if n := len(format); n == 0 || format[n-1] != '\n' {
		fmt.Fprintln(l.w)
	}
}

func (l *logger) Errorf(format string, args ...any) { l.write("error", format, args...) }

// Warningf passes Badger's warnings on, except its cache-sizing advice:
// Badger checks its block cache's hit ratio every minute and warns, with
// a histogram, when it is low. Recovery reads every block once, in
// order, so no cache size would help it, and the advice landed in the
// middle of `cohort bench`'s progress lines at 100M profiles. It is kept
// for Verbose, as Badger's other informational messages are.
func (l *logger) Warningf(format string, args ...any) {
	if !l.verbose && cacheAdvice(format) {
		return
	}
	l.write("warning", format, args...)
}

// cacheAdvice reports whether a Badger warning's format is one of the two
// its cache monitor writes (badger v4 db.go, monitorCache).
func cacheAdvice(format string) bool {
	return strings.HasPrefix(format, "%s might be too small.") ||
		strings.HasPrefix(format, "Cache life expectancy")
}

func (l *logger) Infof(format string, args ...any) {
	if l.verbose {
		l.write("info", format, args...)
	}
}

func (l *logger) Debugf(format string, args ...any) {
	if l.verbose {
		l.write("debug", format, args...)
	}
}
