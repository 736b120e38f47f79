package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestEnvelopeRoundTripAndDamage(t *testing.T) {
	key := walKey(3, 4097)
	v := seal(key, kindRecords, []byte("payload"))
	k, p, err := open(key, v)
	if err != nil || k != kindRecords || string(p) != "payload" {
		t.Fatalf("open: %v %v %q", k, err, p)
	}
	if got := keyString(key); got != "d/3/w/4097" {
		t.Fatalf("keyString %q", got)
	}
	for name, tc := range map[string]struct {
		key, value []byte
		reason     string
	}{
		"flipped payload": {key, flip(v, envelopeHeader+2), "checksum mismatch"},
		"flipped crc":     {key, flip(v, len(v)-1), "checksum mismatch"},
		"flipped kind":    {key, flip(v, 1), "checksum mismatch"},
		"other key":       {walKey(3, 4098), v, "checksum mismatch"},
		"truncated":       {key, v[:len(v)-3], "truncated: 4 payload bytes of the 7 declared"},
		"stub":            {key, v[:5], "truncated: 5 bytes"},
		"empty":           {key, nil, "truncated: 0 bytes"},
		"trailing":        {key, append(bytes.Clone(v), 0), "1 bytes after"},
		"version":         {key, append([]byte{9}, v[1:]...), "unknown format version 9"},
	} {
		if _, _, err := open(tc.key, tc.value); err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: error %v, want %q", name, err, tc.reason)
		}
	}
	if _, err := openAs(key, v, kindSegment); err == nil || !strings.Contains(err.Error(), "holds a write-ahead records where a saved segment belongs") {
		t.Errorf("wrong kind: %v", err)
	}
}

func flip(v []byte, i int) []byte {
	out := bytes.Clone(v)
	out[i] ^= 0x40
	return out
}

// damagedStore builds a store with two datasets and a few entries, lets
// damage change it through Badger directly, and returns the directory.
func damagedStore(t *testing.T, damage func(db *badger.DB, shop DatasetInfo)) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	for _, name := range []string{"other", "shop"} {
		if err := s.CreateDataset(ctx, name, parseSchema(t, testSchema)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := s.Append(ctx, "shop", [][]byte{line(fmt.Sprint("a", i), i), line(fmt.Sprint("b", i), i)}); err != nil {
			t.Fatal(err)
		}
	}
	shop, _ := s.Dataset("shop")
	damage(s.db, shop)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func rewrite(t *testing.T, db *badger.DB, key []byte, f func([]byte) []byte) {
	t.Helper()
	err := db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return txn.Set(key, f(v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// recoverErr opens dir and recovers it, returning the error of whichever
// failed.
func recoverErr(t *testing.T, dir string) error {
	t.Helper()
	s, err := Open(dir, smallOptions())
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.Recover(context.Background(), testEngine())
	return err
}

func wantCorrupt(t *testing.T, err error, dataset, key, reason string) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a CorruptError", err)
	}
	if ce.Dataset != dataset || ce.Key != key || !strings.Contains(ce.Reason, reason) {
		t.Fatalf("got dataset %q key %q reason %q; want %q %q %q", ce.Dataset, ce.Key, ce.Reason, dataset, key, reason)
	}
	if msg := err.Error(); !strings.Contains(msg, dataset) || !strings.Contains(msg, key) {
		t.Fatalf("message %q does not name the dataset and key", msg)
	}
}

func TestRecoverFindsAFlippedByte(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		key = walKey(shop.ID, 3)
		rewrite(t, db, key, func(v []byte) []byte { return flip(v, len(v)/2) })
	})
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "checksum mismatch")
}

func TestRecoverFindsATruncatedValue(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		key = walKey(shop.ID, 5)
		rewrite(t, db, key, func(v []byte) []byte { return v[:len(v)-10] })
	})
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "truncated")
}

func TestRecoverFindsAMissingEntry(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		err := db.Update(func(txn *badger.Txn) error { return txn.Delete(walKey(shop.ID, 3)) })
		if err != nil {
			t.Fatal(err)
		}
		key = walKey(shop.ID, 5)
	})
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "sequences 3..4 are missing")
}

func TestRecoverFindsALostTail(t *testing.T) {
	var id uint64
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		id = shop.ID
		err := db.Update(func(txn *badger.Txn) error { return txn.Delete(walKey(shop.ID, 5)) })
		if err != nil {
			t.Fatal(err)
		}
	})
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(walPrefix(id)), "the log ends before sequence 5 but the metadata says the next sequence is 7")
}

func TestRecoverFindsAValueUnderTheWrongKey(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		key = walKey(shop.ID, 1)
		err := db.Update(func(txn *badger.Txn) error {
			item, err := txn.Get(walKey(shop.ID, 3))
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			return txn.Set(key, v)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "checksum mismatch")
}

func TestOpenFindsDamagedMetadata(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		key = metaKey(shop.ID)
		rewrite(t, db, key, func(v []byte) []byte { return flip(v, envelopeHeader) })
	})
	_, err := Open(dir, smallOptions())
	wantCorrupt(t, err, "shop", keyString(key), "checksum mismatch")
}

