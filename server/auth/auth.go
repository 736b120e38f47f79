// Package auth implements API keys with scopes for Cohort's HTTP server.
//
// # Scopes
//
// Every key carries one or more scopes:
//
//	read    count, query, profile and explain
//	export  getting member ids out
//	write   ingest and segment changes
//	admin   datasets, schema and pprof
//
// admin implies every other scope; no other scope implies anything. A
// Scope outside these four is never allowed, not even to admin keys
// (unknown means denied).
//
// # Key file
//
// Keys are read from a JSON file:
//
//	{"keys": [
//	  {"name": "ops", "key": "s3cr3t-at-least-16-chars",
//	   "scopes": ["read", "write"], "datasets": ["shop"]},
//	  {"name": "ci", "sha256": "<64 hex digits>", "scopes": ["admin"]}
//	]}
//
// Each entry has:
//
//   - name: required and unique. It identifies the key in logs, audit
//     records and error messages; the key itself is never logged.
//   - exactly one of key (the plaintext key, at least 16 bytes, no
//     surrounding whitespace) or sha256 (the hex SHA-256 digest of the
//     key). sha256 entries let the file be checked in or shared without
//     holding any secret: generate a key, keep it with the client, and put
//     only `printf %s "$KEY" | sha256sum` in the file.
//   - scopes: non-empty list of the scope names above, without repeats.
//   - datasets: optional list of dataset names (compared exactly) the key
//     may use; absent or empty means every dataset.
//
// Unknown fields anywhere are an error, as are duplicate names and two
// entries for the same key (whether given as plaintext or digest). An
// empty "keys" list is valid and means no keys are configured. Every error
// names the entry by index and name and says what is wrong.
//
// # Authentication
//
// Only digests are kept in memory. [Keys.Authenticate] hashes the
// presented key with SHA-256 and compares the result with every
// configured digest using crypto/subtle.ConstantTimeCompare, without
// stopping at a match. Comparing fixed-length digests rather than the raw
// strings means the time taken depends neither on the length of the
// presented or stored keys, nor on how many leading bytes agree, nor on
// which key (if any) matched.
//
// [FromRequest] extracts the presented key from the request headers and
// [Decide] turns the authenticated key (or its absence) into a 401, 403
// or allow decision.
package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Scope is a permission a key may hold.
type Scope string

// The known scopes.
const (
	Read   Scope = "read"   // count, query, profile, explain
	Export Scope = "export" // ids out
	Write  Scope = "write"  // ingest, segments
	Admin  Scope = "admin"  // datasets, schema, pprof; implies all others
)

// MinKeyLen is the minimum length in bytes of a plaintext key.
const MinKeyLen = 16

// Known reports whether s is one of the four defined scopes.
func (s Scope) Known() bool {
	switch s {
	case Read, Export, Write, Admin:
		return true
	}
	return false
}

// Key is one configured API key. It never holds the plaintext key, only
// its SHA-256 digest.
type Key struct {
	// Name identifies the key in logs and audit records.
	Name string

	scopes   []Scope
	datasets []string // nil or empty: all datasets
	digest   [sha256.Size]byte
}

// Allows reports whether k holds scope s, directly or through admin.
// It is false for a nil key and for unknown scopes.
func (k *Key) Allows(s Scope) bool {
	if k == nil || !s.Known() {
		return false
	}
	for _, have := range k.scopes {
		if have == s || have == Admin {
			return true
		}
	}
	return false
}

// AllowsDataset reports whether k may use the dataset called name. A key
// without a dataset list may use every dataset (including ""); otherwise
// name must equal one of the listed names exactly. It is false for a nil
// key.
func (k *Key) AllowsDataset(name string) bool {
	if k == nil {
		return false
	}
	if len(k.datasets) == 0 {
		return true
	}
	for _, d := range k.datasets {
		if d == name {
			return true
		}
	}
	return false
}

// Scopes returns a copy of the scopes listed for k in the key file (admin
// is not expanded).
func (k *Key) Scopes() []Scope {
	if k == nil {
		return nil
	}
	return append([]Scope(nil), k.scopes...)
}

