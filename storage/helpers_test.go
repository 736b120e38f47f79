package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

const testSchema = `{"timezone":"Asia/Shanghai","fields":[
 {"name":"city","type":"tag"},
 {"name":"age","type":"int","min":0,"max":120},
 {"name":"vip","type":"bool"},
 {"name":"channels","type":"set"},
 {"name":"purchase","type":"event","retention_days":400}]}`

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func testEngine() *engine.Engine {
	return engine.New(engine.Options{Clock: func() time.Time { return testNow }})
}

func parseSchema(t testing.TB, s string) *schema.Schema {
	t.Helper()
	sc, err := schema.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// smallOptions keep Badger's memory small, so many stores can be open in
// parallel tests.
func smallOptions() Options {
	return Options{MemTableSize: 4 << 20, ValueLogFileSize: 8 << 20}
}

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// line is a valid record for the test schema.
func line(id string, age int) []byte {
	return fmt.Appendf(nil, `{"id":%q,"set":{"city":"上海","age":%d,"vip":true},"add":{"channels":["app"]},"events":[{"field":"purchase","value":"milk","time":"2026-11-20"}]}`, id, age)
}

// noisyID is an id of n pseudo-random hex digits after prefix, the same
// for the same arguments: the write-ahead log compresses ordinary lines
// several times over, and tests that must fill bytes need lines that do
// not shrink.
func noisyID(prefix string, seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, 0, len(prefix)+n)
	b = append(b, prefix...)
	for range n {
		b = append(b, "0123456789abcdef"[r.IntN(16)])
	}
	return string(b)
}

// recovered opens dir, recovers it into a fresh engine and closes it.
func recovered(t testing.TB, dir string) (*engine.Engine, Recovery) {
	t.Helper()
	s := openStore(t, dir)
	defer s.Close()
	e := testEngine()
	rec, err := s.Recover(context.Background(), e)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	return e, rec
}

// ageOf returns the age of external id in ds, and whether the profile
// exists and has one.
func ageOf(t testing.TB, ds *engine.Dataset, id string) (int64, bool) {
	t.Helper()
	sn := ds.Snapshot()
	f, err := sn.Field("age")
	if err != nil {
		t.Fatal(err)
	}
	for row := range sn.Rows() {
		if sn.ExternalID(row) == id {
			return f.BSI.Value(row)
		}
	}
	return 0, false
}