func TestRecoverFindsADamagedSchema(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		key = schemaKey(shop.ID)
		// A well-sealed value whose payload is not a schema: the
		// envelope passes, the content check does not.
		if err := db.Update(func(txn *badger.Txn) error {
			return txn.Set(key, seal(key, kindSchema, []byte(`{"fields":[{"name":"x"}]}`)))
		}); err != nil {
			t.Fatal(err)
		}
	})
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "type is missing")
}

// TestKeyLayout pins the key layout of doc.go: everything of a dataset
// but its catalog entry under d/<id>/, in an order where the log sorts by
// sequence.
func TestKeyLayout(t *testing.T) {
	const id = 7
	for key, want := range map[string]string{
		string(catalogKey("shop")):             "c/shop",
		string(catalogKey("上海")):               "c/上海",
		string(metaKey(id)):                    "d/7/m",
		string(schemaKey(id)):                  "d/7/s",
		string(walKey(id, 4097)):               "d/7/w/4097",
		string(segmentKey(id, "vip")):          "d/7/g/vip",
		string(checkpointPrefix(id)) + "x":     "d/7/k/x",
		string(dataPrefix(id)):                 "d/7/",
		string(append(dataPrefix(id), 0, 1)):   `d/7/\x00\x01`,
		string(append(walPrefix(id), 1, 2, 3)): `d/7/w/\x01\x02\x03`,
	} {
		if got := keyString([]byte(key)); got != want {
			t.Errorf("keyString(%q) = %s, want %s", key, got, want)
		}
	}
	for _, k := range [][]byte{metaKey(id), schemaKey(id), walKey(id, 1), segmentKey(id, "x"), checkpointPrefix(id)} {
		if !bytes.HasPrefix(k, dataPrefix(id)) {
			t.Errorf("%s is outside the dataset's prefix", keyString(k))
		}
		if got, ok := dataID(k); !ok || got != id {
			t.Errorf("dataID(%s) = %d, %v", keyString(k), got, ok)
		}
	}
	if bytes.Compare(walKey(id, 255), walKey(id, 256)) >= 0 || bytes.Compare(walKey(id, 1<<40), walKey(id+1, 1)) >= 0 {
		t.Error("write-ahead keys do not sort by dataset, then sequence")
	}
	if seq, ok := walSeq(walKey(id, 99), id); !ok || seq != 99 {
		t.Errorf("walSeq = %d, %v", seq, ok)
	}
	if _, ok := walSeq(walKey(id, 99), id+1); ok {
		t.Error("walSeq accepted another dataset's key")
	}
}

// TestRecoverReadsUncompressedEntries: stores written before the log was
// compressed hold plain records entries; they replay as before, mixed
// with compressed ones.
func TestRecoverReadsUncompressedEntries(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		key = walKey(shop.ID, 3)
		rewrite(t, db, key, func(v []byte) []byte {
			if v[1] != byte(kindRecordsS2) {
				t.Fatalf("entry stored as %s, want it compressed", kind(v[1]))
			}
			plain := appendRecordsPayload(nil, [][]byte{line("a1", 1), line("b1", 1)})
			return seal(key, kindRecords, plain)
		})
	})
	e, rec := recovered(t, dir)
	if rec.Records() != 6 {
		t.Fatalf("%d records recovered, want 6", rec.Records())
	}
	ds, err := e.Dataset("shop")
	if err != nil {
		t.Fatal(err)
	}
	if age, ok := ageOf(t, ds, "b1"); !ok || age != 1 {
		t.Fatalf("b1 age %d (present %v), want 1", age, ok)
	}
}

// TestRecoverFindsBadCompression: a compressed entry whose checksum holds
// but whose body does not decompress (a writer bug, not a disk fault) is
// refused by name.
func TestRecoverFindsBadCompression(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		key = walKey(shop.ID, 3)
		rewrite(t, db, key, func(v []byte) []byte {
			body := bytes.Clone(v[envelopeHeader : len(v)-4])
			return seal(key, kindRecordsS2, body[:len(body)-2])
		})
	})
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "compressed records")
}

// TestRecoverRefusesAnOversizedClaim: a compressed entry declaring more
// bytes than an append may hold is refused before anything is allocated.
func TestRecoverRefusesAnOversizedClaim(t *testing.T) {
	var key []byte
	dir := damagedStore(t, func(db *badger.DB, shop DatasetInfo) {
		key = walKey(shop.ID, 3)
		rewrite(t, db, key, func([]byte) []byte {
			claim := binary.AppendUvarint(nil, 3*MaxAppendBytes)
			return seal(key, kindRecordsS2, append(claim, 0, 0, 0))
		})
	})
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "more than an entry may hold")
}
