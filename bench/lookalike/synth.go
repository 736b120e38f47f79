package lookalike

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// schemaJSON is the evaluation's own schema: small enough that every
// field's role in the planted truth is known. Roles (see propensity):
//
//	signal      age 25–34, income, interests HAS 'baby' / 'beauty',
//	            purchase('milk') in the last 30 days, city c03/c07, level
//	correlated  premium (income > 700, 10 % flipped), view('milk') (most
//	            recent milk buyers viewed it too)
//	popular     app_user (70 %), interests HAS 'news' (60 %),
//	            purchase('snacks'), view of every category
//	noise       gender, noise_tag, noise_int, the other interests and
//	            purchase categories
const schemaJSON = `{"timezone":"UTC","fields":[
 {"name":"city","type":"tag"},
 {"name":"gender","type":"tag"},
 {"name":"age","type":"int","min":18,"max":80},
 {"name":"income","type":"int","min":0,"max":1000},
 {"name":"premium","type":"bool"},
 {"name":"level","type":"tag"},
 {"name":"app_user","type":"bool"},
 {"name":"interests","type":"set"},
 {"name":"noise_tag","type":"tag"},
 {"name":"noise_int","type":"int","min":0,"max":100},
 {"name":"purchase","type":"event","retention_days":90},
 {"name":"view","type":"event","retention_days":90}
]}`

// Field positions in schemaJSON.
const (
	fCity = iota
	fGender
	fAge
	fIncome
	fPremium
	fLevel
	fApp
	fInterests
	fNoiseTag
	fNoiseInt
	fPurchase
	fView
)

var (
	cities       = []string{"c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11"}
	levels       = []string{"L0", "L1", "L2", "L3", "L4"}
	interestVals = []string{"baby", "beauty", "news", "sports", "travel", "games", "food", "music", "pets", "tech"}
	// interestRate is each interest's prevalence; "news" is the popular one.
	interestRate = []float64{0.08, 0.20, 0.60, 0.15, 0.12, 0.15, 0.25, 0.20, 0.10, 0.15}
	categories   = []string{"milk", "snacks", "wine", "shoes", "books", "toys", "coffee", "phone"}
	// categoryRate is the chance of at least one purchase of a category in
	// the last 30 days; "snacks" is popular.
	categoryRate = []float64{0.05, 0.40, 0.05, 0.10, 0.08, 0.06, 0.15, 0.03}
	noiseTags    = []string{"n0", "n1", "n2", "n3", "n4", "n5"}
)

// Planted coefficients of the latent propensity. Features not listed have
// no effect.
const (
	betaAge2534   = 0.9
	betaIncome    = 2.0 // per unit of income/1000, centred
	betaBaby      = 1.2
	betaBeauty    = 0.4
	betaMilk      = 1.5
	betaCity      = 0.7 // c03 and c07
	betaLevel     = 0.2 // per level step
	noiseSD       = 1.0 // the idiosyncratic part no feature explains
	recentDays    = 30
	olderDays     = 90
	shareCityBias = 1.2 // Zipf exponent of city sizes
)

// Person is one generated profile's latent state.
type person struct {
	female  bool
	oracle  float64 // Σ β·x: the propensity's explainable part
	latent  float64 // oracle + noise: decides the true audience
	popular int     // the popularity baseline's score
}

// world is one generated dataset and its planted truth.
type world struct {
	sn      *engine.Snapshot
	people  []person
	now     schema.Day
	truth   []bool // row is in the true audience
	nTruth  int
	females []uint32
}

// generate builds a dataset of n profiles from seed; profile i is row i.
func generate(n int, seed uint64, share float64) (*world, error) {
	s, err := schema.Parse([]byte(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("evaluation schema: %w", err)
	}
	nowT := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return nowT }}).Create("eval", s)
	if err != nil {
		return nil, fmt.Errorf("evaluation dataset: %w", err)
	}
	now := schema.DayOf(nowT, time.UTC)
	w := &world{people: make([]person, n), now: now}
	r := rand.New(rand.NewPCG(seed, 0x10a1))
	cityW := make([]float64, len(cities))
	for i := range cityW {
		cityW[i] = 1 / math.Pow(float64(i+1), shareCityBias)
	}
	const batch = 1 << 14
	ups := make([]record.Update, 0, batch)
	for i := range n {
		u, p := drawPerson(r, i, now, cityW)
		w.people[i] = p
		ups = append(ups, u)
		if len(ups) == batch || i == n-1 {
			res := ds.Apply(ups)
			if len(res.Errors) > 0 {
				return nil, fmt.Errorf("evaluation data: %w", res.Errors[0])
			}
			ups = ups[:0]
		}
	}
	w.sn = ds.Snapshot()
	if n > 0 && (w.sn.ExternalID(0) != pid(0) || w.sn.ExternalID(uint32(n-1)) != pid(n-1)) {
		return nil, fmt.Errorf("evaluation data: profile i is not row i")
	}
	// The true audience is the top share of the latent propensity; the
	// logistic link is monotone, so ranking by it changes nothing.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := -cmpF(w.people[a].latent, w.people[b].latent); c != 0 {
			return c
		}
		return a - b
	})
	w.nTruth = int(math.Round(share * float64(n)))
	w.truth = make([]bool, n)
	for _, i := range order[:w.nTruth] {
		w.truth[i] = true
	}
	for i, p := range w.people {
		if p.female {
			w.females = append(w.females, uint32(i))
		}
	}
	return w, nil
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func pid(i int) string { return fmt.Sprintf("p%08d", i) }

