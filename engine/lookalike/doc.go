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
// set or bool value's bitmap is the index's own; "false" is "has a value"
// minus "true", so its counts are differences of those bitmaps' counts; a
// bucket is "≥ its low bound" minus "≥ the next bound", counted without
// a bitmap: the size of each "≥ bound" from the index (remembered by the
// view, index.BSIView.CountCompareQuiet) and, for a small seed, the seed's
// share from the seed's values, read once per field (each bit slice ANDed
// with the seed). The bucket bounds come from a sample of each numeric
// field's values that the field's view reads once (index.BSIView.Sample).
// No bucket is ever built as a bitmap: scoring reads the field's bit
// slices as words where the index keeps them for its range kernels, one
// wordops.Between pass per bucket and shard (index.BSIView.BetweenWords). (Building the buckets'
// bitmaps made 420 MB of garbage a call at 100M profiles; cutting the
// slices' bitmaps to each shard instead still cost a third of a call's
// CPU at 10M and most of it at 100M.)
//
// An event value's window is counted from its union where the view keeps
// one: the seed's share is one intersection. When every window of an
// event field fits in the room the view has left, they are all asked for
// while the candidates are counted (keptWindows), so that from the
// second call on the field is counted from unions alone (every event
// field of 10M generated profiles; at 100M they do not fit and none is
// asked for, leaving the room to the selected windows). Otherwise it is
// counted in one of two ways. With a small
// seed (under one profile in 64) and no universe, the window's size,
// which does not depend on the seed, is remembered by the view
// (index.EventsView.WindowCountQuiet: counted once per view, and never a
// reason to keep the union), and the seed's share is the same count
// within the seed: the seed is cut, once per event field and day, to its
// rows with an event of any value that day (index.EventsView.CutDay, all
// fields' days at once on every core before any value is counted), and
// each value's days meet only those (WindowCountDaysWithin), about
// 2 ms for the 75 windows of 10M generated profiles against 54 ms for
// setting every member's bit. (Cut to the whole seed, a day met every
// member of each container the seed has rows in — all of them for a
// seed spread over the rows.)
// Otherwise the window is counted from its day bitmaps in a word array per
// worker (a bit per row), or read from the union the view keeps if it
// keeps one. A small seed's values in a numeric field are read from the
// field's dense slices row by row (index.BSIView.ValuesOf). Of the ~430
// candidates only the selected ones need members, and of those only the
// event windows need making (buildSelected): a window the view keeps is
// read from it (as words too where it keeps them: scoring reads them in
// place); one the view has room for is asked for, so that it is kept
// from its second call on (the cache holds at least 64 MiB, a 10M
// lookalike's dozen or two windows); any other is not kept, so that the
// windows of one call never push each other out: a large one is written
// into pooled words from its days when scored, a small one built for the
// call. Differences are taken shard by shard while scoring. Candidates
// are counted in parallel, an event field's values one by one.
//
// Scoring works by shard: the universe is cut into ranges of ShardRows
// rows, and each selected feature's members in a shard are read as words
// (a bit per row). Bitmap features are first written whole, once per
// call, on every core, while their words fit in 96 MiB (all 64 at 10M
// profiles, the first few at 100M: writeWhole), and a shard reads its
// part of them where it stands; the others are cut to each shard (a dense
// one by an AND into a scratch bitmap that holds the shard, in place, so
// no container is allocated per feature per shard), and numeric buckets
// are computed from the index's dense slices. The shard is then summed a
// tile of 4096 rows at a time, into 16 KiB of int32 sums: with AVX-512
// the sums of 128 rows stay in registers while every feature's weight is
// added to the rows that have it, sixteen rows an instruction
// (wordops.AddMaskedMany). The weights are rounded to whole multiples of
// 2^-shift first (shift as large as keeps every sum within int32, about
// 2^-25 for 64 typical weights), so a score is an exact integer whatever
// the order of its additions, and reported as sum·2^-shift. The
// candidates whose sum reaches the worst score kept are found sixteen
// rows an instruction too (wordops.AtLeast) and offered to the worker's
// best N (a buffer cut back by quickselect, with rows below its worst,
// or below the highest worst any worker keeps N entries above, skipped
// before any call); the workers' bests are merged and sorted at
// the end, by radix on entries packed into one uint64 that orders like
// the result (score, then the lower row). This is the shape DESIGN §4 asks for: global feature
// statistics, per-shard scoring, a global top N, so shards can later
// live elsewhere.
package lookalike
