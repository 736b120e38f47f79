package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/storage"
)

// recoverStore recovers data in-process and returns what recovery did
// for dataset shop.
func recoverStore(t *testing.T, data string) storage.DatasetRecovery {
	t.Helper()
	st, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Recover(context.Background(), engine.New(engine.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	return rec.Datasets[0]
}

func TestLoadWritesACheckpoint(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "gen")
	if rc, _, errs := cli(t, "gen", "--profiles", "200", "--seed", "3", "--now", "2026-11-22", "--out", src); rc != 0 {
		t.Fatalf("gen: %s", errs)
	}
	schemaPath, profiles := filepath.Join(src, gen.SchemaFile), filepath.Join(src, gen.ProfilesFile)

	// Without a checkpoint the next start replays the whole load.
	data := filepath.Join(tmp, "plain")
	if rc, out, errs := cli(t, "load", "--data", data, "--dataset", "shop", "--schema", schemaPath, "--no-checkpoint", profiles); rc != 0 || strings.Contains(errs, "checkpoint written") {
		t.Fatalf("load --no-checkpoint: rc %d\n%s\n%s", rc, out, errs)
	}
	if r := recoverStore(t, data); r.Records != 200 || r.Checkpoint != 0 {
		t.Fatalf("recovery without a checkpoint: %+v", r)
	}

	// With one (the default), it replays nothing and answers the same.
	data = filepath.Join(tmp, "cp")
	if rc, out, errs := cli(t, "load", "--data", data, "--dataset", "shop", "--schema", schemaPath, "--batch", "32", profiles); rc != 0 || !strings.Contains(errs, "checkpoint written") {
		t.Fatalf("load: rc %d\n%s\n%s", rc, out, errs)
	}
	if r := recoverStore(t, data); r.Records != 0 || r.Checkpoint != 200 || r.Applied != 0 {
		t.Fatalf("recovery after a checkpointed load: %+v", r)
	}
	for _, dir := range []string{filepath.Join(tmp, "plain"), data} {
		rc, out, errs := cli(t, "query", "--data", dir, "--dataset", "shop", "--now", "2026-11-22", "ALL")
		if rc != 0 || strings.TrimSpace(out) != "200" {
			t.Fatalf("query %s: rc %d %q\n%s", dir, rc, out, errs)
		}
	}
}
