package gen

import "github.com/cohortdb/cohort/internal/jsonstr"

// The value lists below are the generator's vocabulary. They are immutable
// after package initialisation; the pre-quoted forms exist so that the hot
// path copies bytes instead of escaping the same strings millions of times.

// cities is in rank order: index k is drawn with weight 1/(k+1) (Zipf, s=1),
// so 上海 is the most common city and the tail is long. It is mostly
// prefecture-level cities in Chinese; a few ASCII spellings ("Shanghai",
// "Xi'an", "Hong Kong") sit among them, as they do in real CRM exports where
// a second source spelled the city its own way. "Xi'an" also carries a quote
// that a segment written with single quotes has to escape.
var cities = [...]string{
	"上海", "北京", "深圳", "广州", "成都", "杭州", "重庆", "武汉", "苏州", "西安",
	"南京", "天津", "长沙", "郑州", "东莞", "青岛", "沈阳", "宁波", "昆明", "合肥",
	"佛山", "无锡", "厦门", "济南", "福州", "温州", "大连", "哈尔滨", "长春", "泉州",
	"石家庄", "南宁", "Shanghai", "金华", "香港", "贵阳", "南昌", "常州", "嘉兴", "太原",
	"徐州", "南通", "台州", "烟台", "惠州", "珠海", "中山", "Beijing", "绍兴", "兰州",
	"潍坊", "保定", "临沂", "扬州", "乌鲁木齐", "海口", "呼和浩特", "洛阳", "唐山", "盐城",
	"廊坊", "芜湖", "镇江", "Hong Kong", "银川", "西宁", "湖州", "江门", "汕头", "赣州",
	"淄博", "济宁", "邯郸", "桂林", "三亚", "宜昌", "襄阳", "绵阳", "南阳", "沧州",
	"漳州", "泰州", "连云港", "淮安", "宿迁", "威海", "日照", "莆田", "宁德", "龙岩",
	"三明", "南平", "丽水", "衢州", "澳门", "舟山", "肇庆", "湛江", "茂名", "揭阳",
	"清远", "韶关", "梅州", "汕尾", "河源", "阳江", "潮州", "云浮", "柳州", "玉林",
	"北海", "钦州", "防城港", "百色", "河池", "贺州", "梧州", "贵港", "来宾", "Xi'an",
	"崇左", "遵义", "六盘水", "安顺", "毕节", "铜仁", "曲靖", "玉溪", "保山", "昭通",
	"丽江", "普洱", "临沧", "拉萨", "日喀则", "宝鸡", "咸阳", "渭南", "汉中", "延安",
	"榆林", "安康", "商洛", "铜川", "天水", "嘉峪关", "金昌", "白银", "武威", "Singapore",
	"张掖", "平凉", "酒泉", "庆阳", "定西", "陇南", "石嘴山", "吴忠", "固原", "中卫",
	"克拉玛依", "吐鲁番", "哈密", "包头", "乌海", "赤峰", "通辽", "鄂尔多斯", "呼伦贝尔", "巴彦淖尔",
	"乌兰察布", "大同", "阳泉", "长治", "晋城", "朔州", "晋中", "运城", "忻州", "临汾",
	"吕梁", "秦皇岛", "邢台", "张家口", "承德", "衡水", "开封", "平顶山", "安阳", "鹤壁",
	"新乡", "焦作", "濮阳", "许昌", "漯河", "三门峡", "商丘", "信阳", "周口", "驻马店",
	"黄石", "十堰", "鄂州", "荆门", "孝感", "荆州", "黄冈", "咸宁", "随州", "株洲",
	"湘潭", "衡阳", "邵阳", "岳阳", "常德", "张家界", "益阳", "郴州", "永州", "怀化",
	"娄底", "景德镇", "萍乡", "九江", "新余", "鹰潭", "吉安", "宜春", "抚州", "上饶",
	"淮南", "马鞍山", "淮北", "铜陵", "安庆", "黄山", "滁州", "阜阳", "Kuala Lumpur", "宿州",
	"六安", "亳州", "池州", "宣城", "蚌埠", "东营", "枣庄", "泰安", "德州", "聊城",
	"滨州", "菏泽", "鞍山", "抚顺", "本溪", "丹东", "锦州", "营口", "阜新", "辽阳",
	"盘锦", "铁岭", "朝阳", "葫芦岛", "吉林", "四平", "辽源", "通化", "白山", "松原",
	"白城", "齐齐哈尔", "鸡西", "鹤岗", "双鸭山", "大庆", "伊春", "佳木斯", "七台河", "牡丹江",
	"黑河", "绥化", "自贡", "攀枝花", "泸州", "德阳", "广元", "遂宁", "内江", "乐山",
	"南充", "眉山", "宜宾", "广安", "达州", "雅安", "巴中", "资阳", "Tokyo", "三沙",
}

