package server_test

import (
	"math"
	"slices"
	"testing"

	"github.com/cohortdb/cohort/server"
)

// TestAnalytics drives profile, overlap, split and lookalike over HTTP
// and checks their answers against counts of equivalent queries (which
// the other tests check against the reference model).
func TestAnalytics(t *testing.T) {
	e := newEnv(t, server.Config{Keys: parseKeys(t)})
	e.loadShop(t, "shop", rootKey, shopProfiles)
	const seg = "gender = 'female'"
	total := e.count(t, "shop", rootKey, "ALL")
	size := e.count(t, "shop", rootKey, seg)

	t.Run("profile", func(t *testing.T) {
		var rep struct {
			Count  uint64 `json:"count"`
			Total  uint64 `json:"total"`
			Fields map[string]struct {
				WithValue uint64 `json:"with_value"`
				Values    []struct {
					Value    string
					Count    uint64
					CountAll uint64 `json:"count_all"`
					Share    float64
					ShareAll float64 `json:"share_all"`
					TGI      float64
				} `json:"values"`
				Min, Max  *int64
				Histogram []struct{ Count uint64 }
			} `json:"fields"`
		}
		e.call(t, "POST", ds("shop")+"/profile", readerKey, map[string]any{"q": seg, "by": []string{"city", "age"}, "top": 5, "now": "2026-11-22"}).decode(t, 200, &rep)
		if rep.Count != size || rep.Total != total {
			t.Fatalf("profile count %d/%d, want %d/%d", rep.Count, rep.Total, size, total)
		}
		city := rep.Fields["city"]
		if len(city.Values) == 0 || len(city.Values) > 5 {
			t.Fatalf("city values: %+v", city.Values)
		}
		for _, v := range city.Values {
			q := "city = '" + v.Value + "'"
			if want := e.count(t, "shop", rootKey, seg+" AND "+q); v.Count != want {
				t.Fatalf("%s: count %d, want %d", v.Value, v.Count, want)
			}
			if want := e.count(t, "shop", rootKey, q); v.CountAll != want {
				t.Fatalf("%s: count_all %d, want %d", v.Value, v.CountAll, want)
			}
			share, shareAll := float64(v.Count)/float64(size), float64(v.CountAll)/float64(total)
			if math.Abs(v.Share-share) > 1e-9 || math.Abs(v.ShareAll-shareAll) > 1e-9 || math.Abs(v.TGI-100*share/shareAll) > 1e-6 {
				t.Fatalf("%s: shares %+v", v.Value, v)
			}
		}
		age := rep.Fields["age"]
		if age.Min == nil || age.Max == nil {
			t.Fatalf("age: %+v", age)
		}
		if n := e.count(t, "shop", rootKey, sprintf("%s AND (age < %d OR age > %d)", seg, *age.Min, *age.Max)); n != 0 {
			t.Fatalf("%d profiles outside [min, max]", n)
		}
		if n := e.count(t, "shop", rootKey, sprintf("%s AND age = %d", seg, *age.Min)); n == 0 {
			t.Fatal("no profile holds the minimum")
		}
		var inBuckets uint64
		for _, b := range age.Histogram {
			inBuckets += b.Count
		}
		if want := e.count(t, "shop", rootKey, seg+" AND age >= 0"); age.WithValue != want || inBuckets != want {
			t.Fatalf("age: with_value %d, histogram %d, want %d", age.WithValue, inBuckets, want)
		}
		wantError(t, e.call(t, "POST", ds("shop")+"/profile", readerKey, map[string]any{"q": seg, "by": []string{"nope"}}), 400, "bad_request")
	})

	t.Run("overlap", func(t *testing.T) {
		qs := []string{seg, "is_vip", "city IN ('上海', '北京')"}
		var rep struct {
			Sizes  []uint64
			Matrix [][]uint64
		}
		e.call(t, "POST", ds("shop")+"/overlap", readerKey, map[string]any{"segments": qs}).decode(t, 200, &rep)
		for i := range qs {
			for j := range qs {
				want := e.count(t, "shop", rootKey, "("+qs[i]+") AND ("+qs[j]+")")
				if rep.Matrix[i][j] != want {
					t.Fatalf("matrix[%d][%d] = %d, want %d", i, j, rep.Matrix[i][j], want)
				}
			}
			if rep.Sizes[i] != rep.Matrix[i][i] {
				t.Fatalf("sizes %v", rep.Sizes)
			}
		}
		wantError(t, e.call(t, "POST", ds("shop")+"/overlap", readerKey, map[string]any{"segments": []string{}}), 400, "bad_request")
		wantError(t, e.call(t, "POST", ds("shop")+"/overlap", readerKey, map[string]any{"segments": []string{"citty = 'x'"}}), 400, "invalid_query")
	})

	t.Run("split", func(t *testing.T) {
		type group struct {
			Name    string
			Count   uint64
			Segment string
		}
		var rep struct {
			Count  uint64
			Groups []group
		}
		body := []byte(`{"q":"` + seg + `","groups":{"B":45,"A":45,"holdout":10},"salt":"exp-7","save_as":"exp7"}`)
		wantError(t, e.call(t, "POST", ds("shop")+"/split", readerKey, body), 403, "forbidden")
		e.call(t, "POST", ds("shop")+"/split", shopOnlyKey, body).decode(t, 200, &rep)
		if rep.Count != size || len(rep.Groups) != 3 || rep.Groups[0].Name != "B" || rep.Groups[2].Name != "holdout" {
			t.Fatalf("split: %+v", rep)
		}
		var sum uint64
		for _, g := range rep.Groups {
			sum += g.Count
			if n := e.count(t, "shop", rootKey, "SEGMENT('"+g.Segment+"')"); n != g.Count {
				t.Fatalf("saved group %s counts %d, want %d", g.Segment, n, g.Count)
			}
		}
		if sum != size {
			t.Fatalf("groups sum to %d, want %d", sum, size)
		}
		if n := e.count(t, "shop", rootKey, "SEGMENT('exp7_A') AND SEGMENT('exp7_B')"); n != 0 {
			t.Fatalf("groups overlap by %d", n)
		}
		// The same salt draws the same groups.
		var again struct{ Groups []group }
		e.call(t, "POST", ds("shop")+"/split", readerKey, []byte(`{"q":"`+seg+`","groups":{"B":45,"A":45,"holdout":10},"salt":"exp-7"}`)).decode(t, 200, &again)
		for i := range again.Groups {
			if again.Groups[i].Count != rep.Groups[i].Count {
				t.Fatalf("a second draw differs: %+v vs %+v", again.Groups, rep.Groups)
			}
		}
		wantError(t, e.call(t, "POST", ds("shop")+"/split", readerKey, []byte(`{"q":"ALL","groups":{"A":50,"B":40}}`)), 400, "bad_request")
		wantError(t, e.call(t, "POST", ds("shop")+"/split", readerKey, []byte(`{"q":"ALL","groups":[1,2]}`)), 400, "invalid_json")
	})

	t.Run("lookalike", func(t *testing.T) {
		var rep struct {
			Count    uint64
			Seed     uint64
			Features []struct{ Field, Value string }
			IDs      []string
			SavedAs  string `json:"saved_as"`
		}
		seed := "is_vip"
		e.call(t, "POST", ds("shop")+"/lookalike", shopOnlyKey, map[string]any{"seed": seed, "size": 50, "limit": 20, "save_as": "lal_vip"}).decode(t, 200, &rep)
		if rep.Count != 50 || len(rep.IDs) != 20 || rep.SavedAs != "lal_vip" || rep.Seed != e.count(t, "shop", rootKey, seed) {
			t.Fatalf("lookalike: %+v", rep)
		}
		for _, f := range rep.Features {
			if f.Field == "is_vip" {
				t.Fatalf("a feature of the seed's own field: %+v", f)
			}
		}
		if n := e.count(t, "shop", rootKey, "SEGMENT('lal_vip') AND "+seed); n != 0 {
			t.Fatalf("%d seed members in the expansion", n)
		}
		if n := e.count(t, "shop", rootKey, "SEGMENT('lal_vip')"); n != 50 {
			t.Fatalf("saved lookalike counts %d", n)
		}
		if slices.ContainsFunc(rep.IDs, func(id string) bool { return id == "" }) {
			t.Fatal("empty id")
		}
		wantError(t, e.call(t, "POST", ds("shop")+"/lookalike", readerKey, map[string]any{"seed": seed, "size": 0}), 400, "bad_request")
		wantError(t, e.call(t, "POST", ds("shop")+"/lookalike", readerKey, map[string]any{"seed": seed, "size": 10, "save_as": "x"}), 403, "forbidden")
	})
}
