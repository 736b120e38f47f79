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

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// does with HTML escaping off: control characters escaped, invalid UTF-8
// replaced by U+FFFD, U+2028 and U+2029 escaped for JavaScript's sake.
// (strconv.Quote is not JSON: it writes \x.. and \U........ escapes.)
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		// Converting at most UTFMax bytes keeps the []byte case on the
		// stack and is free for strings.
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
