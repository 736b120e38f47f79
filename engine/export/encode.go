package export

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// appendDecimal appends n scaled by 10^scale exactly as record.FormatDecimal
// renders it, without its fmt calls (a measurable share of an export).
func appendDecimal(dst []byte, n int64, scale int) []byte {
	if scale == 0 {
		return strconv.AppendInt(dst, n, 10)
	}
	u := uint64(n)
	if n < 0 {
		dst = append(dst, '-')
		u = -u
	}
	p := uint64(1)
	for range scale {
		p *= 10
	}
	dst = strconv.AppendUint(dst, u/p, 10)
	dst = append(dst, '.')
	frac := u % p
	for q := p / 10; q > 1 && frac < q; q /= 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendUint(dst, frac, 10)
}

// appendCSVCell appends one cell as encoding/csv.Writer writes it (Comma
// ',', UseCRLF false), so any RFC 4180 reader reads the text back.
func appendCSVCell(dst, cell []byte) []byte {
	if !csvNeedsQuotes(cell) {
		return append(dst, cell...)
	}
	dst = append(dst, '"')
	for _, b := range cell {
		if b == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, b)
	}
	return append(dst, '"')
}

// csvNeedsQuotes mirrors encoding/csv's rule, including its quoting of
// `\.` (a PostgreSQL end-of-data marker) and of a leading space.
func csvNeedsQuotes(cell []byte) bool {
	if len(cell) == 0 {
		return false
	}
	if string(cell) == `\.` {
		return true
	}
	for _, b := range cell {
		if b == '\n' || b == '\r' || b == '"' || b == ',' {
			return true
		}
	}
	r, _ := utf8.DecodeRune(cell)
	return unicode.IsSpace(r)
}
