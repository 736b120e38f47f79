package record

import (
	"fmt"
	"strings"
)

// ParseDecimal reads a plain decimal literal ("1234.5", "-3", "0.07") into
// an integer scaled by 10^scale. It works on the text, not through float64,
// so 1234.10 is stored as exactly 123410. More decimals than the scale is
// an error rather than a silent rounding.
func ParseDecimal(s string, scale int) (int64, error) {
	// The error is built only when needed: decimals are on the bulk load
	// path, and formatting it up front cost more than the parse.
	bad := func() error {
		return fmt.Errorf("a decimal takes a number with at most %d decimals, found %s", scale, describe([]byte(s)))
	}
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(digits, ".")
	if intPart == "" || (hasDot && frac == "") || len(intPart)+scale > 18 {
		return 0, bad()
	}
	if len(frac) > scale {
		return 0, bad()
	}
	var n int64
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return 0, bad()
			}
			n = n*10 + int64(c-'0')
		}
	}
	for range scale - len(frac) {
		n *= 10
	}
	if neg {
		n = -n
	}
	return n, nil
}

// FormatDecimal renders a scaled integer with its decimals.
func FormatDecimal(n int64, scale int) string {
	if scale == 0 {
		return fmt.Sprint(n)
	}
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", uint64(-n)
	}
	p := uint64(1)
	for range scale {
		p *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, u/p, scale, u%p)
}
