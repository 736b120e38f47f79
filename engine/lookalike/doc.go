// Package lookalike grows a seed audience: it finds the profiles of a
// universe that look most like the seed and returns the best N of them
// (DESIGN §3, POST /v1/datasets/{ds}/lookalike).
//
// # Method
//
// The model is naive Bayes over binary features read straight from the
// indexes, which keeps it explainable (every feature has a weight a
// marketer can read) and lets it run on bitmaps rather than rows:
//
//  1. Candidate features. Every tag and set value, bool true and false,
//     quantile buckets of every int, decimal and date field (about eight
//     per field, boundaries from an evenly spaced sample of the field's
//     values), and every event value seen in the last WindowDays days.
//     Fields named in ExcludeFields contribute nothing: they define the
//     seed query, so they would only "discover" the query itself.
//  2. Statistics. For each feature f, s_f = |f ∩ seed| and b_f = |f ∩ base|,
//     where base is the universe minus the seed (the profiles that could be
//     chosen). Smoothed shares p_s = (s_f+α)/(n_s+2α), p_b = (b_f+α)/(n_b+2α)
//     give the weight of evidence WoE = ln(p_s/p_b). The information value
//     treats the feature as binary and adds the complement's term:
//     IV = (p_s−p_b)·WoE + (q_s−q_b)·ln(q_s/q_b) with q = 1−p, so a feature
//     whose absence is telling is valued too.
//  3. Support. A feature is kept only if the seed holds it at least
//     MinSupport times, or if the seed would have been expected to hold
//     it at least MinSupport times at the base rate (n_s·b_f/n_b): the
//     first rule keeps noise out of the positive weights, the second keeps
//     strong negative evidence ("nobody in the seed is churned") that a
//     count-only rule would throw away. Values held by fewer than
//     MinProfiles profiles overall are skipped before any of this.
//  4. Selection. The MaxFeatures features with the highest IV are kept.
//  5. Scoring. A profile's score is the sum of the WoE of the selected
//     features it has: the naive-Bayes log-odds of "seed-like" up to a
//     constant. Ties are broken by row id, lower first, so a result is
//     deterministic.
//
// Naive Bayes double counts correlated features (a copy of a signal
// feature adds its weight twice). Options.Model = ModelLogistic keeps
// steps 1–4 and replaces the weights by an L2-regularised logistic
// regression of seed membership on the selected features, fitted on a
// bounded sample (logistic.go), which does not. The evaluation in
// bench/lookalike measures both against planted truth; see BENCHMARKS.md.
//
// # Execution
//
// Statistics come from counts, not from a bitmap per candidate: a tag,
// set or bool value's bitmap is the index's own; a bucket is "≥ its low
// bound" minus "≥ the next bound" and "false" is "has a value" minus
// "true", so their counts are differences of those bitmaps' counts; an
// event value's window is counted from its day bitmaps in a word array
// per worker (a bit per row), or read from the union the view keeps if it
// keeps one. Of the ~430 candidates only the selected ones need members,
// and of those only the event windows need a bitmap built; differences
// are taken shard by shard while scoring. Candidates are counted in
// parallel, an event field's values one by one.
//
// Scoring works by shard: the universe is cut into ranges of ShardRows
// rows, and for each shard every selected feature's members there are
// added, with its weight, to a per-shard score array (2 MiB of float64
// per worker, whatever the dataset's size; a global array would be 80 MB
// at 10M profiles). Scores are float64 sums in feature order, so they are
// exact and reproducible. When most of a shard's rows are candidates,
// features are cut to the shard's range (a copy of containers rather
// than an intersection), the other rows marked -Inf, and the array read
// straight through; otherwise features are cut to the candidates and only
// their rows read. Each worker keeps its best N (a buffer cut back by
// quickselect, with rows below its worst skipped before any call); the
// workers' bests are merged and sorted at the end. This is the shape
// DESIGN §4 asks for: global feature statistics, per-shard scoring, a
// global top N, so shards can later live elsewhere.
package lookalike
