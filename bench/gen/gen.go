package gen

import (
	"cmp"
	"github.com/cohortdb/cohort/internal/jsonstr"
	"slices"
	"strconv"
	"time"

	"github.com/cohortdb/cohort/engine/schema"
)

// Options configure a generator.
type Options struct {
	// Profiles is the number of base records; record i describes profile i.
	Profiles int
	// Seed selects the data set: the same Options give the same bytes.
	Seed int64
	// Now is the reference time. Events fall on the 400 calendar days
	// ending with Now's day in the schema's time zone (Asia/Shanghai),
	// that day included. Zero means DefaultNow().
	Now time.Time
	// IDPrefix starts every external id; "" means "u". Ids are the prefix
	// and the profile index, zero-padded to nine digits: u000000123.
	IDPrefix string
	// Identifiers adds the "ids" object of DESIGN §3 (OneID): a phone
	// number for most profiles and a WeChat openid for those on WeChat,
	// unique per profile so that no base records merge; updates then
	// sometimes attach an email. Off by default: the external id is enough
	// for most benchmarks and the identifier dictionary costs memory.
	Identifiers bool
}

func (o Options) withDefaults() Options {
	if o.Now.IsZero() {
		o.Now = DefaultNow()
	}
	if o.IDPrefix == "" {
		o.IDPrefix = "u"
	}
	o.Profiles = max(o.Profiles, 0)
	return o
}

// Field positions in the "set" object, in output order.
const (
	fGender = iota
	fAge
	fCity
	fLevel
	fLifecycle
	fVIP
	fChurn
	fLTV
	fRegistered
	fLastPurchase
	nFields
)

var fieldKeys = [nFields]string{
	fGender: `"gender":`, fAge: `"age":`, fCity: `"city":`, fLevel: `"member_level":`,
	fLifecycle: `"lifecycle":`, fVIP: `"is_vip":`, fChurn: `"churn_score":`, fLTV: `"ltv":`,
	fRegistered: `"registered_at":`, fLastPurchase: `"last_purchase_at":`,
}

var fieldNames = [nFields]string{
	fGender: "gender", fAge: "age", fCity: "city", fLevel: "member_level",
	fLifecycle: "lifecycle", fVIP: "is_vip", fChurn: "churn_score", fLTV: "ltv",
	fRegistered: "registered_at", fLastPurchase: "last_purchase_at",
}

// Event kinds, in the order of the schema's event fields.
const (
	evPurchase = iota
	evView
	evCart
)

var eventPrefix = [...]string{
	evPurchase: `{"field":"purchase","value":`,
	evView:     `{"field":"view","value":`,
	evCart:     `{"field":"add_to_cart","value":`,
}

// How an event's time is written: mostly a Shanghai timestamp, some plain
// dates and some UTC timestamps, so ingest exercises every form and the
// day-in-dataset-zone rule (02:00Z is 10:00 the same Shanghai day, but
// 20:00Z is the next one).
const (
	formLocal = iota
	formDate
	formUTC
)

type event struct {
	day  int32 // day number in Shanghai
	sec  int32 // seconds since Shanghai midnight
	kind uint8
	cat  uint8
	form uint8
}

func compareEvents(a, b event) int {
	// A total order, so any correct sort gives the same bytes.
	return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.sec, b.sec),
		cmp.Compare(a.kind, b.kind), cmp.Compare(a.cat, b.cat), cmp.Compare(a.form, b.form))
}

// profile is the model of one customer. The latent attributes are always
// set; present says which ones a record states, so correlations hold
// whether or not a field is shown.
type profile struct {
	present   uint16 // bit f: field f is in "set"
	gender    int
	age       int
	city      int
	level     int
	lifecycle int
	vip       bool
	churn     int
	ltv       int64 // cents
	regDay    int32
	lastBuy   int32 // valid when present has fLastPurchase
	channels  uint8
	interests uint32
	boosted   uint32 // categories the interests favour
	phone     bool
	openid    bool
	events    []event
}

func (p *profile) has(f int) bool { return p.present&(1<<f) != 0 }

// Generator produces base records. It is not safe for concurrent use; to
// generate in parallel give each goroutine its own Generator and a range of
// indexes for Record.
type Generator struct {
	opts   Options
	nowDay int32
	idHead []byte // `{"id":"` and the escaped prefix
	idEsc  []byte // the escaped prefix alone
	next   int
	p      profile
	cw     [len(categories)]int // the current profile's category weights
	cwSum  int
}

// New returns a generator of opts.Profiles base records.
func New(opts Options) *Generator {
	opts = opts.withDefaults()
	g := &Generator{opts: opts, nowDay: schema.DayOf(opts.Now, shanghai)}
	g.idEsc = jsonstr.AppendBody(nil, opts.IDPrefix)
	g.idHead = append([]byte(`{"id":"`), g.idEsc...)
	return g
}

