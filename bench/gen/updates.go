package gen

import (
	"github.com/cohortdb/cohort/internal/jsonstr"
	"math/bits"
	"slices"
)

// UpdateGenerator produces update records for profiles that base records
// created: moves of city and lifecycle, level upgrades, set additions and
// removals, unset fields, an email identifier (with Options.Identifiers),
// and new events on Now's day.
// Each update is drawn against the profile as its base record left it, so
// "remove" names values the profile holds, "add" values it lacks, and a
// moved city differs from the old one. Updates of the same profile are
// drawn independently of each other. Not safe for concurrent use.
type UpdateGenerator struct {
	g      *Generator
	n      int
	next   int
	before profile
	events []event // scratch for the update's new events
}

// Updates returns a generator of n update records for the opts.Profiles
// profiles of New(opts). With no profiles it produces nothing.
func Updates(opts Options, n int) *UpdateGenerator {
	g := New(opts)
	if g.opts.Profiles == 0 {
		n = 0
	}
	return &UpdateGenerator{g: g, n: max(n, 0)}
}

// Next appends the next update record, a JSON line ending in '\n', to dst.
// It returns false, and dst unchanged, after n records.
func (u *UpdateGenerator) Next(dst []byte) ([]byte, bool) {
	if u.next >= u.n {
		return dst, false
	}
	dst = u.Record(dst, u.next)
	u.next++
	return dst, true
}

// Record appends update k to dst. Like Generator.Record it depends only on
// the options and k. With no profiles it appends nothing.
func (u *UpdateGenerator) Record(dst []byte, k int) []byte {
	g := u.g
	if g.opts.Profiles == 0 {
		return dst
	}
	r := seedRNG(g.opts.Seed, streamUpdate, k)
	j := r.intn(g.opts.Profiles)
	p := &u.before
	g.fill(p, j)
	after := *p
	after.events = u.events[:0]

	var (
		set, unset   uint16
		addCh, remCh uint32
		addIn, remIn uint32
	)
	if r.perMille(200) {
		c := pickCity(&r)
		if p.has(fCity) && c == p.city {
			c = (c + 1) % len(cities)
		}
		after.city = c
		set |= 1 << fCity
	}
	moveLifecycle := r.perMille(150) // applied after the events, which may decide it
	if r.perMille(80) && p.level < len(memberLevels)-1 {
		after.level = p.level + 1
		set |= 1 << fLevel
		if !p.vip && r.perMille(vipByLevel[after.level]) {
			after.vip = true
			set |= 1 << fVIP
		}
	}
	const allChannels = 1<<len(channels) - 1
	const allInterests = 1<<len(interests) - 1
	if r.perMille(200) {
		addCh = pickBit(&r, allChannels&^uint32(p.channels))
	}
	if r.perMille(100) {
		remCh = pickBit(&r, uint32(p.channels))
	}
	if r.perMille(150) {
		addIn = pickBit(&r, allInterests&^p.interests)
	}
	if r.perMille(100) {
		remIn = pickBit(&r, p.interests)
	}
	if r.perMille(80) {
		// Forget an attribute the profile has and this update does not set,
		// as a consent withdrawal or a data-quality fix would.
		const unsettable = 1<<fGender | 1<<fAge | 1<<fCity | 1<<fVIP | 1<<fChurn
		taken := set
		if moveLifecycle {
			taken |= 1 << fChurn
		}
		unset = uint16(pickBit(&r, uint32(p.present&^taken&unsettable)))
	}
	email := r.perMille(40) && g.opts.Identifiers
	var spent int64
	if r.perMille(400) || !moveLifecycle && set|unset == 0 && addCh|remCh|addIn|remIn == 0 && !email {
		for range 1 + r.geometric(300, 3) {
			spent += g.session(&r, &after, g.nowDay)
		}
		slices.SortFunc(after.events, compareEvents)
		if spent > 0 {
			after.ltv = min(p.ltv+spent, 10_000_000*100)
			after.lastBuy = g.nowDay
			set |= 1<<fLTV | 1<<fLastPurchase
		}
	}
	if moveLifecycle {
		after.lifecycle = nextLifecycle(&r, p.lifecycle)
		if spent > 0 {
			// Whoever buys today is active, whatever the model said.
			after.lifecycle = lifeActive
		}
		after.churn = clamp(churnMean[after.lifecycle]+r.spread(100), 0, 1000)
		set |= 1<<fLifecycle | 1<<fChurn
	}

	dst = g.appendID(dst, j)
	if email {
		dst = append(dst, `,"ids":{"email":"`...)
		dst = append(dst, g.idEsc...)
		dst = appendPadded(dst, j, 9)
		dst = append(dst, `@mail.example.com"}`...)
	}
	if set != 0 {
		dst = append(dst, `,"set":{`...)
		dst = appendFields(dst, &after, set)
		dst = append(dst, '}')
	}
	if addCh|addIn != 0 {
		dst = append(dst, `,"add":{`...)
		dst = appendSets(dst, addCh, addIn)
		dst = append(dst, '}')
	}
	if remCh|remIn != 0 {
		dst = append(dst, `,"remove":{`...)
		dst = appendSets(dst, remCh, remIn)
		dst = append(dst, '}')
	}
	if unset != 0 {
		dst = append(dst, `,"unset":[`...)
		first := true
		for f := range nFields {
			if unset&(1<<f) != 0 {
				if !first {
					dst = append(dst, ',')
				}
				first = false
				dst = jsonstr.Append(dst, fieldNames[f])
			}
		}
		dst = append(dst, ']')
	}
	if len(after.events) > 0 {
		dst = append(dst, `,"events":[`...)
		dst = appendEvents(dst, after.events)
		dst = append(dst, ']')
	}
	u.events = after.events[:0]
	return append(dst, '}', '\n')
}

// nextLifecycle moves a profile along new → active → dormant → churned, with
// reactivation of dormant and churned customers that a win-back campaign
// would bring.
func nextLifecycle(r *rng, from int) int {
	switch from {
	case lifeNew:
		return lifeActive
	case lifeActive:
		if r.perMille(700) {
			return lifeDormant
		}
		return lifeChurned
	case lifeDormant:
		if r.perMille(500) {
			return lifeChurned
		}
		return lifeActive
	default:
		return lifeActive
	}
}

// pickBit returns one set bit of mask, chosen uniformly, as a mask; 0 when
// mask is empty.
func pickBit(r *rng, mask uint32) uint32 {
	n := bits.OnesCount32(mask)
	if n == 0 {
		return 0
	}
	for k := r.intn(n); k > 0; k-- {
		mask &= mask - 1
	}
	return mask & -mask
}
