package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	opsKey = "s3cr3t-at-least-16-chars"
	ciKey  = "ci-key-0123456789abcdef"
)

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func goodFile() string {
	return fmt.Sprintf(`{"keys":[
		{"name":"ops","key":%q,"scopes":["read","write"],"datasets":["shop"]},
		{"name":"ci","sha256":%q,"scopes":["admin"]},
		{"name":"exporter","key":"exporter-key-0000000","scopes":["export","read"],"datasets":["shop","Web"]}
	]}`, opsKey, hexSum(ciKey))
}

func mustParse(t *testing.T, s string) *Keys {
	t.Helper()
	ks, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return ks
}

func TestParseGood(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
	}{
		{"empty list", `{"keys":[]}`, 0},
		{"empty list with space", " \n{ \"keys\" : [ ] }\n", 0},
		{"three keys", goodFile(), 3},
		{"uppercase hex digest", fmt.Sprintf(`{"keys":[{"name":"a","sha256":%q,"scopes":["read"]}]}`, strings.ToUpper(hexSum(ciKey))), 1},
		{"empty datasets", `{"keys":[{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":["read"],"datasets":[]}]}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := mustParse(t, tt.in)
			if ks.Len() != tt.n {
				t.Errorf("Len() = %d, want %d", ks.Len(), tt.n)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	entry := func(fields string) string { return `{"keys":[` + fields + `]}` }
	okA := `{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":["read"]}`
	tests := []struct {
		name string
		in   string
		want []string // each must appear in the error
	}{
		{"empty file", ``, []string{"empty"}},
		{"not json", `keys: []`, []string{"not valid"}},
		{"not an object", `[]`, []string{"not valid"}},
		{"missing keys", `{}`, []string{`no "keys"`}},
		{"null keys", `{"keys":null}`, []string{`no "keys"`}},
		{"trailing data", `{"keys":[]} {}`, []string{"after"}},
		{"unknown top-level field", `{"keys":[],"version":1}`, []string{"version"}},
		{"unknown entry field", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":["read"],"scope":"x"}`), []string{`keys[0] ("a")`, `unknown field "scope"`}},
		{"unknown field in second entry", entry(okA + `,{"name":"b","key":"bbbbbbbbbbbbbbbb","scopes":["read"],"dataset":"x"}`), []string{`keys[1] ("b")`, `unknown field "dataset"`}},
		{"entry not an object", entry(okA + `,"k"`), []string{"keys[1] (unnamed)", "not a valid entry"}},
		{"missing name", entry(`{"key":"aaaaaaaaaaaaaaaa","scopes":["read"]}`), []string{"keys[0]", "unnamed", `"name" is required`}},
		{"null entry", entry(okA + `,null`), []string{"keys[1]", `"name" is required`}},
		{"name with spaces", entry(`{"name":" a","key":"aaaaaaaaaaaaaaaa","scopes":["read"]}`), []string{"keys[0]", "whitespace"}},
		{"neither key nor sha256", entry(`{"name":"a","scopes":["read"]}`), []string{`keys[0] ("a")`, "exactly one"}},
		{"both key and sha256", entry(fmt.Sprintf(`{"name":"a","key":"aaaaaaaaaaaaaaaa","sha256":%q,"scopes":["read"]}`, hexSum("x"))), []string{`keys[0] ("a")`, "both"}},
		{"short key", entry(okA + `,{"name":"b","key":"short","scopes":["read"]}`), []string{`keys[1] ("b")`, "at least 16"}},
		{"key with whitespace", entry(`{"name":"a","key":" aaaaaaaaaaaaaaaa","scopes":["read"]}`), []string{`keys[0] ("a")`, "whitespace"}},
		{"short digest", entry(`{"name":"a","sha256":"abcd","scopes":["read"]}`), []string{`keys[0] ("a")`, "64 hex"}},
		{"non-hex digest", entry(`{"name":"a","sha256":"` + strings.Repeat("zz", 32) + `","scopes":["read"]}`), []string{`keys[0] ("a")`, "not hex"}},
		{"no scopes", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa"}`), []string{`keys[0] ("a")`, `"scopes"`}},
		{"empty scopes", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":[]}`), []string{`keys[0] ("a")`, `"scopes"`}},
		{"unknown scope", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":["read","delete"]}`), []string{`keys[0] ("a")`, `unknown scope "delete"`}},
		{"scope wrong case", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":["Read"]}`), []string{`unknown scope "Read"`}},
		{"repeated scope", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":["read","read"]}`), []string{`keys[0] ("a")`, `"read" listed twice`}},
		{"empty dataset", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":["read"],"datasets":["shop",""]}`), []string{`keys[0] ("a")`, `"datasets"[1] is empty`}},
		{"repeated dataset", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":["read"],"datasets":["shop","shop"]}`), []string{`keys[0] ("a")`, `"shop" listed twice`}},
		{"duplicate name", entry(okA + `,{"name":"a","key":"bbbbbbbbbbbbbbbb","scopes":["read"]}`), []string{`keys[1] ("a")`, "duplicate name", "keys[0]"}},
		{"duplicate plaintext key", entry(okA + `,{"name":"b","key":"aaaaaaaaaaaaaaaa","scopes":["write"]}`), []string{`keys[1] ("b")`, "duplicate key", `keys[0] ("a")`}},
		{"duplicate key via digest", entry(okA + fmt.Sprintf(`,{"name":"b","sha256":%q,"scopes":["write"]}`, hexSum("aaaaaaaaaaaaaaaa"))), []string{`keys[1] ("b")`, "duplicate key", `keys[0] ("a")`}},
		{"wrong type", entry(`{"name":"a","key":"aaaaaaaaaaaaaaaa","scopes":"read"}`), []string{`keys[0] ("a")`, "not a valid entry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded with %d keys, want error", ks.Len())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "aaaaaaaaaaaaaaaa") {
				t.Errorf("error %q reveals a key", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "keys.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(goodFile()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"keys":[{"name":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := Load(good)
	if err != nil {
		t.Fatalf("Load(good): %v", err)
	}
	if ks.Len() != 3 {
		t.Errorf("Len() = %d, want 3", ks.Len())
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `keys[0] ("x")`) {
		t.Errorf("Load(bad) error = %v, want path and entry", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("Load(missing) error = %v, want path", err)
	}
}

func TestAuthenticate(t *testing.T) {
	ks := mustParse(t, goodFile())
	tests := []struct {
		name      string
		presented string
		want      string // key name, "" for no match
	}{
		{"plaintext entry", opsKey, "ops"},
		{"sha256 entry", ciKey, "ci"},
		{"third entry", "exporter-key-0000000", "exporter"},
		{"empty", "", ""},
		{"wrong key", "not-a-configured-key", ""},
		{"prefix of key", opsKey[:len(opsKey)-1], ""},
		{"key plus suffix", opsKey + "x", ""},
		{"digest as key", hexSum(ciKey), ""},
		{"case differs", strings.ToUpper(opsKey), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := ks.Authenticate(tt.presented)
			if tt.want == "" {
				if ok || k != nil {
					t.Fatalf("Authenticate = %v, %v; want nil, false", k, ok)
				}
				return
			}
			if !ok || k == nil || k.Name != tt.want {
				t.Fatalf("Authenticate = %v, %v; want %q", k, ok, tt.want)
			}
		})
	}

	var none *Keys
	if k, ok := none.Authenticate(opsKey); ok || k != nil || none.Len() != 0 {
		t.Errorf("nil Keys authenticated %v", k)
	}
	empty := mustParse(t, `{"keys":[]}`)
	if k, ok := empty.Authenticate(opsKey); ok || k != nil {
		t.Errorf("empty Keys authenticated %v", k)
	}
}

func TestScopes(t *testing.T) {
	ks := mustParse(t, goodFile())
	all := []Scope{Read, Export, Write, Admin, Scope("delete"), Scope("")}
	tests := []struct {
		key    string
		allows []Scope
		scopes []Scope
	}{
		{opsKey, []Scope{Read, Write}, []Scope{Read, Write}},
		{ciKey, []Scope{Read, Export, Write, Admin}, []Scope{Admin}},
		{"exporter-key-0000000", []Scope{Read, Export}, []Scope{Export, Read}},
	}
	for _, tt := range tests {
		k, ok := ks.Authenticate(tt.key)
		if !ok {
			t.Fatalf("key for %v did not authenticate", tt.scopes)
		}
		t.Run(k.Name, func(t *testing.T) {
			for _, s := range all {
				want := false
				for _, a := range tt.allows {
					want = want || a == s
				}
				if got := k.Allows(s); got != want {
					t.Errorf("Allows(%q) = %v, want %v", s, got, want)
				}
			}
			got := k.Scopes()
			if !reflect.DeepEqual(got, tt.scopes) {
				t.Errorf("Scopes() = %v, want %v", got, tt.scopes)
			}
			got[0] = "mutated"
			if k.Scopes()[0] == "mutated" {
				t.Error("Scopes() returned internal slice")
			}
		})
	}
	var nilKey *Key
	if nilKey.Allows(Read) || nilKey.AllowsDataset("shop") || nilKey.Scopes() != nil {
		t.Error("nil key allows something")
	}
}

func TestAllowsDataset(t *testing.T) {
	ks := mustParse(t, goodFile())
	ops, _ := ks.Authenticate(opsKey)
	ci, _ := ks.Authenticate(ciKey)
	exp, _ := ks.Authenticate("exporter-key-0000000")
	tests := []struct {
		k       *Key
		dataset string
		want    bool
	}{
		{ops, "shop", true},
		{ops, "web", false},
		{ops, "Shop", false},
		{ops, "shop ", false},
		{ops, "", false},
		{ci, "shop", true},
		{ci, "anything", true},
		{ci, "", true},
		{exp, "shop", true},
		{exp, "Web", true},
		{exp, "web", false},
	}
	for _, tt := range tests {
		if got := tt.k.AllowsDataset(tt.dataset); got != tt.want {
			t.Errorf("%v.AllowsDataset(%q) = %v, want %v", tt.k, tt.dataset, got, tt.want)
		}
	}
	if d := ops.Datasets(); !reflect.DeepEqual(d, []string{"shop"}) {
		t.Errorf("ops.Datasets() = %v", d)
	}
	if d := ci.Datasets(); d != nil {
		t.Errorf("ci.Datasets() = %v, want nil", d)
	}
}

func TestFromRequest(t *testing.T) {
	tests := []struct {
		name, auth, xkey, want string
	}{
		{"neither", "", "", ""},
		{"bearer", "Bearer abc", "", "abc"},
		{"bearer lower", "bearer abc", "", "abc"},
		{"bearer upper", "BEARER abc", "", "abc"},
		{"bearer spaces", "  Bearer   abc  ", "", "abc"},
		{"bearer tab", "Bearer\tabc", "", "abc"},
		{"bearer wins", "Bearer abc", "xyz", "abc"},
		{"x-api-key", "", "xyz", "xyz"},
		{"x-api-key trimmed", "", "  xyz ", "xyz"},
		{"other scheme falls back", "Basic dXNlcjpwYXNz", "xyz", "xyz"},
		{"other scheme alone", "Basic dXNlcjpwYXNz", "", ""},
		{"bearer without key", "Bearer", "", ""},
		{"bearer blank key falls back", "Bearer   ", "xyz", "xyz"},
		{"no space after scheme", "Bearerabc", "", ""},
		{"bare token is not bearer", "abc", "", ""},
		{"spaces only", "   ", "   ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromRequest(tt.auth, tt.xkey); got != tt.want {
				t.Errorf("FromRequest(%q, %q) = %q, want %q", tt.auth, tt.xkey, got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	ks := mustParse(t, goodFile())
	ops, _ := ks.Authenticate(opsKey)
	ci, _ := ks.Authenticate(ciKey)
	tests := []struct {
		name    string
		k       *Key
		need    Scope
		dataset string
		status  int
		msg     string
	}{
		{"no key", nil, Read, "shop", http.StatusUnauthorized, "missing or invalid API key"},
		{"allowed", ops, Read, "shop", http.StatusOK, ""},
		{"allowed no dataset", ops, Write, "", http.StatusOK, ""},
		{"missing scope", ops, Export, "shop", http.StatusForbidden, `key "ops" lacks the "export" scope`},
		{"admin needs admin", ops, Admin, "", http.StatusForbidden, `key "ops" lacks the "admin" scope`},
		{"wrong dataset", ops, Read, "x", http.StatusForbidden, `key "ops" may not use dataset "x"`},
		{"admin anything", ci, Export, "x", http.StatusOK, ""},
		{"unknown scope", ci, Scope("delete"), "", http.StatusForbidden, `key "ci" lacks the "delete" scope`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.k, tt.need, tt.dataset)
			if d.Status != tt.status || d.Message != tt.msg {
				t.Errorf("Decide = %+v, want {%d %q}", d, tt.status, tt.msg)
			}
			if d.Allowed() != (tt.status == http.StatusOK) {
				t.Errorf("Allowed() = %v", d.Allowed())
			}
		})
	}
}

func TestKeyStringHidesDigest(t *testing.T) {
	ks := mustParse(t, goodFile())
	k, _ := ks.Authenticate(opsKey)
	digest := hexSum(opsKey)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		s := fmt.Sprintf(format, k)
		if s != `key "ops"` || strings.Contains(s, digest) {
			t.Errorf("Sprintf(%q) = %q", format, s)
		}
	}
}
