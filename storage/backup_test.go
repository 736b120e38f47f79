package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// backupFixture builds a store with two datasets: shop has a checkpoint,
// a log tail after it (records and an added field) and saved segments;
// web has only a log. It returns the store's directory, closed.
func backupFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	d := NewDurableWith(s, testEngine(), DurableOptions{PublishEvery: 50})
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(ctx, "web", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	ingestN(t, d, 0, 120)
	if err := d.Checkpoint(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	ingestN(t, d, 120, 40)
	for i := range 30 {
		if _, err := d.Ingest(ctx, "web", [][]byte{line(fmt.Sprint("w", i), i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []Segment{
		{Name: "adults", Query: "age >= 18", Description: "grown-ups"},
		{Name: "picked", Members: []string{"p1", "q7", "nobody"}},
	} {
		if err := s.PutSegment(ctx, "shop", g); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSegment(ctx, "web", Segment{Name: "all", Query: "ALL"}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func backupOf(t *testing.T, dir string) ([]byte, BackupInfo) {
	t.Helper()
	s := openStore(t, dir)
	defer s.Close()
	var buf bytes.Buffer
	info, err := s.Backup(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes != int64(buf.Len()) {
		t.Fatalf("BackupInfo.Bytes %d, wrote %d", info.Bytes, buf.Len())
	}
	return buf.Bytes(), info
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	src := backupFixture(t)
	data, info := backupOf(t, src)
	if len(info.Datasets) != 2 || info.Datasets[0].Name != "shop" || info.Datasets[1].Name != "web" {
		t.Fatalf("backup datasets %+v", info.Datasets)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if err := Restore(context.Background(), dst, bytes.NewReader(data), smallOptions()); err != nil {
		t.Fatal(err)
	}

	// The catalog, metadata (so the checkpoint and the log tail) and
	// segments are the same.
	a, b := openStore(t, src), openStore(t, dst)
	if !reflect.DeepEqual(a.Datasets(), b.Datasets()) {
		t.Fatalf("catalog differs:\n%+v\n%+v", a.Datasets(), b.Datasets())
	}
	if info, _ := b.Dataset("shop"); info.Checkpoint == 0 || info.NextSeq-1 == info.AppliedThrough {
		t.Fatalf("shop should have a checkpoint and a log tail: %+v", info)
	}
	for _, name := range []string{"shop", "web"} {
		ga, err := a.Segments(name)
		if err != nil {
			t.Fatal(err)
		}
		gb, err := b.Segments(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(ga) == 0 || !reflect.DeepEqual(ga, gb) {
			t.Fatalf("segments of %s differ:\n%+v\n%+v", name, ga, gb)
		}
	}
	a.Close()
	b.Close()

	// Recovered, every bitmap (so every count of every field value) and
	// every external id are the same.
	ea, reca := recovered(t, src)
	eb, recb := recovered(t, dst)
	if reca.Records() != recb.Records() || reca.Records() == 0 {
		t.Fatalf("replayed %d and %d records", reca.Records(), recb.Records())
	}
	for _, name := range []string{"shop", "web"} {
		da, err := ea.Dataset(name)
		if err != nil {
			t.Fatal(err)
		}
		db, err := eb.Dataset(name)
		if err != nil {
			t.Fatal(err)
		}
		if da.Snapshot().Rows() == 0 {
			t.Fatalf("%s is empty", name)
		}
		sameState(t, da, db)
	}
	// Nothing is left next to the target.
	if left := leftovers(t, filepath.Dir(dst)); len(left) != 1 || left[0] != "restored" {
		t.Fatalf("left in the parent: %v", left)
	}
}

func TestBackupOfClosedStore(t *testing.T) {
	s := openStore(t, t.TempDir())
	s.Close()
	if _, err := s.Backup(context.Background(), &bytes.Buffer{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestRestoreRefusesBadBackups(t *testing.T) {
	data, _ := backupOf(t, backupFixture(t))
	damaged := bytes.Clone(data)
	damaged[len(damaged)/2] ^= 0x40
	wrongVersion := bytes.Clone(data)
	wrongVersion[len(backupMagic)+3] = 9
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "does not start with"},
		{"garbage", bytes.Repeat([]byte("not a backup\n"), 1000), "does not start with"},
		{"header only", data[:len(backupMagic)+2], "truncated"},
		{"after header", data[:len(backupMagic)+4], "truncated"},
		{"mid chunk", data[:len(data)/2], "truncated"},
		// Cut at the boundary between the last chunk and the end
		// marker: Badger's stream alone would load without complaint.
		{"no end marker", data[:len(data)-16], "truncated"},
		{"end marker cut", data[:len(data)-3], "truncated"},
		{"damaged", damaged, "checksum mismatch"},
		{"wrong version", wrongVersion, "format 9 is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "restored")
			err := Restore(context.Background(), dst, bytes.NewReader(c.data), smallOptions())
			if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrBadBackup with %q", err, c.want)
			}
			if left := leftovers(t, parent); len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}

func TestRestoreRefusesNonEmptyTarget(t *testing.T) {
	data, _ := backupOf(t, backupFixture(t))
	dst := t.TempDir()
	keep := filepath.Join(dst, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Restore(context.Background(), dst, bytes.NewReader(data), smallOptions())
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("got %v", err)
	}
	if left := leftovers(t, dst); len(left) != 1 {
		t.Fatalf("target changed: %v", left)
	}
	// An existing empty directory is fine.
	empty := t.TempDir()
	if err := Restore(context.Background(), empty, bytes.NewReader(data), smallOptions()); err != nil {
		t.Fatal(err)
	}
	if !IsStore(empty) {
		t.Fatal("no store restored into the empty directory")
	}
}

func TestRestoreCancelled(t *testing.T) {
	data, _ := backupOf(t, backupFixture(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	parent := t.TempDir()
	err := Restore(ctx, filepath.Join(parent, "r"), bytes.NewReader(data), smallOptions())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if left := leftovers(t, parent); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// A stream of several chunks, written in writes of odd sizes, reads back
// whole; its end marker is what ends it.
func TestBackupChunksRoundTrip(t *testing.T) {
	ctx := context.Background()
	stream := make([]byte, 2*backupChunk+12345)
	for i := range stream {
		stream[i] = byte(i * 7 / 3)
	}
	var file bytes.Buffer
	cw := &chunkWriter{ctx: ctx, w: &file}
	for p := stream; len(p) > 0; {
		k := min(len(p), 333331)
		if n, err := cw.Write(p[:k]); err != nil || n != k {
			t.Fatalf("wrote %d of %d: %v", n, k, err)
		}
		p = p[k:]
	}
	if err := cw.close(); err != nil {
		t.Fatal(err)
	}
	if cw.n != int64(file.Len()) || file.Len() != len(stream)+3*8+16 {
		t.Fatalf("file of %d bytes (counted %d) for %d of stream", file.Len(), cw.n, len(stream))
	}
	cr := &chunkReader{ctx: ctx, r: bytes.NewReader(file.Bytes()), chunk: make([]byte, backupChunk)}
	var got bytes.Buffer
	if _, err := got.ReadFrom(cr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), stream) || !cr.done {
		t.Fatalf("read back %d bytes, done %v", got.Len(), cr.done)
	}
	// Dropping a whole middle chunk is caught by the end marker.
	raw := file.Bytes()
	first := 8 + backupChunk
	short := append(bytes.Clone(raw[:first]), raw[2*first:]...)
	cr = &chunkReader{ctx: ctx, r: bytes.NewReader(short), chunk: make([]byte, backupChunk)}
	if _, err := got.ReadFrom(cr); !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), "end marker says") {
		t.Fatalf("got %v", err)
	}
}

// A backup taken while writers commit is one consistent snapshot: the
// restored store recovers (its log has no hole and matches its metadata)
// and holds a prefix of the acknowledged batches.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	defer s.Close()
	d := NewDurable(s, testEngine())
	defer d.Close()
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	const batches = 200
	done, started := make(chan error, 1), make(chan struct{})
	go func() {
		for i := range batches {
			if i == 50 {
				close(started)
			}
			if _, err := d.Ingest(ctx, "shop", [][]byte{line(fmt.Sprint("x", i), i%100)}); err != nil {
				done <- err
				return
			}
			if i == batches/2 {
				if err := d.Checkpoint(ctx, "shop"); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	var buf bytes.Buffer
	select {
	case <-started:
	case err := <-done:
		t.Fatal(err)
	}
	if _, err := s.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "r")
	if err := Restore(ctx, dst, &buf, smallOptions()); err != nil {
		t.Fatal(err)
	}
	e, _ := recovered(t, dst)
	ds, err := e.Dataset("shop")
	if err != nil {
		t.Fatal(err)
	}
	sn := ds.Snapshot()
	n := int(sn.Rows())
	for row := range sn.Rows() {
		if want := fmt.Sprint("x", row); sn.ExternalID(row) != want {
			t.Fatalf("row %d is %s, want %s: not a prefix of the writes", row, sn.ExternalID(row), want)
		}
	}
	if n < 50 {
		t.Fatalf("the backup holds %d batches, but 50 were acknowledged before it began", n)
	}
	t.Logf("the backup holds %d of %d batches", n, batches)
}

func TestVerifyBackup(t *testing.T) {
	src := backupFixture(t)
	data, _ := backupOf(t, src)
	ctx := context.Background()
	if err := VerifyBackup(ctx, bytes.NewReader(data)); err != nil {
		t.Fatalf("a good backup: %v", err)
	}
	damaged := bytes.Clone(data)
	damaged[len(damaged)/2] ^= 0x40
	for name, b := range map[string][]byte{
		"truncated":    data[:len(data)-5],
		"cut in half":  data[:len(data)/2],
		"header only":  data[:12],
		"damaged":      damaged,
		"extra bytes":  append(bytes.Clone(data), 'x'),
		"not a backup": []byte("hello"),
	} {
		if err := VerifyBackup(ctx, bytes.NewReader(b)); !errors.Is(err, ErrBadBackup) {
			t.Errorf("%s: %v, want ErrBadBackup", name, err)
		}
	}
}
