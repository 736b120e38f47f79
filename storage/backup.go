package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// A backup file is
//
//	"COHORTBK"  magic (8 bytes)
//	version     uint32, big-endian (backupVersion)
//	chunks      each: length uint32, CRC-32C uint32, length bytes of Badger's backup stream
//	end         length 0, CRC-32C of the whole stream, stream length uint64
//
// all integers big-endian. Badger's own stream (DB.Backup, read back by
// DB.Load) has no checksum and no end marker: a file cut at a record
// boundary would load "successfully" with data missing, and a damaged
// length prefix makes Load allocate whatever it says. The chunks let
// Restore hand Load only bytes it has checked and notice a missing end.
const (
	backupMagic   = "COHORTBK"
	backupVersion = 1
	// backupChunk bounds a chunk, so a damaged length is refused before
	// anything is allocated for it.
	backupChunk = 1 << 20
)

// BackupInfo describes a backup that was written.
type BackupInfo struct {
	// Bytes is the size of the backup, header included.
	Bytes int64
	// Datasets are the datasets of the catalog when the backup began. The
	// backup itself is one consistent snapshot; a dataset created or
	// dropped by a concurrent writer while the snapshot was being taken
	// may be in it or not, whatever this list says.
	Datasets []DatasetInfo
}

// Backup writes a consistent snapshot of the whole store to w: Badger's
// backup stream, read at one timestamp, so every dataset, log entry,
// checkpoint and segment is as of the same commit. Writers are not
// stopped: a write acknowledged after the snapshot began is not in it. If
// Backup fails, what was written to w is not a usable backup.
func (s *Store) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	// Holding the read lock keeps Close (which takes the write lock)
	// from closing Badger under the stream.
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return BackupInfo{}, fmt.Errorf("cannot back up %s: %w", s.dir, ErrClosed)
	}
	info := BackupInfo{Datasets: s.Datasets()}
	cw := &chunkWriter{ctx: ctx, w: w, buf: make([]byte, 0, backupChunk)}
	header := binary.BigEndian.AppendUint32([]byte(backupMagic), backupVersion)
	if _, err := w.Write(header); err != nil {
		return BackupInfo{}, fmt.Errorf("cannot write the backup of %s: %w", s.dir, err)
	}
	cw.n = int64(len(header))
	if _, err := s.db.Backup(cw, 0); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return BackupInfo{}, fmt.Errorf("cannot back up %s: %w", s.dir, err)
	}
	if err := cw.close(); err != nil {
		return BackupInfo{}, fmt.Errorf("cannot write the backup of %s: %w", s.dir, err)
	}
	info.Bytes = cw.n
	return info, nil
}