// Next appends the next record, a JSON line ending in '\n', to dst. It
// returns false, and dst unchanged, once Profiles records have been made.
func (g *Generator) Next(dst []byte) ([]byte, bool) {
	if g.next >= g.opts.Profiles {
		return dst, false
	}
	dst = g.Record(dst, g.next)
	g.next++
	return dst, true
}

// Record appends base record i (i >= 0) to dst. It depends only on Seed,
// Now, the id options and i, so ranges can be generated independently and
// concatenated; i need not be below Profiles.
func (g *Generator) Record(dst []byte, i int) []byte {
	g.fill(&g.p, i)
	return g.appendRecord(dst, &g.p, i)
}

// fill draws profile i. The order of draws is part of the output format:
// changing it changes every data set.
func (g *Generator) fill(p *profile, i int) {
	r := seedRNG(g.opts.Seed, streamProfile, i)
	p.present = 0
	for f := range nFields {
		if f != fLastPurchase && !r.perMille(missingPerMille[f]) {
			p.present |= 1 << f
		}
	}

	p.city = pickCity(&r)
	tier := 2
	switch {
	case p.city < tier1Cities:
		tier = 0
	case p.city < tier2Cities:
		tier = 1
	}
	p.level = r.pick(levelByTier[tier][:], 1000)
	p.lifecycle = r.pick(lifecycleByLevel[p.level][:], 1000)
	// 63% women, as at a retailer whose core is baby and beauty.
	p.gender = 0
	if r.perMille(370) {
		p.gender = 1
	}
	// Higher levels are older on average: loyalty takes years and money.
	p.age = 26 + 4*p.level + r.spread(7)
	if r.perMille(100) {
		p.age += r.intn(21)
	}
	p.age = clamp(p.age, 16, 85)
	ageBand := 0
	switch {
	case p.age >= 50:
		ageBand = 3
	case p.age >= 35:
		ageBand = 2
	case p.age >= 25:
		ageBand = 1
	}

	// Registration, as days before now; the lifecycle bounds it so that a
	// dormant or churned member has had time to lapse.
	var regOff int
	switch p.lifecycle {
	case lifeNew:
		regOff = r.intn(60)
	case lifeActive:
		regOff = 60 + r.intn(600+350*p.level)
	case lifeDormant:
		regOff = 180 + r.intn(600+350*p.level)
	default:
		regOff = 300 + r.intn(700+350*p.level)
	}
	p.regDay = g.nowDay - int32(regOff)

	p.vip = r.perMille(vipByLevel[p.level])
	p.churn = clamp(churnMean[p.lifecycle]+r.spread(100), 0, 1000)

	p.channels = drawChannels(&r, p.level, p.gender, ageBand)
	p.interests = 0
	for k, in := range interests {
		pm := in.base + in.age[ageBand] + in.perLevel*p.level
		if p.gender == 0 {
			pm += in.female
		} else {
			pm += in.male
		}
		if r.perMille(clamp(pm, 5, 950)) {
			p.interests |= 1 << k
		}
	}
	p.phone = r.perMille(880)
	p.openid = p.channels&(1<<chWechat|1<<chMiniprogram) != 0

	// Category preferences: popularity plus the profile's interests.
	p.boosted = 0
	for k := range interests {
		if p.interests&(1<<k) != 0 {
			p.boosted |= interestCats[k]
		}
	}
	g.cwSum = 0
	for c := range categories {
		w := categories[c].weight
		if p.boosted&(1<<c) != 0 {
			w += interestBoost
		}
		g.cw[c] = w
		g.cwSum += w
	}

	// Sessions: a skewed count (most profiles have a few, heavy buyers
	// dozens) placed in the part of the window the lifecycle allows.
	hi := min(windowDays-1, regOff)
	var lo, n int
	recentFirst := false
	switch p.lifecycle {
	case lifeNew:
		n = 1 + r.geometric(450, 20)
		if r.perMille(20) {
			n += 5 + r.geometric(900, 60)
		}
	case lifeActive:
		n = 1 + r.geometric(700, 40)
		if r.perMille(50 + 15*p.level) {
			n += 10 + r.geometric(950, 120)
		}
		recentFirst = true
	case lifeDormant:
		lo = 90
		n = r.geometric(550, 20)
		if r.perMille(20) {
			n += 5 + r.geometric(900, 60)
		}
	default:
		lo = 200
		if !r.perMille(450) {
			n = r.geometric(400, 10)
		}
	}
	n = min(n, 150)
	p.events = p.events[:0]
	var windowCents int64
	for s := range n {
		if lo > hi {
			break
		}
		var off int
		if s == 0 && recentFirst {
			// Active means recently active: the first session is within
			// the last month.
			off = r.intn(min(30, hi+1))
		} else {
			off = lo + r.recent(hi-lo+1)
		}
		windowCents += g.session(&r, p, g.nowDay-int32(off))
	}
	slices.SortFunc(p.events, compareEvents)

	// Purchases before the window: the longer the membership and the higher
	// the level, the more.
	var prior int
	if regOff >= windowDays {
		prior = r.intn(1 + (regOff-windowDays)/(90-15*p.level))
	}
	p.ltv = windowCents
	for range prior {
		p.ltv += orderCents(&r, p.level)
	}
	p.ltv = min(p.ltv, 10_000_000*100)

	for _, e := range slices.Backward(p.events) {
		if e.kind == evPurchase {
			p.lastBuy = e.day
			p.present |= 1 << fLastPurchase
			break
		}
	}
	if !p.has(fLastPurchase) && prior > 0 {
		p.lastBuy = g.nowDay - int32(windowDays+r.intn(regOff-windowDays+1))
		p.present |= 1 << fLastPurchase
	}
}

