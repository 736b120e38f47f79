package runner

// Kinds of query in the mix.
const (
	KindCount     = "count"
	KindProfile   = "profile"
	KindLookalike = "lookalike"
)

// Query is one entry of the mix. For a count, Text is the segment; for a
// profile, Text is the segment and Field the field profiled; for a
// lookalike, Text selects the seed (its first SeedSize rows, or with
// Spread SeedSize rows taken evenly over all of it) and Size is the
// audience asked for.
type Query struct {
	Name     string
	Kind     string
	Text     string
	Field    string
	SeedSize int
	Size     int
	Spread   bool
}

// Describe is the query as the report shows it.
func (q Query) Describe() string {
	switch q.Kind {
	case KindProfile:
		return "PROFILE " + q.Field + " OVER " + q.Text
	case KindLookalike:
		if q.Spread {
			return "LOOKALIKE " + itoa(q.Size) + " FROM " + itoa(q.SeedSize) + " SPREAD OVER " + q.Text
		}
		return "LOOKALIKE " + itoa(q.Size) + " FROM first " + itoa(q.SeedSize) + " OF " + q.Text
	}
	return q.Text
}

// Mix returns the fixed query mix (the table in the package doc and in
// BENCHMARKS.md). It is a function, not a variable, so no caller can
// change the mix another one measures.
func Mix() []Query {
	c := func(name, text string) Query { return Query{Name: name, Kind: KindCount, Text: text} }
	return []Query{
		c("tag-eq", `city = '上海'`),
		c("tag-in", `city IN ('上海', '北京', '杭州')`),
		c("tag-2", `gender = 'female' AND city IN ('上海', '杭州')`),
		c("tag-range-3", `gender = 'female' AND member_level IN ('L3', 'L4') AND age BETWEEN 25 AND 35`),
		c("int-between", `age BETWEEN 25 AND 35`),
		c("int-ge", `churn_score >= 800`),
		c("decimal-gt", `ltv > 1000`),
		c("date-last-365", `registered_at IN LAST 365 DAYS`),
		c("set-any", `channels HAS ANY ('wechat', 'app')`),
		c("set-all", `channels HAS ALL ('wechat', 'app')`),
		c("not-set", `NOT channels HAS 'wechat'`),
		c("not-tag", `is_vip AND NOT lifecycle = 'churned'`),
		c("event-7", `purchase() IN LAST 7 DAYS`),
		c("event-30", `view('skincare') IN LAST 30 DAYS`),
		c("event-90", `purchase('milk_powder') IN LAST 90 DAYS`),
		c("event-atleast-3-in-30", `purchase('coffee') AT LEAST 3 TIMES IN LAST 30 DAYS`),
		c("cart-not-bought-7", `add_to_cart() IN LAST 7 DAYS AND NOT purchase() IN LAST 7 DAYS`),
		// The first example of the DESIGN, as 'cohort demo' counts it.
		c("design-example", `gender = 'female' AND age BETWEEN 25 AND 35 AND city IN ('上海', '杭州') AND purchase('milk_powder') IN LAST 90 DAYS AND lifecycle != 'churned'`),
		{Name: "profile-city", Kind: KindProfile, Field: "city", Text: `gender = 'female' AND age BETWEEN 25 AND 35`},
		{Name: "lookalike-10k", Kind: KindLookalike, Text: `member_level = 'L4'`, SeedSize: 1000, Size: 10_000},
		// The same seed size taken over the whole segment, as an
		// uploaded audience lies: the first rows sit in one or two
		// roaring containers, which flatters every count against the
		// seed (thirteenth session, BENCHMARKS.md).
		{Name: "lookalike-10k-spread", Kind: KindLookalike, Text: `member_level = 'L4'`, SeedSize: 1000, Size: 10_000, Spread: true},
	}
}
