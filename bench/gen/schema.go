package gen

import "time"

// schemaJSON is the demo schema; testdata/schema.json holds the same bytes.
// Field order is the order of keys in a generated "set" object.
const schemaJSON = `{
  "timezone": "Asia/Shanghai",
  "fields": [
    {"name": "gender", "type": "tag", "description": "female or male; absent when unknown"},
    {"name": "age", "type": "int", "min": 0, "max": 120, "description": "age in years"},
    {"name": "city", "type": "tag", "description": "city of residence"},
    {"name": "member_level", "type": "tag", "description": "loyalty tier L0 (entry) to L4 (top)"},
    {"name": "lifecycle", "type": "tag", "description": "new, active, dormant or churned"},
    {"name": "is_vip", "type": "bool", "description": "VIP service entitlement"},
    {"name": "churn_score", "type": "int", "min": 0, "max": 1000, "description": "predicted churn risk, higher is riskier"},
    {"name": "ltv", "type": "decimal", "scale": 2, "min": 0, "max": 10000000, "description": "lifetime value in CNY"},
    {"name": "registered_at", "type": "date", "description": "day the membership started"},
    {"name": "last_purchase_at", "type": "date", "description": "day of the latest purchase"},
    {"name": "channels", "type": "set", "description": "channels the customer is reachable on"},
    {"name": "interests", "type": "set", "description": "declared or inferred interests"},
    {"name": "purchase", "type": "event", "retention_days": 400, "description": "purchase, by product category"},
    {"name": "view", "type": "event", "retention_days": 400, "description": "product page view, by category"},
    {"name": "add_to_cart", "type": "event", "retention_days": 400, "description": "add to cart, by category"}
  ]
}
`

// SchemaJSON returns the demo schema document (time zone Asia/Shanghai),
// ready for PUT /v1/datasets/{ds}. The slice is the caller's.
func SchemaJSON() []byte { return []byte(schemaJSON) }

// windowDays is how many calendar days of events a base record spans; it
// matches the event fields' retention_days so that nothing generated is
// already expired.
const windowDays = 400

// shanghai is the schema's zone as a fixed offset. Asia/Shanghai has been
// UTC+8 without daylight saving since 1991, so for every date the generator
// writes the two agree, and a fixed zone needs no time zone database on the
// machine that generates.
var shanghai = time.FixedZone("CST", utcOffset)

const utcOffset = 8 * 3600

// DefaultNow is the reference time used when Options.Now is zero:
// 2026-11-22 00:00 in Shanghai. A fixed default keeps generated data
// reproducible; the wall clock would not.
func DefaultNow() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, shanghai) }
