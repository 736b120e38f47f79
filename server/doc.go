// Package server will serve Cohort's HTTP API over fasthttp: ingest,
// count, query, explain, segments, export and analytics, with API keys,
// limits, metrics and the web console. (Issue 5; empty until then.)
package server