func pickWeighted(r *rand.Rand, w []float64) int {
	var sum float64
	for _, x := range w {
		sum += x
	}
	u := r.Float64() * sum
	for i, x := range w {
		if u < x {
			return i
		}
		u -= x
	}
	return len(w) - 1
}

// drawPerson draws one profile's attributes, its update and its latent
// propensity.
func drawPerson(r *rand.Rand, i int, now schema.Day, cityW []float64) (record.Update, person) {
	var p person
	u := record.Update{ID: pid(i)}
	set := func(f int, v record.Value) { u.Set = append(u.Set, record.Assign{Field: f, Value: v}) }

	city := pickWeighted(r, cityW)
	p.female = r.Float64() < 0.6
	age := 18 + int(math.Min(62, math.Abs(r.NormFloat64()*14+20)))
	income := int(math.Max(0, math.Min(1000, r.NormFloat64()*180+400+float64(age-35)*4)))
	level := min(4, int(float64(income)/1000*4+r.Float64()*1.5))
	premium := income > 700
	if r.Float64() < 0.1 {
		premium = !premium
	}
	app := r.Float64() < 0.7
	set(fCity, record.Value{Str: cities[city]})
	g := "male"
	if p.female {
		g = "female"
	}
	set(fGender, record.Value{Str: g})
	set(fAge, record.Value{Int: int64(age)})
	set(fIncome, record.Value{Int: int64(income)})
	set(fPremium, record.Value{Bool: premium})
	set(fLevel, record.Value{Str: levels[level]})
	set(fApp, record.Value{Bool: app})
	set(fNoiseTag, record.Value{Str: noiseTags[r.IntN(len(noiseTags))]})
	set(fNoiseInt, record.Value{Int: int64(r.IntN(101))})

	var ints []string
	baby, beauty := false, false
	for k, v := range interestVals {
		rate := interestRate[k]
		switch v {
		case "baby":
			if p.female && age >= 25 && age < 40 {
				rate *= 2.5 // interests correlate with demographics
			}
		case "beauty":
			if p.female {
				rate *= 1.5
			}
		}
		if r.Float64() < rate {
			ints = append(ints, v)
			baby = baby || v == "baby"
			beauty = beauty || v == "beauty"
		}
	}
	if len(ints) > 0 {
		set(fInterests, record.Value{Strs: ints})
	}

	// Events: each category bought recently with its rate (milk far more
	// often by baby-interested profiles), plus older purchases; views
	// follow purchases and add browsing of their own.
	milkRecent := false
	activity := 0
	for k, c := range categories {
		rate := categoryRate[k]
		if c == "milk" && baby {
			rate = 0.35
		}
		if r.Float64() < rate {
			d := now - schema.Day(r.IntN(recentDays))
			u.Events = append(u.Events, record.Event{Field: fPurchase, Value: c, Day: d})
			milkRecent = milkRecent || c == "milk"
			activity++
			if r.Float64() < 0.8 {
				u.Events = append(u.Events, record.Event{Field: fView, Value: c, Day: d})
			}
		}
		if r.Float64() < rate {
			d := now - recentDays - schema.Day(r.IntN(olderDays-recentDays))
			u.Events = append(u.Events, record.Event{Field: fPurchase, Value: c, Day: d})
		}
		if r.Float64() < 0.25 {
			u.Events = append(u.Events, record.Event{Field: fView, Value: c, Day: now - schema.Day(r.IntN(recentDays))})
			activity++
		}
	}

	z := betaIncome * (float64(income)/1000 - 0.4)
	if age >= 25 && age < 35 {
		z += betaAge2534
	}
	if baby {
		z += betaBaby
	}
	if beauty {
		z += betaBeauty
	}
	if milkRecent {
		z += betaMilk
	}
	if city == 3 || city == 7 {
		z += betaCity
	}
	z += betaLevel * float64(level)
	p.oracle = z
	p.latent = z + noiseSD*r.NormFloat64()
	// Popularity: how much a profile does and holds, the usual "send it
	// to the most engaged" baseline.
	p.popular = activity + len(ints)
	if app {
		p.popular++
	}
	return u, p
}