// Datasets returns a copy of k's dataset list; nil means all datasets.
func (k *Key) Datasets() []string {
	if k == nil || len(k.datasets) == 0 {
		return nil
	}
	return append([]string(nil), k.datasets...)
}

// String returns `key "name"`, so that printing a Key never shows its
// digest.
func (k *Key) String() string {
	if k == nil {
		return "no key"
	}
	return fmt.Sprintf("key %q", k.Name)
}

// GoString is like String, for %#v.
func (k *Key) GoString() string { return k.String() }

// Keys is an immutable set of API keys, safe for concurrent use.
type Keys struct {
	keys []*Key
}

// Len returns the number of configured keys. It is 0 for a nil *Keys.
func (ks *Keys) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.keys)
}

// Authenticate returns the key matching presented, or nil, false when
// presented is empty or matches no key. The presented key is hashed and
// compared in constant time with every configured digest; see the
// package documentation.
func (ks *Keys) Authenticate(presented string) (*Key, bool) {
	if ks == nil || presented == "" {
		return nil, false
	}
	sum := sha256.Sum256([]byte(presented))
	found := -1
	for i, k := range ks.keys {
		eq := subtle.ConstantTimeCompare(sum[:], k.digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil, false
	}
	return ks.keys[found], true
}

// fileFormat is the JSON layout of a key file.
type fileFormat struct {
	Keys *[]json.RawMessage `json:"keys"`
}

type entry struct {
	Name     string   `json:"name"`
	Key      string   `json:"key"`
	SHA256   string   `json:"sha256"`
	Scopes   []string `json:"scopes"`
	Datasets []string `json:"datasets"`
}

// Load reads and parses the key file at path.
func Load(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: reading key file: %w", err)
	}
	ks, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

// Parse parses a key file; see the package documentation for the format
// and rules.
func Parse(data []byte) (*Keys, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileFormat
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("auth: key file is empty")
		}
		return nil, fmt.Errorf("auth: key file is not valid: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("auth: key file has data after the top-level JSON object")
	}
	if f.Keys == nil {
		return nil, errors.New(`auth: key file has no "keys" list (use {"keys": []} for no keys)`)
	}
	entries := *f.Keys
	ks := &Keys{keys: make([]*Key, 0, len(entries))}
	names := make(map[string]int, len(entries))
	nameOf := make([]string, 0, len(entries))
	digests := make(map[[sha256.Size]byte]int, len(entries))
	for i, raw := range entries {
		e, err := decodeEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %v", describe(i, e.Name), err)
		}
		k, err := e.key()
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %v", describe(i, e.Name), err)
		}
		if j, dup := names[k.Name]; dup {
			return nil, fmt.Errorf("auth: %s: duplicate name, already used by keys[%d]", describe(i, e.Name), j)
		}
		if j, dup := digests[k.digest]; dup {
			return nil, fmt.Errorf("auth: %s: duplicate key, same key as %s", describe(i, e.Name), describe(j, nameOf[j]))
		}
		names[k.Name] = i
		digests[k.digest] = i
		nameOf = append(nameOf, k.Name)
		ks.keys = append(ks.keys, k)
	}
	return ks, nil
}

// decodeEntry decodes one entry strictly. On error it still returns the
// entry's name when that can be read, so the error can name the entry.
func decodeEntry(raw json.RawMessage) (entry, error) {
	var e entry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		var named struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(raw, &named)
		return entry{Name: named.Name}, fmt.Errorf("not a valid entry: %w", err)
	}
	return e, nil
}

// describe names entry i for error messages.
func describe(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("keys[%d] (unnamed)", i)
	}
	return fmt.Sprintf("keys[%d] (%q)", i, name)
}

