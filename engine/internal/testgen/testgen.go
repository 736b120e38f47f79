// Package testgen makes random but reproducible test data for the
// engine's property and differential tests: a schema with every field
// type and ingest lines over small value domains (so values collide),
// about one in eight of them invalid in some way.
package testgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine/schema"
)

// SchemaJSON has one field of each type, a negative minimum, a decimal
// scale and a retention window.
const SchemaJSON = `{"timezone":"Asia/Shanghai","fields":[
 {"name":"t","type":"tag"},
 {"name":"s","type":"set"},
 {"name":"b","type":"bool"},
 {"name":"n","type":"int","min":-5,"max":300},
 {"name":"d","type":"decimal","scale":2,"min":-10,"max":1000},
 {"name":"dt","type":"date"},
 {"name":"e","type":"event","retention_days":30},
 {"name":"e2","type":"event"}
]}`

// Value domains of the schema's fields.
var (
	TagVals   = []string{"a", "b", "上海", "杭州", "Shanghai"}
	SetVals   = []string{"x", "y", "z", "微信"}
	EventVals = []string{"m", "n", "o"}
)

// Lines makes random ingest lines.
type Lines struct {
	R     *rand.Rand
	Today func() schema.Day
	// IDs, when above zero, makes about one line in IDs carry identifiers
	// ("ids") drawn from small pools, so that records name two or more
	// profiles and merge them, often in chains: phones and emails (as
	// many of each as three quarters of the profiles, at least 4) and
	// now and then an openid. About one in three of those lines leaves
	// out "id", and a few carry an invalid identifier. Zero (the
	// default) makes lines without identifiers, drawing from R exactly
	// as before.
	IDs int
}

// Identifier pools for nProfiles profiles.
func phone(i int) string { return fmt.Sprintf("1380000%04d", i) }
func email(i int) string { return fmt.Sprintf("u%d@example.com", i) }

// ids makes the members of an "ids" object, and whether the line may
// leave out "id".
func (h *Lines) ids(nProfiles int) (members []string, dropID bool) {
	r := h.R
	pool := max(4, nProfiles*3/4)
	if r.IntN(2) == 0 {
		members = append(members, fmt.Sprintf(`"phone":%q`, phone(r.IntN(pool))))
	}
	if len(members) == 0 || r.IntN(3) == 0 {
		members = append(members, fmt.Sprintf(`"email":%q`, email(r.IntN(pool))))
	}
	if r.IntN(8) == 0 {
		members = append(members, fmt.Sprintf(`"openid":"o%d"`, r.IntN(pool*2)))
	}
	switch r.IntN(60) {
	case 0:
		members = append(members, `"Phone":"1"`) // bad type
	case 1:
		members = append(members, `"external":"p1"`)
	case 2:
		members[0] = members[0][:strings.Index(members[0], ":")+1] + `""` // empty value
	}
	return members, r.IntN(3) == 0
}

func (h *Lines) today() schema.Day { return h.Today() }

func (h *Lines) pick(vals []string) string { return vals[h.R.IntN(len(vals))] }

func (h *Lines) quote(v string) string { return fmt.Sprintf("%q", v) }

// Line builds an ingest line for one of nProfiles ids; about one in eight
// is invalid in some way.
func (h *Lines) Line(nProfiles int) string {
	r := h.R
	id := fmt.Sprintf("p%d", r.IntN(nProfiles))
	var set, add, remove, unset, events []string
	used := map[string]bool{}
	field := func(names ...string) (string, bool) {
		n := names[r.IntN(len(names))]
		if used[n] {
			return "", false
		}
		used[n] = true
		return n, true
	}
	for range r.IntN(4) {
		n, ok := field("t", "s", "b", "n", "d", "dt")
		if !ok {
			continue
		}
		var v string
		switch n {
		case "t":
			v = h.quote(h.pick(TagVals))
		case "s":
			var vs []string
			for range r.IntN(3) {
				vs = append(vs, h.quote(h.pick(SetVals)))
			}
			v = "[" + strings.Join(vs, ",") + "]"
		case "b":
			v = fmt.Sprint(r.IntN(2) == 0)
		case "n":
			v = fmt.Sprint(r.IntN(320) - 10) // some out of range
		case "d":
			v = fmt.Sprintf("%d.%02d", r.IntN(1020)-12, r.IntN(100))
			if r.IntN(10) == 0 {
				v += "7" // too many decimals
			}
		case "dt":
			v = h.quote(schema.FormatDay(h.today() - schema.Day(r.IntN(3000))))
		}
		if r.IntN(20) == 0 {
			v = "null"
		}
		set = append(set, fmt.Sprintf("%q:%s", n, v))
	}
	if r.IntN(3) == 0 && !used["s"] {
		used["s"] = true
		a, rm := h.pick(SetVals), h.pick(SetVals)
		add = append(add, fmt.Sprintf(`"s":[%q]`, a))
		if a != rm || r.IntN(10) == 0 { // sometimes both: invalid
			remove = append(remove, fmt.Sprintf(`"s":[%q]`, rm))
		}
	}
	if r.IntN(8) == 0 {
		if n, ok := field("t", "s", "b", "n", "d", "dt", "e", "e2"); ok {
			unset = append(unset, h.quote(n))
		}
	}
	for range r.IntN(4) {
		f := []string{"e", "e2"}[r.IntN(2)]
		day := h.today() - schema.Day(r.IntN(45)) + 1
		ts := schema.FormatDay(day)
		if r.IntN(2) == 0 {
			// A timestamp near midnight: the day depends on the time zone.
			ts = schema.DayTime(day).Add(time.Duration(r.IntN(48)-12) * time.Hour).Format(time.RFC3339)
		}
		events = append(events, fmt.Sprintf(`{"field":%q,"value":%q,"time":%q}`, f, h.pick(EventVals), ts))
	}
	switch r.IntN(40) {
	case 0:
		set = append(set, `"nope":1`)
	case 1:
		id = ""
	case 2:
		set = append(set, `"t":5`)
	}
	var ids []string
	dropID := false
	if h.IDs > 0 && r.IntN(h.IDs) == 0 {
		ids, dropID = h.ids(nProfiles)
	}
	var parts []string
	if !dropID {
		parts = append(parts, fmt.Sprintf(`"id":%q`, id))
	}
	if len(ids) > 0 {
		parts = append(parts, "\"ids\":{"+strings.Join(ids, ",")+"}")
	}
	for _, p := range []struct {
		key  string
		list []string
		arr  bool
	}{{"set", set, false}, {"add", add, false}, {"remove", remove, false}, {"unset", unset, true}, {"events", events, true}} {
		if len(p.list) == 0 {
			continue
		}
		if p.arr {
			parts = append(parts, fmt.Sprintf("%q:[%s]", p.key, strings.Join(p.list, ",")))
		} else {
			parts = append(parts, fmt.Sprintf("%q:{%s}", p.key, strings.Join(p.list, ",")))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}