// session appends one visit's events on day: views of a category, perhaps
// an add to cart, perhaps a purchase. It returns the purchase amount. The
// category weights are those fill computed for p.
func (g *Generator) session(r *rng, p *profile, day int32) int64 {
	cat := r.pick(g.cw[:], g.cwSum)
	matched := p.boosted&(1<<cat) != 0
	sec := int32(r.pick(hourWeight[:], hourTotal)*3600 + r.intn(3600))
	views := 1
	if r.perMille(450) {
		views++
		if r.perMille(350) {
			views++
		}
	}
	for range views {
		p.events = append(p.events, event{day: day, sec: sec, kind: evView, cat: uint8(cat), form: drawForm(r)})
		sec = min(sec+20+int32(r.intn(400)), 86399)
	}
	cart := 250 + 20*p.level
	if matched {
		cart += 150
	}
	buy := 50 + 10*p.level
	if r.perMille(cart) {
		p.events = append(p.events, event{day: day, sec: sec, kind: evCart, cat: uint8(cat), form: drawForm(r)})
		sec = min(sec+20+int32(r.intn(400)), 86399)
		buy = 550 + 30*p.level
	}
	if !r.perMille(buy) {
		return 0
	}
	p.events = append(p.events, event{day: day, sec: sec, kind: evPurchase, cat: uint8(cat), form: drawForm(r)})
	return orderCents(r, p.level)
}

func drawForm(r *rng) uint8 {
	switch x := r.intn(100); {
	case x < 80:
		return formLocal
	case x < 92:
		return formDate
	default:
		return formUTC
	}
}

// orderCents is one order's value: the level's average order value, ±50%.
func orderCents(r *rng, level int) int64 {
	return aovCents[level] * int64(50+r.intn(101)) / 100
}

func pickCity(r *rng) int {
	x := uint64(r.intn(int(cityCum[len(cityCum)-1])))
	k, _ := slices.BinarySearch(cityCum[:], x+1)
	return k
}

func drawChannels(r *rng, level, gender, ageBand int) uint8 {
	var pm [len(channels)]int
	pm[chWechat] = 700
	pm[chApp] = 250 + 80*level
	pm[chTmall] = 400
	pm[chJD] = 300
	if gender == 0 {
		pm[chTmall] += 50
	} else {
		pm[chJD] += 120
	}
	pm[chDouyin] = [4]int{550, 450, 300, 200}[ageBand]
	pm[chStore] = [4]int{150, 180, 280, 400}[ageBand]
	pm[chMiniprogram] = 400
	var m uint8
	for c, p := range pm {
		if r.perMille(p) {
			m |= 1 << c
		}
	}
	return m
}

// appendRecord writes a base record: every present attribute in "set",
// sets in "add", and the events.
func (g *Generator) appendRecord(dst []byte, p *profile, i int) []byte {
	dst = g.appendID(dst, i)
	if g.opts.Identifiers && (p.phone || p.openid) {
		dst = append(dst, `,"ids":{`...)
		if p.phone {
			dst = appendPhone(dst, g.opts.Seed, i)
		}
		if p.openid {
			if p.phone {
				dst = append(dst, ',')
			}
			dst = appendOpenID(dst, g.opts.Seed, i)
		}
		dst = append(dst, '}')
	}
	if p.present != 0 {
		dst = append(dst, `,"set":{`...)
		dst = appendFields(dst, p, p.present)
		dst = append(dst, '}')
	}
	if p.channels != 0 || p.interests != 0 {
		dst = append(dst, `,"add":{`...)
		dst = appendSets(dst, uint32(p.channels), p.interests)
		dst = append(dst, '}')
	}
	if len(p.events) > 0 {
		dst = append(dst, `,"events":[`...)
		dst = appendEvents(dst, p.events)
		dst = append(dst, ']')
	}
	return append(dst, '}', '\n')
}

