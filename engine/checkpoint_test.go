package engine_test

import (
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
)

// memCheckpoint is a checkpoint held in memory, read back in key order.
type memCheckpoint struct {
	keys []string
	vals map[string][]byte
}

func (m *memCheckpoint) Put(k string, v []byte) error {
	if m.vals == nil {
		m.vals = map[string][]byte{}
	}
	if _, ok := m.vals[k]; ok {
		return errors.New("duplicate key " + k)
	}
	m.keys = append(m.keys, k)
	m.vals[k] = v
	return nil
}

func (m *memCheckpoint) reader() engine.CheckpointReader {
	keys := slices.Clone(m.keys)
	slices.Sort(keys)
	return &memReader{m: m, keys: keys}
}

type memReader struct {
	m    *memCheckpoint
	keys []string
}

func (r *memReader) Next() (string, []byte, error) {
	if len(r.keys) == 0 {
		return "", nil, io.EOF
	}
	k := r.keys[0]
	r.keys = r.keys[1:]
	return k, r.m.vals[k], nil
}

// bitmapOf decodes a checkpoint value's bitmap (after the value name of
// v/ and a/ keys).
func bitmapOf(t *testing.T, key string, v []byte) *roaring.Bitmap {
	t.Helper()
	parts := strings.Split(key, "/")
	if len(parts) >= 3 && (parts[2] == "v" || parts[2] == "a") {
		n, k := binary.Uvarint(v)
		v = v[k+int(n):]
	}
	b := roaring.New()
	if err := b.UnmarshalBinary(v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return b
}

// sameAnswers checks that n random index operations answer alike on a
// and b.
func (h *harness) sameAnswers(a, b *engine.Snapshot, n int) {
	h.t.Helper()
	for range n {
		o := h.randomOp()
		if !o.eng(a).Equals(o.eng(b)) {
			h.t.Fatalf("%s differs", o.name)
		}
	}
}

func sameCheckpoint(t *testing.T, a, b *memCheckpoint) {
	t.Helper()
	ka, kb := slices.Sorted(slices.Values(a.keys)), slices.Sorted(slices.Values(b.keys))
	if !slices.Equal(ka, kb) {
		t.Fatalf("checkpoint keys differ: %d vs %d", len(ka), len(kb))
	}
	for _, k := range ka {
		if strings.HasPrefix(k, "f/") {
			if !bitmapOf(t, k, a.vals[k]).Equals(bitmapOf(t, k, b.vals[k])) {
				t.Fatalf("bitmap %s differs", k)
			}
		} else if string(a.vals[k]) != string(b.vals[k]) {
			t.Fatalf("value %s differs", k)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		h := newHarness(t, seed)
		h.lines.IDs = 3 // merges, identifiers and write stamps round trip too
		for i := range 6 {
			h.batch(300, 500)
			if i == 3 {
				h.clock.now = h.clock.now.AddDate(0, 0, 40)
			}
		}
		sn := h.ds.Snapshot()
		var cp memCheckpoint
		if err := sn.WriteCheckpoint(&cp); err != nil {
			t.Fatal(err)
		}
		e2 := engine.New(engine.Options{Clock: h.clock.Now})
		ds2, err := e2.LoadCheckpoint("copy", h.s, cp.reader())
		if err != nil {
			t.Fatal(err)
		}
		sn2 := ds2.Snapshot()
		if sn2.Rows() != sn.Rows() {
			t.Fatalf("rows %d, want %d", sn2.Rows(), sn.Rows())
		}
		for r := range sn.Rows() {
			if sn.ExternalID(r) != sn2.ExternalID(r) {
				t.Fatalf("row %d: id %q, want %q", r, sn2.ExternalID(r), sn.ExternalID(r))
			}
		}
		var cp2 memCheckpoint
		if err := sn2.WriteCheckpoint(&cp2); err != nil {
			t.Fatal(err)
		}
		sameCheckpoint(t, &cp, &cp2)
		h.sameAnswers(sn, sn2, 50)
		// The loaded writer-side indexes must keep working: the same
		// updates on both give the same state.
		for range 3 {
			var ups []record.Update
			for range 300 {
				if u, err := record.Decode([]byte(h.lines.Line(600)), h.s); err == nil {
					ups = append(ups, u)
				}
			}
			r1, r2 := h.ds.Apply(ups), ds2.Apply(ups)
			if r1.Applied != r2.Applied || r1.Created != r2.Created || r1.Merged != r2.Merged {
				t.Fatalf("apply after load: %+v vs %+v", r1, r2)
			}
		}
		var a, b memCheckpoint
		if err := h.ds.Snapshot().WriteCheckpoint(&a); err != nil {
			t.Fatal(err)
		}
		if err := ds2.Snapshot().WriteCheckpoint(&b); err != nil {
			t.Fatal(err)
		}
		sameCheckpoint(t, &a, &b)
	}
}

func TestCheckpointCorrupt(t *testing.T) {
	h, cp := checkpointed(t, 9, 400, 300)
	load := func(m *memCheckpoint) error {
		_, err := engine.New(engine.Options{Clock: h.clock.Now}).LoadCheckpoint("x", h.s, m.reader())
		return err
	}
	for _, k := range cp.keys {
		if !strings.HasPrefix(k, "f/") {
			continue
		}
		for _, damage := range []func([]byte) []byte{
			func(v []byte) []byte { return v[:len(v)/2] },
			func(v []byte) []byte { v = slices.Clone(v); v[len(v)-1] ^= 0xff; v[len(v)/2] ^= 0x5a; return v },
		} {
			bad := memCheckpoint{keys: cp.keys, vals: map[string][]byte{}}
			for kk, v := range cp.vals {
				bad.vals[kk] = v
			}
			bad.vals[k] = damage(cp.vals[k])
			err := load(&bad)
			var ce *engine.CheckpointError
			if err == nil {
				// A flipped byte inside a bitmap can still decode to a
				// valid bitmap within the rows; checksums in storage
				// catch that case. Truncation must always fail.
				continue
			}
			if !errors.As(err, &ce) || ce.Key != k || !strings.Contains(err.Error(), k) {
				t.Fatalf("damaged %s: error %v does not name the key", k, err)
			}
		}
		bad := memCheckpoint{keys: cp.keys, vals: map[string][]byte{}}
		for kk, v := range cp.vals {
			bad.vals[kk] = v
		}
		bad.vals[k] = bad.vals[k][:len(bad.vals[k])/2]
		if err := load(&bad); err == nil {
			t.Fatalf("truncated %s loaded", k)
		}
	}
	// A row beyond the row count is refused.
	bad := memCheckpoint{keys: cp.keys, vals: map[string][]byte{}}
	for kk, v := range cp.vals {
		bad.vals[kk] = v
	}
	far := roaring.BitmapOf(1 << 30)
	buf, _ := far.ToBytes()
	bad.vals["f/b/t"] = buf
	if err := load(&bad); err == nil || !strings.Contains(err.Error(), "f/b/t") {
		t.Fatalf("row beyond count: %v", err)
	}
	// An external id given twice is refused, naming both rows.
	for _, k := range cp.keys {
		if !strings.HasPrefix(k, "i/") {
			continue
		}
		var ids [][]byte
		for v := cp.vals[k]; len(v) > 0; {
			n, w := binary.Uvarint(v)
			ids, v = append(ids, v[w:w+int(n)]), v[w+int(n):]
		}
		ids[2] = ids[0]
		var dup []byte
		for _, id := range ids {
			dup = append(binary.AppendUvarint(dup, uint64(len(id))), id...)
		}
		bad = memCheckpoint{keys: cp.keys, vals: maps.Clone(cp.vals)}
		bad.vals[k] = dup
		if err := load(&bad); err == nil || !strings.Contains(err.Error(), k) || !strings.Contains(err.Error(), "of row 2 is row 0 already") {
			t.Fatalf("an external id twice: %v", err)
		}
		break
	}
	// A missing key is noticed.
	bad = memCheckpoint{keys: slices.DeleteFunc(slices.Clone(cp.keys), func(k string) bool { return k == "f/b/t" }), vals: cp.vals}
	if err := load(&bad); err == nil {
		t.Fatal("checkpoint with a key missing loaded")
	}
}

// TestCheckpointDamageNeverPanics loads checkpoints with random damage to
// one value: the load may succeed (a flip can yield another valid bitmap
// within the rows; storage's checksums catch those) but must not panic,
// and a failure must name the damaged key.
func TestCheckpointDamageNeverPanics(t *testing.T) {
	h, cp := checkpointed(t, 11, 300, 200)
	for i := range 3000 {
		k := cp.keys[h.rng.IntN(len(cp.keys))]
		v := slices.Clone(cp.vals[k])
		switch h.rng.IntN(3) {
		case 0:
			if len(v) > 0 {
				v[h.rng.IntN(len(v))] ^= byte(1 + h.rng.IntN(255))
			}
		case 1:
			v = v[:h.rng.IntN(len(v)+1)]
		default:
			v = make([]byte, h.rng.IntN(64))
			for j := range v {
				v[j] = byte(h.rng.IntN(256))
			}
		}
		bad := memCheckpoint{keys: cp.keys, vals: maps.Clone(cp.vals)}
		bad.vals[k] = v
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("case %d: damage to %s panicked: %v", i, k, r)
				}
			}()
			_, err := engine.New(engine.Options{Clock: h.clock.Now}).LoadCheckpoint("x", h.s, bad.reader())
			// A damaged row count shows up wherever a row first
			// disagrees with it, so only other keys must be named. The
			// identity's cross-key checks (after every g/ key is read)
			// name the whole g/ section.
			if err == nil {
				return
			}
			named := strings.Contains(err.Error(), k) || strings.HasPrefix(k, "g/") && strings.Contains(err.Error(), "key g/:")
			if !strings.HasPrefix(k, "a/") && !named && !strings.Contains(err.Error(), "z/count") && !strings.Contains(err.Error(), "i/") {
				t.Fatalf("damage to %s: error %v names another key", k, err)
			}
		}()
	}
}

