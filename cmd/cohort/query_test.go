package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/query"
)

func TestPointAtCountsWideCharacters(t *testing.T) {
	text := "city = '上海' AND agee > 3"
	got := pointAt(text, &query.Error{Line: 1, Column: 16})
	want := "  city = '上海' AND agee > 3\n                   ^"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestGenThenQuery(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	ctx := context.Background()
	if rc := run(ctx, []string{"gen", "--profiles", "500", "--seed", "3", "--now", "2026-11-22", "--out", dir}, &out, &errb); rc != 0 {
		t.Fatalf("gen: rc %d: %s", rc, errb.String())
	}
	count := func(q string) string {
		t.Helper()
		out.Reset()
		errb.Reset()
		if rc := run(ctx, []string{"query", "--data", dir, "--now", "2026-11-22", q}, &out, &errb); rc != 0 {
			t.Fatalf("query %s: rc %d: %s", q, rc, errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	all, women, men := count("ALL"), count("gender = 'female'"), count("gender = 'male'")
	if all != "500" {
		t.Fatalf("ALL = %s", all)
	}
	w, _ := strconv.Atoi(women)
	m, _ := strconv.Atoi(men)
	nogender, _ := strconv.Atoi(count("gender IS NULL"))
	if w == 0 || m == 0 || w+m+nogender != 500 {
		t.Fatalf("female %d + male %d + no gender %d != 500", w, m, nogender)
	}
	errb.Reset()
	if rc := run(ctx, []string{"query", "--data", dir, "city = 'Shanghia'"}, &out, &errb); rc != 1 {
		t.Fatalf("rc %d for an unknown value", rc)
	}
	if !strings.Contains(errb.String(), "did you mean 'Shanghai'") || !strings.Contains(errb.String(), "^") {
		t.Fatalf("error output:\n%s", errb.String())
	}
	out.Reset()
	if rc := run(ctx, []string{"query", "--data", dir, "--now", "2026-11-22", "--explain", "gender = 'female' AND NOT is_vip"}, &out, &errb); rc != 0 {
		t.Fatalf("explain rc %d", rc)
	}
	if !strings.Contains(out.String(), "- is_vip") || !strings.Contains(out.String(), "count:  ") {
		t.Fatalf("explain output:\n%s", out.String())
	}
}
