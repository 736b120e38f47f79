package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// TestAnalyticsCommands runs profile, overlap, split and lookalike over a
// generated directory and checks their JSON against counts of queries.
func TestAnalyticsCommands(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out, errb strings.Builder
	cmd := func(args ...string) string {
		t.Helper()
		out.Reset()
		errb.Reset()
		if rc := run(ctx, append(args[:1:1], append([]string{"--data", dir, "--now", "2026-11-22"}, args[1:]...)...), &out, &errb); rc != 0 {
			t.Fatalf("%v: rc %d: %s", args, rc, errb.String())
		}
		return out.String()
	}
	if rc := run(ctx, []string{"gen", "--profiles", "3000", "--seed", "5", "--now", "2026-11-22", "--out", dir}, &out, &errb); rc != 0 {
		t.Fatalf("gen: %s", errb.String())
	}
	count := func(q string) uint64 {
		n, err := strconv.ParseUint(strings.TrimSpace(cmd("query", q)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	women := count("gender = 'female'")

	var prof struct {
		Count  uint64
		Fields map[string]struct {
			Values []struct {
				Value string
				Count uint64
			}
		}
	}
	if err := json.Unmarshal([]byte(cmd("profile", "--json", "--by", "city", "gender = 'female'")), &prof); err != nil {
		t.Fatal(err)
	}
	if prof.Count != women || len(prof.Fields["city"].Values) == 0 {
		t.Fatalf("profile: %+v", prof)
	}
	for _, v := range prof.Fields["city"].Values {
		if want := count("gender = 'female' AND city = '" + v.Value + "'"); v.Count != want {
			t.Fatalf("city %s: %d, want %d", v.Value, v.Count, want)
		}
	}
	if text := cmd("profile", "--by", "city,age", "gender = 'female'"); !strings.Contains(text, "TGI") || !strings.Contains(text, "p50") {
		t.Fatalf("profile table:\n%s", text)
	}

	var ov struct{ Matrix [][]uint64 }
	if err := json.Unmarshal([]byte(cmd("overlap", "--json", "gender = 'female'", "is_vip")), &ov); err != nil {
		t.Fatal(err)
	}
	if ov.Matrix[0][0] != women || ov.Matrix[0][1] != count("gender = 'female' AND is_vip") {
		t.Fatalf("overlap: %+v", ov)
	}

	var groups []struct {
		Name  string
		Count uint64
	}
	if err := json.Unmarshal([]byte(cmd("split", "--json", "--groups", "A=50,B=50", "--salt", "s1", "ALL")), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].Count+groups[1].Count != 3000 {
		t.Fatalf("split: %+v", groups)
	}

	var lal struct {
		Count uint64
		IDs   []string
	}
	if err := json.Unmarshal([]byte(cmd("lookalike", "--json", "--size", "100", "is_vip")), &lal); err != nil {
		t.Fatal(err)
	}
	if lal.Count != 100 || len(lal.IDs) != 10 {
		t.Fatalf("lookalike: %+v", lal)
	}
}
