package gen

import "math/bits"

// rng is SplitMix64. It is hand-rolled rather than taken from math/rand so
// that the byte stream a seed produces is fixed by this file, not by the
// standard library's choice of algorithms, and so that seeding one per
// record costs nothing.
type rng struct{ s uint64 }

const golden = 0x9e3779b97f4a7c15

// mix64 is the SplitMix64 finaliser, a bijection on uint64.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Streams keep base records and updates of the same index independent.
const (
	streamProfile uint64 = 0x70726f66696c6573 // "profiles"
	streamUpdate  uint64 = 0x7570646174657321 // "updates!"
)

// seedRNG returns the generator of item i of a stream. i is mixed before it
// becomes the state: SplitMix64 states i and i+1 would otherwise yield the
// same sequence shifted by one draw.
func seedRNG(seed int64, stream uint64, i int) rng {
	return rng{s: mix64(uint64(seed)^stream) ^ mix64(uint64(i)+golden)}
}

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// intn returns a value in [0, n) by Lemire's multiply-shift; the bias for
// the small n used here is below 2^-50.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// perMille reports true with probability p/1000.
func (r *rng) perMille(p int) bool { return r.intn(1000) < p }

// spread returns a sum of three uniform draws in [-w, w]: a cheap, integer
// bell curve with standard deviation about w.
func (r *rng) spread(w int) int {
	return r.intn(2*w+1) + r.intn(2*w+1) + r.intn(2*w+1) - 3*w
}

// geometric counts successes before the first failure, each with
// probability cont/1000, up to max.
func (r *rng) geometric(cont, max int) int {
	n := 0
	for n < max && r.intn(1000) < cont {
		n++
	}
	return n
}

// pick draws an index with probability proportional to weights[i]; total is
// their sum.
func (r *rng) pick(weights []int, total int) int {
	x := r.intn(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// recent returns an offset in [0, span), more likely small: the product of
// two uniforms has density -ln(x), which models activity that thins out
// with age.
func (r *rng) recent(span int) int {
	if span <= 1 {
		return 0
	}
	return r.intn(span) * r.intn(span) / span
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

// appendPadded appends v in decimal with at least width digits.
func appendPadded(dst []byte, v, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for v >= 10 || width > 1 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	buf[i] = byte('0' + v)
	return append(dst, buf[i:]...)
}

// appendCents appends a non-negative amount in cents with exactly two
// decimals, as the decimal field of scale 2 expects.
func appendCents(dst []byte, cents int64) []byte {
	dst = appendPadded(dst, int(cents/100), 1)
	dst = append(dst, '.')
	return appendPadded(dst, int(cents%100), 2)
}

// civil converts a day number (days since 1970-01-01) to a calendar date,
// by Howard Hinnant's days_from_civil inverse; integer-only and valid for
// every day a schema accepts.
func civil(day int32) (y, m, d int) {
	z := int(day) + 719468
	era := z / 146097 // z > 0 for all days after 0000-03-01
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendDate appends day as YYYY-MM-DD.
func appendDate(dst []byte, day int32) []byte {
	y, m, d := civil(day)
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, m, 2)
	dst = append(dst, '-')
	return appendPadded(dst, d, 2)
}

// appendClock appends sec (seconds into a day) as HH:MM:SS.
func appendClock(dst []byte, sec int32) []byte {
	dst = appendPadded(dst, int(sec/3600), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, int(sec/60%60), 2)
	dst = append(dst, ':')
	return appendPadded(dst, int(sec%60), 2)
}