// chunkWriter frames Badger's stream into checksummed chunks.
type chunkWriter struct {
	ctx    context.Context
	w      io.Writer
	buf    []byte
	crc    uint32 // of the whole stream
	stream uint64 // stream bytes
	n      int64  // file bytes written
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	// Badger's Backup takes no context; failing its writes is how a
	// cancelled backup stops the stream.
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	written := 0
	for len(p) > 0 {
		k := min(len(p), backupChunk-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		written += k
		if len(c.buf) == backupChunk {
			if err := c.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	h := binary.BigEndian.AppendUint32(nil, uint32(len(c.buf)))
	h = binary.BigEndian.AppendUint32(h, crc32.Checksum(c.buf, castagnoli))
	if err := c.write(h); err != nil {
		return err
	}
	if err := c.write(c.buf); err != nil {
		return err
	}
	c.crc = crc32.Update(c.crc, castagnoli, c.buf)
	c.stream += uint64(len(c.buf))
	c.buf = c.buf[:0]
	return nil
}

func (c *chunkWriter) write(b []byte) error {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return err
}

// close writes the last chunk and the end marker.
func (c *chunkWriter) close() error {
	if err := c.flush(); err != nil {
		return err
	}
	end := binary.BigEndian.AppendUint32(nil, 0)
	end = binary.BigEndian.AppendUint32(end, c.crc)
	end = binary.BigEndian.AppendUint64(end, c.stream)
	return c.write(end)
}

// ErrBadBackup is wrapped by Restore when the backup is not a Cohort
// backup, or is truncated or damaged.
var ErrBadBackup = errors.New("not a usable Cohort backup")

// chunkReader checks the chunks of a backup and passes on their payload.
// It returns io.EOF only after a valid end marker, so a file cut short is
// an error for Load, never a clean end.
type chunkReader struct {
	ctx    context.Context
	r      io.Reader
	chunk  []byte
	rest   []byte // unread part of chunk
	crc    uint32
	stream uint64
	done   bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.rest) == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.ctx.Err(); err != nil {
			return 0, err
		}
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

func (c *chunkReader) next() error {
	var h [8]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return c.cut(err, "the end marker is missing")
	}
	size, sum := binary.BigEndian.Uint32(h[:4]), binary.BigEndian.Uint32(h[4:])
	if size == 0 {
		var l [8]byte
		if _, err := io.ReadFull(c.r, l[:]); err != nil {
			return c.cut(err, "the end marker is cut short")
		}
		if n := binary.BigEndian.Uint64(l[:]); n != c.stream || sum != c.crc {
			return fmt.Errorf("%w: the end marker says %d bytes with checksum %08x, read %d with %08x", ErrBadBackup, n, sum, c.stream, c.crc)
		}
		c.done = true
		return nil
	}
	if size > backupChunk {
		return fmt.Errorf("%w: damaged chunk at stream offset %d (length %d)", ErrBadBackup, c.stream, size)
	}
	if _, err := io.ReadFull(c.r, c.chunk[:size]); err != nil {
		return c.cut(err, "a chunk is cut short")
	}
	data := c.chunk[:size]
	if got := crc32.Checksum(data, castagnoli); got != sum {
		return fmt.Errorf("%w: checksum mismatch in the chunk at stream offset %d (stored %08x, computed %08x)", ErrBadBackup, c.stream, sum, got)
	}
	c.crc = crc32.Update(c.crc, castagnoli, data)
	c.stream += uint64(size)
	c.rest = data
	return nil
}

// cut turns the end of the file where more was expected into a clear
// error; other read errors pass through.
func (c *chunkReader) cut(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file is truncated (%s after %d bytes of data)", ErrBadBackup, what, c.stream)
	}
	return err
}

// readBackupHeader checks the magic and version.
func readBackupHeader(r io.Reader) error {
	var h [len(backupMagic) + 4]byte
	n, err := io.ReadFull(r, h[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("cannot read the backup: %w", err)
	}
	if n < len(backupMagic) || !bytes.Equal(h[:len(backupMagic)], []byte(backupMagic)) {
		return fmt.Errorf("%w: it does not start with %q", ErrBadBackup, backupMagic)
	}
	if n < len(h) {
		return fmt.Errorf("%w: the file is truncated (in its header)", ErrBadBackup)
	}
	if v := binary.BigEndian.Uint32(h[len(backupMagic):]); v != backupVersion {
		return fmt.Errorf("%w: backup format %d is not supported by this build (it reads format %d)", ErrBadBackup, v, backupVersion)
	}
	return nil
}

// Restore creates the data directory dir from a backup written by
// Backup. dir must not exist or be empty: a restore never merges into or
// replaces existing data. The backup is loaded into a temporary directory
// next to dir, checked to open as a Cohort store, and only then renamed
// to dir, so a failed restore (a damaged or truncated backup, a full disk,
// a cancelled ctx) leaves no half-written dir behind.
func Restore(ctx context.Context, dir string, r io.Reader, opts Options) (err error) {
	if err := checkRestoreTarget(dir); err != nil {
		return err
	}
	if err := readBackupHeader(r); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restore-")
	if err != nil {
		return fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := load(ctx, tmp, r, opts.withDefaults()); err != nil {
		return fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	// A full Open checks what Open always checks (format, catalog,
	// metadata), so a restore that would not open is not put in place.
	st, err := Open(tmp, opts)
	if err != nil {
		return fmt.Errorf("cannot restore into %s: the restored store does not open: %w", dir, err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	// An existing empty target goes first (not every file system lets a
	// rename replace an empty directory). os.Remove refuses a directory
	// that has gained entries since it was checked, and rename refuses one
	// created since, so nothing is ever overwritten.
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("restored into %s but cannot sync %s: %w", dir, parent, err)
	}
	return nil
}

// checkRestoreTarget refuses a dir that holds anything.
func checkRestoreTarget(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("cannot restore into %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("cannot restore into %s: the directory is not empty (restore creates a new data directory; it never merges into or replaces one)", dir)
	}
	return nil
}

// load streams the checked backup into a new Badger database in dir and
// makes sure it holds a Cohort format record: a store opened empty would
// otherwise silently become a new, empty Cohort store.
func load(ctx context.Context, dir string, r io.Reader, opts Options) error {
	db, err := badger.Open(opts.badgerOptions(dir))
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	cr := &chunkReader{ctx: ctx, r: r, chunk: make([]byte, backupChunk)}
	if err := db.Load(cr, 16); err != nil {
		_ = db.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("cannot load the backup: %w", err)
	}
	if !cr.done {
		_ = db.Close()
		return fmt.Errorf("%w: the end marker is missing", ErrBadBackup)
	}
	err = db.View(func(txn *badger.Txn) error {
		_, found, err := readValue(txn, "", []byte(keyFormat), kindFormat)
		if err == nil && !found {
			err = fmt.Errorf("%w: it holds no Cohort format record", ErrBadBackup)
		}
		return err
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("cannot close %s: %w", dir, cerr)
	}
	return err
}

// syncDir fsyncs a directory, so the names in it (a rename, new files)
// survive a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return nil
}

// VerifyBackup reads a whole backup from r and checks its header, every
// chunk's checksum and the end marker, without loading it anywhere. A
// backup received over the network is verified this way before it is
// kept.
func VerifyBackup(ctx context.Context, r io.Reader) error {
	if err := readBackupHeader(r); err != nil {
		return err
	}
	cr := &chunkReader{ctx: ctx, r: r, chunk: make([]byte, backupChunk)}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return err
	}
	var extra [1]byte
	if n, _ := io.ReadFull(r, extra[:]); n > 0 {
		return fmt.Errorf("%w: data after the end marker", ErrBadBackup)
	}
	return nil
}