// Tier boundaries in the city ranking: members in the largest cities reach
// higher levels more often, which gives profile/TGI reports something to find.
const (
	tier1Cities = 4  // 上海 北京 深圳 广州
	tier2Cities = 30 // the rest of the top 30
)

var genders = [...]string{"female", "male"}

var memberLevels = [...]string{"L0", "L1", "L2", "L3", "L4"}

const (
	lifeNew = iota
	lifeActive
	lifeDormant
	lifeChurned
)

var lifecycles = [...]string{lifeNew: "new", lifeActive: "active", lifeDormant: "dormant", lifeChurned: "churned"}

const (
	chWechat = iota
	chApp
	chTmall
	chJD
	chDouyin
	chStore
	chMiniprogram
)

var channels = [...]string{
	chWechat: "wechat", chApp: "app", chTmall: "tmall", chJD: "jd",
	chDouyin: "douyin", chStore: "store", chMiniprogram: "miniprogram",
}

// categories are the values of the three event fields. weight is the base
// popularity of a category in a session, before a profile's interests boost
// the categories they match.
var categories = [...]struct {
	name   string
	weight int
}{
	{"milk_powder", 30}, {"diapers", 30}, {"baby_food", 15}, {"toys", 20},
	{"skincare", 50}, {"makeup", 40}, {"perfume", 15}, {"haircare", 25},
	{"coffee", 35}, {"tea", 25}, {"snacks", 60}, {"beverages", 40},
	{"wine", 15}, {"fresh_food", 45}, {"pet_food", 20}, {"apparel", 55},
	{"shoes", 40}, {"sportswear", 30}, {"outdoor_gear", 15}, {"digital", 45},
	{"home_appliance", 25}, {"furniture", 15}, {"books", 20}, {"health_supplements", 25},
	{"luggage", 10},
}

// interestBoost is the weight an interest adds to each category it matches;
// against a base total of about 750 it makes a matching category several
// times likelier, the signal lookalike and TGI reports should recover.
const interestBoost = 250

// interests are the values of the interests set. Each is held with a
// probability in per mille: base, adjusted by gender, age band
// (<25, 25–34, 35–49, 50+) and member level, so that interests correlate
// with demographics the way a marketer expects ("baby" peaks among women
// 25–34). cats are the categories the interest boosts.
var interests = [...]struct {
	name         string
	base         int
	female, male int
	age          [4]int
	perLevel     int
	cats         []string
}{
	{name: "baby", base: 60, female: 120, male: -30, age: [4]int{-50, 180, 80, -50}, cats: []string{"milk_powder", "diapers", "baby_food", "toys"}},
	{name: "beauty", base: 150, female: 250, male: -120, age: [4]int{80, 50, 0, -60}, cats: []string{"skincare", "makeup", "perfume", "haircare"}},
	{name: "fashion", base: 150, female: 120, male: -50, age: [4]int{100, 40, -20, -80}, cats: []string{"apparel", "shoes", "perfume"}},
	{name: "sports", base: 120, female: -20, male: 120, age: [4]int{60, 30, 0, -60}, cats: []string{"sportswear", "shoes", "health_supplements"}},
	{name: "outdoor", base: 80, female: -10, male: 60, age: [4]int{0, 30, 30, 0}, cats: []string{"outdoor_gear", "sportswear", "luggage"}},
	{name: "fitness", base: 100, female: 20, male: 30, age: [4]int{50, 40, 0, -50}, cats: []string{"sportswear", "health_supplements", "beverages"}},
	{name: "coffee", base: 140, female: 20, male: 20, age: [4]int{40, 60, 0, -60}, cats: []string{"coffee"}},
	{name: "tea", base: 100, male: 30, age: [4]int{-50, -20, 60, 150}, cats: []string{"tea"}},
	{name: "snacks", base: 200, female: 40, age: [4]int{100, 30, -30, -80}, cats: []string{"snacks", "beverages"}},
	{name: "pets", base: 100, female: 40, age: [4]int{30, 40, 0, -30}, cats: []string{"pet_food"}},
	{name: "travel", base: 120, female: 20, age: [4]int{20, 40, 20, 30}, perLevel: 20, cats: []string{"luggage", "outdoor_gear"}},
	{name: "gaming", base: 100, female: -60, male: 150, age: [4]int{120, 40, -40, -90}, cats: []string{"digital", "snacks"}},
	{name: "digital", base: 150, female: -40, male: 150, age: [4]int{50, 30, 0, -60}, cats: []string{"digital", "home_appliance"}},
	{name: "home", base: 100, female: 30, age: [4]int{-60, 40, 80, 40}, cats: []string{"furniture", "home_appliance"}},
	{name: "cooking", base: 90, female: 50, male: -20, age: [4]int{-50, 10, 60, 80}, cats: []string{"fresh_food", "home_appliance"}},
	{name: "reading", base: 80, female: 20, age: [4]int{0, 0, 20, 40}, cats: []string{"books"}},
	{name: "music", base: 90, age: [4]int{80, 20, -30, -50}, cats: []string{"digital"}},
	{name: "health", base: 80, female: 20, age: [4]int{-50, -20, 60, 180}, cats: []string{"health_supplements", "fresh_food"}},
	{name: "wine", base: 50, female: -20, male: 60, age: [4]int{-40, 0, 50, 60}, perLevel: 15, cats: []string{"wine"}},
	{name: "luxury", base: 40, female: 30, age: [4]int{-20, 20, 30, 10}, perLevel: 50, cats: []string{"perfume", "luggage", "apparel"}},
}

