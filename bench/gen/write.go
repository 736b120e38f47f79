package gen

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Output file names of WriteDir.
const (
	SchemaFile   = "schema.json"
	ProfilesFile = "profiles.ndjson"
)

// progressEvery is how many records pass between progress calls.
const progressEvery = 100_000

// WriteDir writes dir/schema.json and dir/profiles.ndjson (opts.Profiles
// base records), creating dir if needed. Each file is written to a
// temporary name and renamed into place, so a reader never sees half a
// file and an interrupted run leaves the previous files intact. Records are
// generated in parallel and written in order; the bytes equal those of
// New(opts).Next. progress, if not nil, is called from the writing
// goroutine with the number of records written: at every multiple of
// 100,000 and, if the total is not one, once more with the total.
func WriteDir(dir string, opts Options, progress func(done int)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen: cannot create output directory: %w", err)
	}
	err := writeFileAtomic(filepath.Join(dir, SchemaFile), func(w io.Writer) error {
		_, err := w.Write(SchemaJSON())
		return err
	})
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ProfilesFile), func(w io.Writer) error {
		return writeProfiles(w, opts, progress, progressEvery)
	})
}

// writeFileAtomic writes path through fill into a temporary file in the
// same directory, syncs it and renames it over path.
func writeFileAtomic(path string, fill func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("gen: cannot create temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = fill(bw); err != nil {
		return fmt.Errorf("gen: cannot write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("gen: cannot write %s: %w", path, err)
	}
	// CreateTemp makes the file private; generated data is not secret.
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("gen: cannot set mode of %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("gen: cannot sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("gen: cannot close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("gen: cannot move %s into place: %w", path, err)
	}
	return nil
}

// chunkSize records make one unit of parallel work. It divides
// progressEvery so progress falls on chunk boundaries, and keeps a chunk's
// buffer near a megabyte.
const chunkSize = 2_000

// writeProfiles generates the base records of opts on all cores and writes
// them to w in index order.
func writeProfiles(w io.Writer, opts Options, progress func(int), every int) error {
	opts = opts.withDefaults()
	total := opts.Profiles
	workers := max(1, runtime.GOMAXPROCS(0))

	type chunk struct {
		start, end int
		out        chan []byte
	}
	var (
		jobs  = make(chan chunk, workers)
		order = make(chan chunk, 2*workers) // chunks in index order, for the writer
		free  = make(chan []byte, 3*workers)
		done  = make(chan struct{})
		wg    sync.WaitGroup
	)
	// On return, stop the producer and wait for every goroutine, so a
	// failed write leaves nothing running.
	defer wg.Wait()
	defer close(done)

	wg.Go(func() {
		defer close(jobs)
		defer close(order)
		for start := 0; start < total; start += chunkSize {
			c := chunk{start: start, end: min(start+chunkSize, total), out: make(chan []byte, 1)}
			select {
			case order <- c:
			case <-done:
				return
			}
			select {
			case jobs <- c:
			case <-done:
				return
			}
		}
	})
	for range workers {
		wg.Go(func() {
			g := New(opts)
			for c := range jobs {
				var buf []byte
				select {
				case buf = <-free:
				default:
				}
				buf = buf[:0]
				for i := c.start; i < c.end; i++ {
					buf = g.Record(buf, i)
				}
				c.out <- buf // buffered: never blocks
			}
		})
	}

	written, reported := 0, 0
	for c := range order {
		buf := <-c.out
		if _, err := w.Write(buf); err != nil {
			return err
		}
		select {
		case free <- buf:
		default:
		}
		written = c.end
		for progress != nil && reported+every <= written {
			reported += every
			progress(reported)
		}
	}
	if progress != nil && reported != written {
		progress(written)
	}
	return nil
}
