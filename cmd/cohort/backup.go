package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/cohortdb/cohort/storage"
)

const backupUsage = `Usage: cohort backup --data DIR --out FILE

Writes a consistent snapshot of the data directory DIR (every dataset, its
log, checkpoint and saved segments) to FILE, atomically: FILE appears only
once the backup is complete and synced. While 'cohort serve' has DIR open,
the backup is taken online through the server (GET /v1/backup; the server
writes its address into DIR/serve.url), with the key from --key or
$COHORT_KEY if the server has keys; what arrives is verified (checksums,
end marker) before it is kept. Any other process holding DIR ('cohort
load') must be stopped first.`

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	data := fs.String("data", "", "data directory, a Cohort store (required)")
	out := fs.String("out", "", "backup file to write; replaced atomically if it exists (required)")
	verbose := fs.Bool("verbose", false, "show Badger's log")
	key := fs.String("key", os.Getenv("COHORT_KEY"), "API key (admin scope) for an online backup through a running server (default $COHORT_KEY)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, backupUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("--data and --out are required, and nothing else")
	}
	// Open would create an empty store in a mistyped directory and back
	// that up; refuse instead.
	if !storage.IsStore(*data) {
		return fmt.Errorf("%s is not a Cohort store", *data)
	}
	st, err := openStore(*data, *verbose, stderr)
	if errors.Is(err, storage.ErrInUse) {
		if url, ok := servingURL(*data); ok {
			return onlineBackup(ctx, url, *key, *out, stdout)
		}
	}
	if err != nil {
		return err
	}
	defer st.Close()
	var info storage.BackupInfo
	err = writeAtomically(*out, func(w io.Writer) error {
		var err error
		info, err = st.Backup(ctx, w)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s: %s, %s\n", *data, *out, byteSize(info.Bytes), datasetList(info.Datasets))
	return nil
}

// serveURLFile is where 'cohort serve' leaves its address in the data
// directory, for commands that must go through it while it holds the
// directory.
const serveURLFile = "serve.url"

func servingURL(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, serveURLFile))
	if err != nil {
		return "", false
	}
	url := strings.TrimSpace(string(b))
	return url, url != ""
}

// onlineBackup fetches a backup from a running server, verifying it as
// it is written, and keeps it only if it is complete.
func onlineBackup(ctx context.Context, base, key, out string, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/backup", nil)
	if err != nil {
		return err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the data directory is in use by a server at %s, which cannot be reached: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("online backup through %s: %s (HTTP %d)", base, e.Error.Message, resp.StatusCode)
		}
		return fmt.Errorf("online backup through %s: HTTP %d", base, resp.StatusCode)
	}
	var n int64
	err = writeAtomically(out, func(w io.Writer) error {
		cw := &countWriter{w: w}
		if err := storage.VerifyBackup(ctx, io.TeeReader(resp.Body, cw)); err != nil {
			return fmt.Errorf("online backup through %s: %w", base, err)
		}
		n = cw.n
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up the running server at %s to %s: %s (online, verified)\n", base, out, byteSize(n))
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeAtomically writes path through a temporary file next to it, synced
// and renamed into place only when write succeeded, so a failed or
// interrupted backup never leaves a partial file under the final name
// (nor replaces a good older one).
func writeAtomically(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	// The rename is durable only once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

const restoreUsage = `Usage: cohort restore --in FILE --data DIR

Creates the data directory DIR from a backup written by 'cohort backup'.
DIR must not exist or be empty: restore never merges into or replaces
existing data. A damaged, truncated or foreign file is refused, and a
failed restore leaves no DIR behind.`

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", stderr)
	in := fs.String("in", "", "backup file written by 'cohort backup' (required)")
	data := fs.String("data", "", "data directory to create (required; must not exist or be empty)")
	verbose := fs.Bool("verbose", false, "show Badger's log")
	fs.Usage = func() {
		fmt.Fprintln(stderr, restoreUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *data == "" || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("--in and --data are required, and nothing else")
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("cannot read the backup: %w", err)
	}
	defer f.Close()
	opts := storage.Options{Log: stderr, Verbose: *verbose}
	if err := storage.Restore(ctx, *data, bufio.NewReaderSize(f, 1<<20), opts); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	st, err := openStore(*data, *verbose, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "restored %s into %s: %s\n", *in, *data, datasetList(st.Datasets()))
	return nil
}

// datasetList is "2 datasets (shop, web)".
func datasetList(ds []storage.DatasetInfo) string {
	names := make([]string, 0, len(ds))
	for _, d := range ds {
		names = append(names, d.Name)
	}
	s := fmt.Sprintf("%d datasets", len(names))
	if len(names) > 0 {
		s += " (" + strings.Join(names, ", ") + ")"
	}
	return s
}