func (g *Generator) appendID(dst []byte, i int) []byte {
	dst = append(dst, g.idHead...)
	dst = appendPadded(dst, i, 9)
	return append(dst, '"')
}

// appendFields writes the fields of mask as the members of a "set" object.
func appendFields(dst []byte, p *profile, mask uint16) []byte {
	first := true
	for f := range nFields {
		if mask&(1<<f) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, fieldKeys[f]...)
		switch f {
		case fGender:
			dst = append(dst, qGenders[p.gender]...)
		case fAge:
			dst = strconv.AppendInt(dst, int64(p.age), 10)
		case fCity:
			dst = append(dst, qCities[p.city]...)
		case fLevel:
			dst = append(dst, qLevels[p.level]...)
		case fLifecycle:
			dst = append(dst, qLifecycles[p.lifecycle]...)
		case fVIP:
			dst = strconv.AppendBool(dst, p.vip)
		case fChurn:
			dst = strconv.AppendInt(dst, int64(p.churn), 10)
		case fLTV:
			dst = appendCents(dst, p.ltv)
		case fRegistered:
			dst = append(dst, '"')
			dst = appendDate(dst, p.regDay)
			dst = append(dst, '"')
		case fLastPurchase:
			dst = append(dst, '"')
			dst = appendDate(dst, p.lastBuy)
			dst = append(dst, '"')
		}
	}
	return dst
}

// appendSets writes channel and interest bitmasks as the members of an
// "add" or "remove" object; empty sets are left out.
func appendSets(dst []byte, chans, ints uint32) []byte {
	if chans != 0 {
		dst = append(dst, `"channels":`...)
		dst = appendList(dst, chans, qChannels[:])
		if ints != 0 {
			dst = append(dst, ',')
		}
	}
	if ints != 0 {
		dst = append(dst, `"interests":`...)
		dst = appendList(dst, ints, qInterests[:])
	}
	return dst
}

func appendList(dst []byte, mask uint32, quoted []string) []byte {
	dst = append(dst, '[')
	first := true
	for k, q := range quoted {
		if mask&(1<<k) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, q...)
	}
	return append(dst, ']')
}

func appendEvents(dst []byte, events []event) []byte {
	for k, e := range events {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, eventPrefix[e.kind]...)
		dst = append(dst, qCategories[e.cat]...)
		dst = append(dst, `,"time":"`...)
		switch e.form {
		case formDate:
			dst = appendDate(dst, e.day)
		case formLocal:
			dst = appendDate(dst, e.day)
			dst = append(dst, 'T')
			dst = appendClock(dst, e.sec)
			dst = append(dst, "+08:00"...)
		case formUTC:
			day, sec := e.day, e.sec-utcOffset
			if sec < 0 {
				day, sec = day-1, sec+86400
			}
			dst = appendDate(dst, day)
			dst = append(dst, 'T')
			dst = appendClock(dst, sec)
			dst = append(dst, 'Z')
		}
		dst = append(dst, '"', '}')
	}
	return dst
}

// Identifiers are injective in the profile index, so no two profiles share
// one and ingest never merges base records.

// appendPhone writes a mainland mobile number: +861, one of 3/5/7/8/9, and
// nine digits that are an affine bijection of i modulo 10^9 (the
// multiplier is coprime to 10).
func appendPhone(dst []byte, seed int64, i int) []byte {
	const mod = 1_000_000_000
	h := mix64(uint64(seed) ^ 0x70686f6e65)
	lo := (uint64(i)%mod*387_420_489 + h%mod) % mod
	dst = append(dst, `"phone":"+861`...)
	dst = append(dst, "35789"[(uint64(i)/mod+h>>40)%5])
	dst = appendPadded(dst, int(lo), 9)
	return append(dst, '"')
}

const openIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// appendOpenID writes a WeChat-style openid: "o", eleven characters that
// encode a bijection of i, and sixteen more for the look of the real thing.
func appendOpenID(dst []byte, seed int64, i int) []byte {
	x := mix64(uint64(i) ^ mix64(uint64(seed)^0x6f70656e6964))
	dst = append(dst, `"openid":"o`...)
	for range 11 {
		dst = append(dst, openIDAlphabet[x&63])
		x >>= 6
	}
	y := mix64(x ^ uint64(i))
	for range 16 {
		dst = append(dst, openIDAlphabet[y&63])
		y = y>>6 | y<<58
	}
	return append(dst, '"')
}
