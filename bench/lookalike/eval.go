// Package lookalike evaluates lookalike expansion (engine/lookalike)
// against planted truth.
//
// It generates its own data (synth.go): about a dozen fields whose role
// is known — signal features of different strengths, noise, features
// correlated with a signal, popular features with no signal — and a
// latent propensity z = Σ β·x + ε with ε ~ N(0, 1). The true audience is
// the top AudienceShare of profiles by z (the logistic link is monotone,
// so the top by logistic(z) is the same set). Seeds are drawn from the
// true audience: clean, with 10 % contamination drawn from outside it,
// and biased (drawn only from women, although gender carries no signal).
//
// Every model ranks the universe = every profile outside the seed, and is
// scored against the truth outside the seed, at k = the size of that
// truth: precision@k, recall@k (equal to precision when k is the truth's
// size; both are shown because the table is read by people who expect
// both), lift = precision / base rate, and the rank-based AUC
// (Mann–Whitney, ties averaged) over the whole universe.
//
// Models: lookalike.Expand with its defaults (naive Bayes) and with the
// logistic model; random (a uniform shuffle);
// popularity (ranks by activity: recent event values + interests held +
// app user, what "send it to the most engaged" means); oracle (ranks by
// Σ β·x, the propensity without the noise no feature can see — the best
// any model of these features can do). On biased seeds a fifth row,
// lookalike with gender excluded, shows what ExcludeFields does for a
// marketer who knows the seed's bias.
//
// Generation is deterministic (one PCG stream per world seed), and so is
// every seed draw, so two runs with the same flags print the same
// metrics; only the times differ.
package lookalike

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	lal "github.com/cohortdb/cohort/engine/lookalike"
)

// Config is one evaluation.
type Config struct {
	Profiles      int     `json:"profiles"`
	GenSeeds      int     `json:"gen_seeds"`
	SeedSizes     []int   `json:"seed_sizes"`
	AudienceShare float64 `json:"audience_share"`
	// Progress receives a line per generated world and condition; nil
	// means none.
	Progress io.Writer `json:"-"`
}

// DefaultConfig is what 'cohort bench lookalike' runs without flags:
// 400K profiles keep a 10K seed well inside a 5 % true audience (20K).
func DefaultConfig() Config {
	return Config{Profiles: 400_000, GenSeeds: 5, SeedSizes: []int{100, 1000, 10_000}, AudienceShare: 0.05}
}

// Conditions of the seed draw.
const (
	Clean        = "clean"
	Contaminated = "contaminated10%"
	Biased       = "biased:women"
)

// Models compared.
const (
	ModelLookalike = "lookalike"
	// ModelLogistic is lookalike.Expand with Model = "logistic".
	ModelLogistic   = "lookalike, logistic"
	ModelRandom     = "random"
	ModelPopularity = "popularity"
	ModelOracle     = "oracle"
	// ModelLookalikeNoGender is lookalike.Expand told to leave gender
	// out (ExcludeFields), run on the biased seeds only: what a marketer
	// who knows the seed's bias can do about it.
	ModelLookalikeNoGender = "lookalike, gender excluded"
)

// ModelNames lists the models in table order (the order evaluateSeed
// runs them).
func ModelNames() []string {
	return []string{ModelLookalike, ModelLogistic, ModelLookalikeNoGender, ModelOracle, ModelPopularity, ModelRandom}
}

// Metrics of one model on one seed.
type Metrics struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	Lift      float64 `json:"lift"`
	AUC       float64 `json:"auc"`
}

// Run is one model on one seed of one generated world.
type Run struct {
	GenSeed   uint64  `json:"gen_seed"`
	SeedSize  int     `json:"seed_size"`
	Condition string  `json:"condition"`
	Model     string  `json:"model"`
	K         int     `json:"k"`
	Metrics   Metrics `json:"metrics"`
	// ExpandMS is the time of lal.Expand for k profiles (lookalike
	// models only).
	ExpandMS float64 `json:"expand_ms,omitempty"`
}

// Stat is a mean and sample standard deviation.
type Stat struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
}

// Cell aggregates the runs of one seed size, condition and model.
type Cell struct {
	SeedSize  int    `json:"seed_size"`
	Condition string `json:"condition"`
	Model     string `json:"model"`
	N         int    `json:"n"`
	K         Stat   `json:"k"`
	Precision Stat   `json:"precision"`
	Recall    Stat   `json:"recall"`
	Lift      Stat   `json:"lift"`
	AUC       Stat   `json:"auc"`
	ExpandMS  *Stat  `json:"expand_ms,omitempty"`
	// OfOracle is the mean precision as a share of the oracle's.
	OfOracle float64 `json:"of_oracle"`
}