// interestCats[k] is the bitmask of categories interest k boosts.
var interestCats = func() (m [len(interests)]uint32) {
	for k, in := range interests {
		for _, c := range in.cats {
			i := categoryIndex(c)
			if i < 0 {
				panic("BUG: interest " + in.name + " names unknown category " + c)
			}
			m[k] |= 1 << i
		}
	}
	return m
}()

func categoryIndex(name string) int {
	for i, c := range categories {
		if c.name == name {
			return i
		}
	}
	return -1
}

// Distributions in per mille, indexed as the comments say. They are
// integers on purpose: the generator uses no floating point, so its output
// is bit-identical on every platform and Go version.
var (
	// levelByTier[tier]: L0..L4 shares; bigger cities skew to higher levels.
	levelByTier = [3][5]int{
		{300, 270, 210, 140, 80},
		{380, 280, 190, 100, 50},
		{450, 270, 160, 85, 35},
	}
	// lifecycleByLevel[level]: new, active, dormant, churned; loyal members
	// churn less.
	lifecycleByLevel = [5][4]int{
		{180, 320, 250, 250},
		{120, 430, 250, 200},
		{80, 520, 240, 160},
		{50, 620, 210, 120},
		{30, 720, 170, 80},
	}
	// vipByLevel[level]: share of VIPs; VIP is mostly an L3/L4 privilege.
	vipByLevel = [5]int{3, 15, 60, 450, 850}
	// churnMean[lifecycle]: centre of churn_score; churned profiles score high.
	churnMean = [4]int{320, 180, 560, 840}
	// aovCents[level]: average order value; with the purchase count it
	// drives ltv.
	aovCents = [5]int64{6000, 11000, 19000, 32000, 55000}
	// hourWeight: when sessions start, local time; evening peak.
	hourWeight = [24]int{8, 4, 2, 1, 1, 1, 2, 5, 12, 18, 22, 28, 35, 25, 20, 22, 24, 22, 26, 38, 50, 55, 42, 20}
	hourTotal  = sum(hourWeight[:])
)

func sum(w []int) int {
	t := 0
	for _, v := range w {
		t += v
	}
	return t
}

// missingPerMille is how often a field is left out of a base record, so that
// IS NULL and NOT-of-a-value differ.
var missingPerMille = [nFields]int{
	fGender:     30,
	fAge:        50,
	fCity:       20,
	fLevel:      10,
	fLifecycle:  20,
	fVIP:        20,
	fChurn:      40,
	fLTV:        10,
	fRegistered: 10,
}

// Pre-quoted JSON forms of the vocabularies.
var (
	qCities     = quoteAll(cities[:])
	qGenders    = quoteAll(genders[:])
	qLevels     = quoteAll(memberLevels[:])
	qLifecycles = quoteAll(lifecycles[:])
	qChannels   = quoteAll(channels[:])
	qInterests  = quoteAll(interestNames())
	qCategories = quoteAll(categoryNames())
)

func interestNames() []string {
	s := make([]string, len(interests))
	for i, in := range interests {
		s[i] = in.name
	}
	return s
}

func categoryNames() []string {
	s := make([]string, len(categories))
	for i, c := range categories {
		s[i] = c.name
	}
	return s
}

func quoteAll(vals []string) []string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = string(jsonstr.Append(nil, v))
	}
	return q
}

// cityCum[k] is the cumulative Zipf weight of cities 0..k; integer weights
// 10^9/(k+1) keep sampling exact and platform-independent.
var cityCum = func() (c [len(cities)]uint64) {
	var sum uint64
	for k := range cities {
		sum += 1_000_000_000 / uint64(k+1)
		c[k] = sum
	}
	return c
}()

// Values returns the values the generator draws for a tag or set field, or
// the categories for an event field, in the generator's order (cities by
// popularity). It returns nil for other fields. The slice is a copy.
func Values(field string) []string {
	switch field {
	case "gender":
		return append([]string(nil), genders[:]...)
	case "city":
		return append([]string(nil), cities[:]...)
	case "member_level":
		return append([]string(nil), memberLevels[:]...)
	case "lifecycle":
		return append([]string(nil), lifecycles[:]...)
	case "channels":
		return append([]string(nil), channels[:]...)
	case "interests":
		return interestNames()
	case "purchase", "view", "add_to_cart":
		return categoryNames()
	}
	return nil
}
