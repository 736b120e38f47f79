// Package runner is `cohort bench`: it generates (or reuses) a dataset of
// gen profiles, measures the load rate, resident memory and startup from
// disk, runs a fixed query mix and reports each query's latency beside
// the physical floor measured in the same run.
//
// # Method
//
//  1. Load: gen.Options{Profiles, Seed, Now} records are generated and
//     applied in memory through bench.Load (NDJSON decode + apply, the
//     bulk path of 'cohort demo'); load_records_per_s is that rate,
//     generation included (it shares the cores). Before it, the engine's
//     own ingest rate (ingest_records_per_s): the first 1M records (or
//     --ingest-sample) generated into memory, then applied alone to a
//     scratch dataset through the same path, so the generator does not
//     share the cores (410K against 307K records/s at 1M profiles). The
//     durable path ('cohort load': write-ahead log with fsyncs) is
//     measured separately only when asked (durable_load_records_per_s).
//  2. The loaded dataset is written as one checkpoint into the store, the
//     engine is dropped and the memory returned to the OS, so that what
//     follows holds one copy of the data.
//  3. Startup: open the store and recover the dataset into a fresh engine;
//     startup_s runs until its snapshot is ready to query. The page cache
//     is warm (the checkpoint was just written), so this is not a cold
//     disk read.
//  4. Memory: after a GC and debug.FreeOSMemory, rss_bytes is VmRSS of
//     /proc/self/status and heap_bytes the Go heap in use, with the store
//     still open, as a server holds it. bytes_per_profile is
//     rss_bytes/profiles.
//  5. The mix runs on the recovered snapshot, every window ending on the
//     generator's reference day (Now), so counts are reproducible. Each
//     query is compiled once; what is timed is Count (or Profile, or
//     Expand). After warm-up runs (at least a second, and at least
//     three calls for counts and the lookalike: views keep results from
//     their second use), each sample times a batch of calls
//     long enough (≥ 20 µs) for the clock to resolve it, and p50/p95/p99
//     are nearest-rank percentiles over the samples.
//  6. Repeated and first counts. A query runs many times on one
//     snapshot, and the views keep a range's profiles and a window's
//     union from their second use (docs/execution.md): p50/p95/p99 are
//     that repeated count, what a marketer refining a segment sees. Each
//     count is timed again with exec.Options.Fresh, every range and
//     window computed from the index each run as on a snapshot that never
//     saw them: first_p50_us and first_ratio. Both give the same count
//     (checked).
//
// # Physical floor
//
// For a count: AND (AND-NOT for subtracted terms) plus popcount over the
// dense, uncompressed bitsets of the plan's leaves, each leaf already
// evaluated (a range's slices or a window's days already combined), timed
// the same way in the same run: the least work an engine that reads those
// sets must do. An OR is treated as an AND of its terms, so only the
// floor's time, not its count, is comparable. A ratio below 1 is a count
// answered from a stored cardinality without touching the rows.
//
// For a first count (counts whose ranges or windows are computed): the
// same pass over the dense bitsets of what those leaves are computed
// from, each read once: a range's existence bitmap and bit slices, a
// window's or frequency's day bitmaps of the values it names
// (exec.Query.StoredInputs); other leaves as above. It is measured a
// slab of 65,536-row blocks at a time (about 256 MiB of bitsets; a
// 90-day window over 100M profiles is 1.1 GB of them) and the slabs'
// p50s are added: first_floor_us, and first_floor_ratio the first p50
// over it. The floor above is what a repeated count can reach (the
// combination kept); this one is what an engine that keeps nothing
// between counts must read.
//
// For the profile: one AND + popcount of the dense segment with the dense
// bitset of every value of the field (300 cities). Roaring skips the
// containers a long-tail value does not have, so Cohort can beat this
// floor (ratio < 1).
//
// For the lookalike: one AND + popcount pass over the dense universe per
// bitmap it touches: every candidate feature it counts against the seed
// (lookalike.Result.FeaturesCounted, 448 for the mix's seed: tag, set
// and bool values, each numeric field's buckets, each event value's
// window taken as one bitmap, as a count's floor takes its leaves already
// evaluated) and every selected feature it scores (64). It leaves out
// choosing the top N and adding the weights, so it is still a low floor.
// (Until the eighth session it counted the 64 scoring passes alone.)
//
// # Query mix
//
//	name                  kind       query
//	tag-eq                count      city = '上海'
//	tag-in                count      city IN ('上海', '北京', '杭州')
//	tag-2                 count      gender = 'female' AND city IN ('上海', '杭州')
//	tag-range-3           count      gender = 'female' AND member_level IN ('L3', 'L4') AND age BETWEEN 25 AND 35
//	int-between           count      age BETWEEN 25 AND 35
//	int-ge                count      churn_score >= 800
//	decimal-gt            count      ltv > 1000
//	date-last-365         count      registered_at IN LAST 365 DAYS
//	set-any               count      channels HAS ANY ('wechat', 'app')
//	set-all               count      channels HAS ALL ('wechat', 'app')
//	not-set               count      NOT channels HAS 'wechat'
//	not-tag               count      is_vip AND NOT lifecycle = 'churned'
//	event-7               count      purchase() IN LAST 7 DAYS
//	event-30              count      view('skincare') IN LAST 30 DAYS
//	event-90              count      purchase('milk_powder') IN LAST 90 DAYS
//	event-atleast-3-in-30 count      purchase('coffee') AT LEAST 3 TIMES IN LAST 30 DAYS
//	cart-not-bought-7     count      add_to_cart() IN LAST 7 DAYS AND NOT purchase() IN LAST 7 DAYS
//	design-example        count      gender = 'female' AND age BETWEEN 25 AND 35 AND city IN ('上海', '杭州')
//	                                 AND purchase('milk_powder') IN LAST 90 DAYS AND lifecycle != 'churned'
//	profile-city          profile    city over gender = 'female' AND age BETWEEN 25 AND 35
//	lookalike-10k         lookalike  size 10,000 from the first 1,000 rows of member_level = 'L4'
//	lookalike-10k-spread  lookalike  size 10,000 from 1,000 rows of member_level = 'L4' taken evenly over it
package runner
