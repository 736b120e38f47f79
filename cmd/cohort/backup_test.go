package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/storage"
)

func TestBackupThenRestore(t *testing.T) {
	tmp := t.TempDir()
	src, data := filepath.Join(tmp, "gen"), filepath.Join(tmp, "data")
	if rc, _, errs := cli(t, "gen", "--profiles", "300", "--seed", "5", "--now", "2026-11-22", "--out", src); rc != 0 {
		t.Fatalf("gen: %s", errs)
	}
	schemaPath, profiles := filepath.Join(src, gen.SchemaFile), filepath.Join(src, gen.ProfilesFile)
	// shop ends with a checkpoint; web keeps its whole log.
	if rc, out, errs := cli(t, "load", "--data", data, "--dataset", "shop", "--schema", schemaPath, profiles); rc != 0 {
		t.Fatalf("load: %s\n%s", out, errs)
	}
	if rc, out, errs := cli(t, "load", "--data", data, "--dataset", "web", "--schema", schemaPath, "--no-checkpoint", profiles); rc != 0 {
		t.Fatalf("load: %s\n%s", out, errs)
	}
	if rc, _, errs := cli(t, "segment", "save", "--data", data, "--dataset", "shop", "women", "gender = 'female'"); rc != 0 {
		t.Fatalf("segment save: %s", errs)
	}

	file := filepath.Join(tmp, "shop.cbk")
	rc, out, errs := cli(t, "backup", "--data", data, "--out", file)
	if rc != 0 || !strings.Contains(out, "2 datasets (shop, web)") {
		t.Fatalf("backup: rc %d\n%s\n%s", rc, out, errs)
	}
	if left := dirNames(t, tmp); strings.Join(left, " ") != "data gen shop.cbk" {
		t.Fatalf("next to the backup: %v", left)
	}

	restored := filepath.Join(tmp, "restored")
	rc, out, errs = cli(t, "restore", "--in", file, "--data", restored)
	if rc != 0 || !strings.Contains(out, "2 datasets (shop, web)") {
		t.Fatalf("restore: rc %d\n%s\n%s", rc, out, errs)
	}
	for _, q := range []string{"ALL", "gender = 'female'", "SEGMENT('women')", "city = '上海' AND NOT is_vip", "age > 30 AND member_level = 'L2'"} {
		for _, ds := range []string{"shop", "web"} {
			if ds == "web" && strings.HasPrefix(q, "SEGMENT") {
				continue
			}
			count := func(dir string) string {
				t.Helper()
				rc, out, errs := cli(t, "query", "--data", dir, "--dataset", ds, "--now", "2026-11-22", q)
				if rc != 0 {
					t.Fatalf("query %s %s on %s: %s", ds, q, dir, errs)
				}
				return strings.TrimSpace(out)
			}
			if a, b := count(data), count(restored); a != b || a == "0" {
				t.Fatalf("%s %s: %s in the original, %s restored", ds, q, a, b)
			}
		}
	}

	// Restoring again into the now non-empty directory is refused.
	rc, _, errs = cli(t, "restore", "--in", file, "--data", restored)
	if rc != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("restore into a store: rc %d\n%s", rc, errs)
	}
	// A file that is not a backup is refused and leaves nothing.
	rc, _, errs = cli(t, "restore", "--in", profiles, "--data", filepath.Join(tmp, "nothing"))
	if rc != 1 || !strings.Contains(errs, "not a usable Cohort backup") {
		t.Fatalf("restore of a non-backup: rc %d\n%s", rc, errs)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := writeFile(t, filepath.Join(tmp, "cut.cbk"), string(raw[:len(raw)-10]))
	rc, _, errs = cli(t, "restore", "--in", cut, "--data", filepath.Join(tmp, "nothing"))
	if rc != 1 || !strings.Contains(errs, "truncated") {
		t.Fatalf("restore of a truncated backup: rc %d\n%s", rc, errs)

	}
	if _, err := os.Stat(filepath.Join(tmp, "nothing")); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left its directory: %v", err)
	}

	// A directory that is not a store is not backed up (nor created).
	rc, _, errs = cli(t, "backup", "--data", filepath.Join(tmp, "typo"), "--out", filepath.Join(tmp, "x.cbk"))
	if rc != 1 || !strings.Contains(errs, "not a Cohort store") {
		t.Fatalf("backup of a non-store: rc %d\n%s", rc, errs)
	}
	// While another process (here: this one) has the store open, backup
	// refuses and leaves no file.
	st, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc, _, errs = cli(t, "backup", "--data", data, "--out", filepath.Join(tmp, "busy.cbk"))
	if rc != 1 || !strings.Contains(errs, "in use by another cohort process") {
		t.Fatalf("backup of a store in use: rc %d\n%s", rc, errs)
	}
	if left := dirNames(t, tmp); strings.Join(left, " ") != "cut.cbk data gen restored shop.cbk" {
		t.Fatalf("left: %v", left)
	}
}

func dirNames(t *testing.T, dir string) []string {
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