// Report is an evaluation's outcome.
type Report struct {
	Config  Config        `json:"config"`
	Runs    []Run         `json:"runs"`
	Cells   []Cell        `json:"cells"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Evaluate runs the evaluation.
func Evaluate(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Profiles < 1000 {
		return nil, fmt.Errorf("lookalike evaluation: profiles must be at least 1000, got %d", cfg.Profiles)
	}
	if cfg.GenSeeds < 1 {
		return nil, fmt.Errorf("lookalike evaluation: need at least one generator seed, got %d", cfg.GenSeeds)
	}
	if cfg.AudienceShare <= 0 || cfg.AudienceShare >= 0.5 {
		return nil, fmt.Errorf("lookalike evaluation: audience share %v out of (0, 0.5)", cfg.AudienceShare)
	}
	start := time.Now()
	rep := &Report{Config: cfg}
	for g := range cfg.GenSeeds {
		gs := uint64(g + 1)
		t0 := time.Now()
		w, err := generate(cfg.Profiles, gs, cfg.AudienceShare)
		if err != nil {
			return nil, err
		}
		progress(cfg.Progress, "world %d/%d: %d profiles, true audience %d, generated in %v\n",
			g+1, cfg.GenSeeds, cfg.Profiles, w.nTruth, time.Since(t0).Round(time.Millisecond))
		for _, n := range cfg.SeedSizes {
			for _, cond := range []string{Clean, Contaminated, Biased} {
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("lookalike evaluation: %w", err)
				}
				runs, err := evaluateSeed(ctx, w, gs, n, cond)
				if err != nil {
					return nil, fmt.Errorf("lookalike evaluation: world %d, seed %d %s: %w", gs, n, cond, err)
				}
				rep.Runs = append(rep.Runs, runs...)
				progress(cfg.Progress, "  seed %6d %-16s lookalike p@k %.3f  oracle %.3f\n", n, cond, runs[0].Metrics.Precision, oracleOf(runs).Metrics.Precision)
			}
		}
	}
	rep.Cells = aggregate(rep.Runs)
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

func oracleOf(runs []Run) Run {
	for _, r := range runs {
		if r.Model == ModelOracle {
			return r
		}
	}
	return Run{}
}

// drawSeed draws n rows for a condition, deterministically from the world
// seed, the size and the condition.
func drawSeed(w *world, gs uint64, n int, cond string) (*roaring.Bitmap, error) {
	h := uint64(0)
	for _, c := range cond {
		h = h*131 + uint64(c)
	}
	r := rand.New(rand.NewPCG(gs, uint64(n)*1_000_003+h))
	var in, out []uint32
	for i, t := range w.truth {
		switch {
		case t && (cond != Biased || w.people[i].female):
			in = append(in, uint32(i))
		case !t:
			out = append(out, uint32(i))
		}
	}
	nIn := n
	if cond == Contaminated {
		nIn = n - n/10
	}
	if nIn > len(in) || n-nIn > len(out) {
		return nil, fmt.Errorf("cannot draw %d seed members from %d eligible: raise --profiles", nIn, len(in))
	}
	seed := roaring.New()
	r.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	seed.AddMany(in[:nIn])
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	seed.AddMany(out[:n-nIn])
	return seed, nil
}

// evaluateSeed runs every model on one seed; the lookalike run comes
// first and the oracle second.
func evaluateSeed(ctx context.Context, w *world, gs uint64, n int, cond string) ([]Run, error) {
	seed, err := drawSeed(w, gs, n, cond)
	if err != nil {
		return nil, err
	}
	universe := roaring.AndNot(w.sn.All(), seed)
	rows := universe.ToArray()
	label := make([]bool, len(rows))
	k := 0
	for i, row := range rows {
		label[i] = w.truth[row]
		if label[i] {
			k++
		}
	}
	if k == 0 {
		return nil, fmt.Errorf("no true audience member left outside the seed")
	}
	mk := func(model string, scores []float64) Run {
		return Run{GenSeed: gs, SeedSize: n, Condition: cond, Model: model, K: k, Metrics: measure(scores, label, k)}
	}
	var out []Run

	// Lookalike, both models: the full ranking for AUC, and a timed call
	// for k rows, the call a user makes.
	scores := make([]float64, len(rows))
	for _, m := range []struct{ name, model string }{{ModelLookalike, lal.ModelNaiveBayes}, {ModelLogistic, lal.ModelLogistic}} {
		t0 := time.Now()
		top, err := lal.Expand(ctx, w.sn, seed, lal.Options{Size: k, Now: w.now, Model: m.model})
		if err != nil {
			return nil, err
		}
		elapsed := time.Since(t0)
		full, err := lal.Expand(ctx, w.sn, seed, lal.Options{Size: len(rows), Now: w.now, Model: m.model})
		if err != nil {
			return nil, err
		}
		if !slices.Equal(top.Ranked, full.Ranked[:k]) {
			return nil, fmt.Errorf("expanding to k is not the top k of the full ranking")
		}
		fill(scores, rows, full)
		run := mk(m.name, scores)
		run.ExpandMS = float64(elapsed.Microseconds()) / 1000
		out = append(out, run)
	}
	if cond == Biased {
		res, err := lal.Expand(ctx, w.sn, seed, lal.Options{Size: len(rows), Now: w.now, ExcludeFields: []string{"gender"}})
		if err != nil {
			return nil, err
		}
		fill(scores, rows, res)
		out = append(out, mk(ModelLookalikeNoGender, scores))
	}

	for i, row := range rows {
		scores[i] = w.people[row].oracle
	}
	out = append(out, mk(ModelOracle, scores))
	for i, row := range rows {
		scores[i] = float64(w.people[row].popular)
	}
	out = append(out, mk(ModelPopularity, scores))
	r := rand.New(rand.NewPCG(gs, uint64(n)+7))
	for i := range rows {
		scores[i] = r.Float64()
	}
	out = append(out, mk(ModelRandom, scores))
	return out, nil
}

// fill sets scores[i] to the score res gives rows[i] (a full ranking).
func fill(scores []float64, rows []uint32, res *lal.Result) {
	byRow := make(map[uint32]float64, len(res.Ranked))
	for i, row := range res.Ranked {
		byRow[row] = res.Scores[i]
	}
	for i, row := range rows {
		scores[i] = byRow[row]
	}
}

// measure computes the metrics of one ranking. scores[i] is the score of
// the universe's i-th row (in row order) and label[i] whether it is in the
// truth; the top k are the k highest scores, ties by row (lower first),
// as Expand breaks them.
func measure(scores []float64, label []bool, k int) Metrics {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return -cmpF(scores[a], scores[b]) })
	hits := 0
	for _, i := range idx[:k] {
		if label[i] {
			hits++
		}
	}
	var m Metrics
	m.Precision = float64(hits) / float64(k)
	m.Recall = float64(hits) / float64(k) // k is the truth's size
	m.Lift = m.Precision / (float64(k) / float64(len(scores)))
	m.AUC = auc(scores, label, idx)
	return m
}

// auc is the Mann–Whitney statistic from idx (indices by score, highest
// first), giving tied scores their average rank.
func auc(scores []float64, label []bool, idx []int) float64 {
	n := len(idx)
	var pos, rankSum float64
	for i := 0; i < n; {
		j := i
		for j < n && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		// Ascending ranks: the highest score has rank n.
		avg := float64(n-i+n-j+1) / 2
		for _, x := range idx[i:j] {
			if label[x] {
				pos++
				rankSum += avg
			}
		}
		i = j
	}
	neg := float64(n) - pos
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func stat(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	var s Stat
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var v float64
		for _, x := range xs {
			v += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(v / float64(len(xs)-1))
	}
	return s
}

// aggregate groups runs into cells, in the order they first appear
// (seed size, condition, then model as ModelNames orders them).
func aggregate(runs []Run) []Cell {
	type key struct {
		n         int
		cond, mdl string
	}
	var order []key
	groups := map[key][]Run{}
	for _, r := range runs {
		k := key{r.SeedSize, r.Condition, r.Model}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var cells []Cell
	for _, k := range order {
		rs := groups[k]
		var p, rc, l, a, kk, ms []float64
		for _, r := range rs {
			p, rc, l, a = append(p, r.Metrics.Precision), append(rc, r.Metrics.Recall), append(l, r.Metrics.Lift), append(a, r.Metrics.AUC)
			kk = append(kk, float64(r.K))
			if r.ExpandMS > 0 {
				ms = append(ms, r.ExpandMS)
			}
		}
		c := Cell{SeedSize: k.n, Condition: k.cond, Model: k.mdl, N: len(rs), K: stat(kk),
			Precision: stat(p), Recall: stat(rc), Lift: stat(l), AUC: stat(a)}
		if len(ms) > 0 {
			s := stat(ms)
			c.ExpandMS = &s
		}
		cells = append(cells, c)
	}
	for i := range cells {
		for _, o := range cells {
			if o.SeedSize == cells[i].SeedSize && o.Condition == cells[i].Condition && o.Model == ModelOracle && o.Precision.Mean > 0 {
				cells[i].OfOracle = cells[i].Precision.Mean / o.Precision.Mean
			}
		}
	}
	return cells
}

// WriteTable prints the report as a Markdown table.
func (r *Report) WriteTable(w io.Writer) error {
	var err error
	pf := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	pm := func(s Stat) string { return fmt.Sprintf("%.3f ± %.3f", s.Mean, s.SD) }
	pf("| seed | condition | k | model | precision@k | recall@k | lift | AUC | of oracle | expand (ms) |\n")
	pf("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Cells {
		ms := ""
		if c.ExpandMS != nil {
			ms = fmt.Sprintf("%.1f ± %.1f", c.ExpandMS.Mean, c.ExpandMS.SD)
		}
		pf("| %d | %s | %.0f | %s | %s | %s | %.1f ± %.1f | %s | %.0f %% | %s |\n", c.SeedSize, c.Condition, c.K.Mean, c.Model,
			pm(c.Precision), pm(c.Recall), c.Lift.Mean, c.Lift.SD, pm(c.AUC), 100*c.OfOracle, ms)
	}
	return err
}
