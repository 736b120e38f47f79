package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"github.com/cohortdb/cohort/internal/jsonstr"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/engine/record"
)

// TestEncoders checks the hand-rolled appenders against the functions and
// packages they replace, on edge cases and random inputs (invalid UTF-8
// included).
func TestEncoders(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int64{0, 1, -1, 9, -9, 10, 99, -100, 123456789, -(1 << 53), 1 << 53} {
		for scale := range 7 {
			if got, want := string(appendDecimal(nil, n, scale)), record.FormatDecimal(n, scale); got != want {
				t.Fatalf("appendDecimal(%d, %d) = %s, want %s", n, scale, got, want)
			}
		}
	}
	for range 20000 {
		n, scale := r.Int64N(1<<54)-(1<<53), r.IntN(7)
		if got, want := string(appendDecimal(nil, n, scale)), record.FormatDecimal(n, scale); got != want {
			t.Fatalf("appendDecimal(%d, %d) = %s, want %s", n, scale, got, want)
		}
	}
	alphabet := []string{"a", "上", ",", `"`, "\n", "\r", " ", "\t", "\\", ".", "|", "\x00", "\x1f", "\u2028", "\u2029", "\xff", "\xe4\xb8", "<", "&", "\u00a0"}
	strs := []string{"", `\.`, " x", "x ", "\u00a0x"}
	for range 5000 {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		strs = append(strs, b.String())
	}
	for _, s := range strs {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		if got := jsonstr.Append(nil, s); string(got)+"\n" != want.String() {
			t.Fatalf("jsonstr.Append(%q) = %s, want %s", s, got, want.String())
		}
		if got := jsonstr.Append(nil, []byte(s)); string(got)+"\n" != want.String() {
			t.Fatalf("jsonstr.Append([]byte(%q)) = %s, want %s", s, got, want.String())
		}
		want.Reset()
		w := csv.NewWriter(&want)
		w.Write([]string{s})
		w.Flush()
		if got := appendCSVCell(nil, []byte(s)); string(got)+"\n" != want.String() && !(s == "" && want.String() == "\"\"\n") {
			t.Fatalf("appendCSVCell(%q) = %q, want %q", s, got, want.String())
		}
	}
}
