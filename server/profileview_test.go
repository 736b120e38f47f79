package server_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	"github.com/cohortdb/cohort/server"
)

// TestProfileView reads one profile's 360° view and checks it against
// the record that created it and against segment counts.
func TestProfileView(t *testing.T) {
	e := newEnv(t, server.Config{Keys: parseKeys(t)})
	s := e.loadShop(t, "shop", rootKey, shopProfiles)
	// The generated record of a profile: its id and what it set.
	var rec struct {
		ID  string                     `json:"id"`
		Set map[string]json.RawMessage `json:"set"`
	}
	if err := json.Unmarshal(s.lines[3], &rec); err != nil {
		t.Fatal(err)
	}
	var city string
	if raw, ok := rec.Set["city"]; ok {
		_ = json.Unmarshal(raw, &city)
	}
	// One segment that holds the profile, one that cannot.
	e.call(t, "PUT", ds("shop")+"/segments/mine", rootKey, map[string]any{"members": []string{rec.ID}}).obj(t, 201)
	e.call(t, "PUT", ds("shop")+"/segments/nobody", rootKey, map[string]any{"q": "ALL AND NOT ALL"}).obj(t, 201)
	if city != "" {
		e.call(t, "PUT", ds("shop")+"/segments/same_city", rootKey, map[string]any{"q": "city = '" + city + "'"}).obj(t, 201)
	}

	path := ds("shop") + "/profiles/external/" + url.PathEscape(rec.ID)
	var view struct {
		Identifiers map[string][]string
		Fields      map[string]json.RawMessage
		Events      map[string]map[string][]string
		Segments    []string
		Merges      []json.RawMessage
	}
	e.call(t, "GET", path, exporterKey, nil).decode(t, 200, &view)
	if view.Merges == nil || len(view.Merges) != 0 {
		t.Fatalf("merges of a profile nothing merged into: %v", view.Merges)
	}
	if !slices.Equal(view.Identifiers["external"], []string{rec.ID}) {
		t.Fatalf("identifiers %v", view.Identifiers)
	}
	for name, raw := range rec.Set {
		if string(raw) == "null" {
			continue
		}
		got, ok := view.Fields[name]
		if !ok {
			t.Fatalf("field %s missing from the view: %v", name, view.Fields)
		}
		var a, b any
		_ = json.Unmarshal(raw, &a)
		_ = json.Unmarshal(got, &b)
		if af, ok := a.(float64); ok {
			if bf, ok := b.(float64); !ok || af != bf {
				t.Fatalf("field %s: view %s, record %s", name, got, raw)
			}
			continue
		}
		if sa, ok := a.(string); ok && sa != b {
			t.Fatalf("field %s: view %s, record %s", name, got, raw)
		}
	}
	want := []string{"mine"}
	if city != "" {
		want = append(want, "same_city")
	}
	slices.Sort(view.Segments)
	if !slices.Equal(view.Segments, want) {
		t.Fatalf("segments %v, want %v", view.Segments, want)
	}

	wantError(t, e.call(t, "GET", path, readerKey, nil), 403, "forbidden")
	wantError(t, e.call(t, "GET", ds("shop")+"/profiles/external/nobody-here", exporterKey, nil), 404, "profile_not_found")
	// Any well-formed identifier type may be asked for; one nobody has
	// finds nobody.
	wantError(t, e.call(t, "GET", ds("shop")+"/profiles/phone/123", exporterKey, nil), 404, "profile_not_found")
	for _, typ := range []string{"Bad%20Type!", "Phone", "9x", "a-b"} {
		wantError(t, e.call(t, "GET", ds("shop")+"/profiles/"+typ+"/123", exporterKey, nil), 400, "bad_request")
	}
	wantError(t, e.call(t, "GET", ds("nope")+"/profiles/external/x", exporterKey, nil), 404, "dataset_not_found")
}