// reusingReader serves a checkpoint as storage does: every value in one
// buffer, overwritten by the next call (a value need only stay valid until
// then), and optionally fails at key failAt (counted from 1).
type reusingReader struct {
	keys   []string
	vals   map[string][]byte
	buf    []byte
	read   int
	failAt int
}

func (r *reusingReader) Next() (string, []byte, error) {
	if r.read++; r.read == r.failAt {
		return "", nil, errors.New("disk on fire")
	}
	if len(r.keys) == 0 {
		return "", nil, io.EOF
	}
	k := r.keys[0]
	r.keys = r.keys[1:]
	// Scribble over the previous value first: anything still reading it
	// sees garbage.
	for i := range r.buf {
		r.buf[i] = 0xa5
	}
	r.buf = append(r.buf[:0], r.vals[k]...)
	return k, r.buf, nil
}

// TestCheckpointFromReusedBuffer loads a checkpoint whose reader reuses
// one buffer for every value (bitmaps are decoded while later values are
// read, so they must be copied first): the loaded dataset writes the same
// checkpoint. A reader failing partway fails the load with its error; a
// failure of the reader after a damaged key reports the damaged key, the
// earlier of the two.
func TestCheckpointFromReusedBuffer(t *testing.T) {
	h, cp := checkpointed(t, 13, 500, 400)
	keys := slices.Sorted(maps.Keys(cp.vals))
	load := func(r engine.CheckpointReader) error {
		ds, err := engine.New(engine.Options{Clock: h.clock.Now}).LoadCheckpoint("x", h.s, r)
		if err == nil {
			var again memCheckpoint
			if err := ds.Snapshot().WriteCheckpoint(&again); err != nil {
				t.Fatal(err)
			}
			sameCheckpoint(t, cp, &again)
		}
		return err
	}
	before := runtime.NumGoroutine()
	if err := load(&reusingReader{keys: keys, vals: cp.vals}); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{1, 2, len(keys) / 2, len(keys)} {
		if err := load(&reusingReader{keys: keys, vals: cp.vals, failAt: at}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("reader failing at key %d: %v", at, err)
		}
	}
	var bad string
	for _, k := range keys {
		if strings.HasPrefix(k, "f/") && strings.Contains(k, "/d/") {
			bad = k
			break
		}
	}
	damaged := maps.Clone(cp.vals)
	damaged[bad] = damaged[bad][:len(damaged[bad])/2]
	err := load(&reusingReader{keys: keys, vals: damaged, failAt: slices.Index(keys, bad) + 4})
	var ce *engine.CheckpointError
	if !errors.As(err, &ce) || ce.Key != bad {
		t.Fatalf("damaged %s, then a failed read: %v", bad, err)
	}
	// The loader's goroutines have all returned with it, failed or not. A
	// goroutine that has signalled its end (a deferred Done or close) may
	// still be counted for a moment after: wait for the count to settle,
	// a bounded number of times, rather than read it once.
	after := runtime.NumGoroutine()
	for i := 0; after > before && i < 200; i++ {
		time.Sleep(5 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		t.Fatalf("%d goroutines before the loads, %d after", before, after)
	}
}

// checkpointed returns a harness after one batch of n records over
// profiles profiles (merges and identifiers included), and the
// checkpoint its dataset writes.
func checkpointed(t *testing.T, seed uint64, n, profiles int) (*harness, *memCheckpoint) {
	t.Helper()
	h := newHarness(t, seed)
	h.lines.IDs = 3
	h.batch(n, profiles)
	cp := &memCheckpoint{}
	if err := h.ds.Snapshot().WriteCheckpoint(cp); err != nil {
		t.Fatal(err)
	}
	return h, cp
}