// key validates e and converts it to a Key.
func (e entry) key() (*Key, error) {
	if e.Name == "" {
		return nil, errors.New(`"name" is required`)
	}
	if strings.TrimSpace(e.Name) != e.Name {
		return nil, errors.New(`"name" has leading or trailing whitespace`)
	}
	k := &Key{Name: e.Name}
	switch {
	case e.Key != "" && e.SHA256 != "":
		return nil, errors.New(`has both "key" and "sha256"; give exactly one`)
	case e.Key == "" && e.SHA256 == "":
		return nil, errors.New(`needs exactly one of "key" or "sha256"`)
	case e.Key != "":
		if len(e.Key) < MinKeyLen {
			return nil, fmt.Errorf(`"key" is %d bytes, must be at least %d`, len(e.Key), MinKeyLen)
		}
		if strings.TrimSpace(e.Key) != e.Key {
			return nil, errors.New(`"key" has leading or trailing whitespace, which clients cannot send`)
		}
		k.digest = sha256.Sum256([]byte(e.Key))
	default:
		if len(e.SHA256) != 2*sha256.Size {
			return nil, fmt.Errorf(`"sha256" is %d characters, must be %d hex digits`, len(e.SHA256), 2*sha256.Size)
		}
		if _, err := hex.Decode(k.digest[:], []byte(e.SHA256)); err != nil {
			return nil, fmt.Errorf(`"sha256" is not hex: %v`, err)
		}
	}
	if len(e.Scopes) == 0 {
		return nil, errors.New(`"scopes" is required and must not be empty`)
	}
	for j, s := range e.Scopes {
		sc := Scope(s)
		if !sc.Known() {
			return nil, fmt.Errorf(`unknown scope %q (want %s, %s, %s or %s)`, s, Read, Export, Write, Admin)
		}
		for _, prev := range e.Scopes[:j] {
			if prev == s {
				return nil, fmt.Errorf(`scope %q listed twice`, s)
			}
		}
		k.scopes = append(k.scopes, sc)
	}
	for j, d := range e.Datasets {
		if d == "" {
			return nil, fmt.Errorf(`"datasets"[%d] is empty`, j)
		}
		for _, prev := range e.Datasets[:j] {
			if prev == d {
				return nil, fmt.Errorf(`dataset %q listed twice`, d)
			}
		}
	}
	if len(e.Datasets) > 0 {
		k.datasets = append([]string(nil), e.Datasets...)
	}
	return k, nil
}

// FromRequest returns the key presented in a request, given the values of
// its Authorization and X-API-Key headers. An Authorization value of the
// form "Bearer <key>" (scheme case-insensitive, surrounding spaces
// trimmed) wins; otherwise the trimmed X-API-Key value is used. It
// returns "" when neither carries a key.
func FromRequest(authorization, xAPIKey string) string {
	a := strings.TrimSpace(authorization)
	const scheme = "bearer"
	if len(a) > len(scheme) && strings.EqualFold(a[:len(scheme)], scheme) && (a[len(scheme)] == ' ' || a[len(scheme)] == '\t') {
		if k := strings.TrimSpace(a[len(scheme):]); k != "" {
			return k
		}
	}
	return strings.TrimSpace(xAPIKey)
}

// Decision is the outcome of [Decide].
type Decision struct {
	// Status is http.StatusOK (allowed), http.StatusUnauthorized (no or
	// unknown key) or http.StatusForbidden (valid key, not permitted).
	Status int
	// Message explains a refusal in words fit for the client; "" when
	// allowed. It names the key, never its secret.
	Message string
}

// Allowed reports whether the request may proceed.
func (d Decision) Allowed() bool { return d.Status == http.StatusOK }

// Decide says whether a request authenticated as k (nil when no valid key
// was presented) may do something needing scope need on dataset. Pass
// dataset "" for requests that touch no particular dataset; then only the
// scope is checked.
func Decide(k *Key, need Scope, dataset string) Decision {
	if k == nil {
		return Decision{Status: http.StatusUnauthorized, Message: "missing or invalid API key"}
	}
	if !k.Allows(need) {
		return Decision{Status: http.StatusForbidden, Message: fmt.Sprintf("key %q lacks the %q scope", k.Name, need)}
	}
	if dataset != "" && !k.AllowsDataset(dataset) {
		return Decision{Status: http.StatusForbidden, Message: fmt.Sprintf("key %q may not use dataset %q", k.Name, dataset)}
	}
	return Decision{Status: http.StatusOK}
}
