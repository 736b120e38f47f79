package jsonstr

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestMatchesEncodingJSON compares with encoding/json (HTML escaping off)
// on the characters that need care; engine/export's test adds random
// strings of them.
func TestMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "上海", `a"b\c`, "\n\r\t\b\f\x00\x1f", "\u2028\u2029", "\xff\xe4\xb8", "<&>", "\u00a0x"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(Append(nil, s)) + "\n"; got != want.String() {
			t.Errorf("Append(%q) = %s, want %s", s, got, want.String())
		}
		if got := string(Append(nil, []byte(s))) + "\n"; got != want.String() {
			t.Errorf("Append([]byte(%q)) = %s, want %s", s, got, want.String())
		}
	}
}
