package lookalike

import (
	"context"
	"math"
	"os"
	"testing"
)

// TestEvaluateSmall runs the whole evaluation at a tiny size and checks
// that the metrics are sane: the oracle beats the model, which beats
// random, and random's AUC is near one half.
func TestEvaluateSmall(t *testing.T) {
	cfg := Config{Profiles: 20_000, GenSeeds: 2, SeedSizes: []int{100, 500}, AudienceShare: 0.05}
	if testing.Verbose() {
		cfg.Progress = os.Stderr
	}
	rep, err := Evaluate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 2*3*5+2 {
		t.Fatalf("%d cells", len(rep.Cells))
	}
	if testing.Verbose() {
		_ = rep.WriteTable(os.Stderr)
	}
	get := func(n int, cond, model string) Cell {
		for _, c := range rep.Cells {
			if c.SeedSize == n && c.Condition == cond && c.Model == model {
				return c
			}
		}
		t.Fatalf("no cell %d %s %s", n, cond, model)
		return Cell{}
	}
	for _, n := range cfg.SeedSizes {
		for _, cond := range []string{Clean, Contaminated, Biased} {
			o, m, r := get(n, cond, ModelOracle), get(n, cond, ModelLookalike), get(n, cond, ModelRandom)
			if !(o.Precision.Mean >= m.Precision.Mean && m.Precision.Mean > r.Precision.Mean) {
				t.Errorf("%d %s: precision oracle %.3f, model %.3f, random %.3f", n, cond, o.Precision.Mean, m.Precision.Mean, r.Precision.Mean)
			}
			if math.Abs(r.AUC.Mean-0.5) > 0.03 {
				t.Errorf("%d %s: random AUC %.3f", n, cond, r.AUC.Mean)
			}
			if (cond != Biased && m.AUC.Mean < 0.8) || m.AUC.Mean < 0.55 || o.AUC.Mean > 1 || r.Lift.Mean > 1.5 {
				t.Errorf("%d %s: model AUC %.3f, oracle AUC %.3f, random lift %.2f", n, cond, m.AUC.Mean, o.AUC.Mean, r.Lift.Mean)
			}
		}
	}
}

func TestAUC(t *testing.T) {
	// Perfect, inverted and all-tied rankings.
	label := []bool{true, false, true, false}
	for _, c := range []struct {
		scores []float64
		want   float64
	}{
		{[]float64{4, 1, 3, 2}, 1},
		{[]float64{1, 4, 2, 3}, 0},
		{[]float64{1, 1, 1, 1}, 0.5},
		{[]float64{3, 3, 1, 0}, 0.625},
	} {
		m := measure(c.scores, label, 2)
		if math.Abs(m.AUC-c.want) > 1e-12 {
			t.Errorf("scores %v: AUC %v, want %v", c.scores, m.AUC, c.want)
		}
	}
}
