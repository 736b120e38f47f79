// Package gen generates deterministic synthetic customer data for Cohort:
// the demo schema (SchemaJSON) and NDJSON ingest records (DESIGN §3) for any
// number of profiles, plus update records for those profiles.
//
// The data models the members of a Chinese consumer brand that sells baby
// products, beauty, food and electronics through WeChat, its app, Tmall, JD,
// Douyin and stores. It is shaped so that segments, profile reports and
// lookalike have something real to find, rather than uniform noise in which
// every TGI is 100:
//
//   - city follows a Zipf law over 300 cities in rank order (上海 first), so
//     a few values hold most profiles and a long tail holds few: the shape
//     that decides bitmap container choice, dictionary size and "top N"
//     reports. Values are mostly Chinese, because UTF-8 values are
//     first-class in Cohort and bugs in quoting, escaping and collation
//     show up only with them; a few ASCII spellings ("Shanghai", "Xi'an")
//     sit in the tail as a second source would write them.
//   - Attributes are correlated the way a marketer expects: members in
//     bigger cities reach higher levels; higher levels are older, richer
//     (ltv follows level and purchase count) and mostly VIP; lifecycle
//     follows level and sets churn_score (churned profiles score high);
//     interests follow gender and age ("baby" peaks among women 25–34), and
//     a profile views and buys the categories its interests name several
//     times more often.
//   - Every attribute is missing from a few per cent of profiles, so IS
//     NULL differs from "not equal to any value".
//   - Events (view, add_to_cart, purchase) come in sessions that form a
//     funnel, on the 400 calendar days ending with Options.Now (the event
//     fields' retention), biased to recent days and placed by lifecycle:
//     active members were active last month, dormant ones 90+ days ago,
//     churned ones 200+ days ago or never. Counts are skewed: most profiles
//     have 0–3 events, heavy buyers hundreds. last_purchase_at is the day of
//     the latest purchase.
//   - Event times are mostly RFC 3339 with +08:00, some plain dates and
//     some UTC timestamps, so ingest must place each on its Shanghai day.
//
// Record i depends only on the options and i (each record seeds its own
// generator), so a data set can be generated in parallel ranges, and the
// same options always give the same bytes. The generator uses integer
// arithmetic only, so the bytes are the same on every platform.
// testdata/sample.ndjson at the module root is a committed sample
// (Seed 1, 200 profiles, Now 2026-11-22) that tests compare against.
package gen
