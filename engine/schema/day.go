package schema

import (
	"fmt"
	"time"
)

// Day is a calendar day as the number of days since 1970-01-01. Days are
// computed in the dataset's time zone, so an event at 23:30 in Shanghai
// belongs to that Shanghai day whatever the server's zone is.
type Day = int32

const secondsPerDay = 86400

// DayOf returns the day number of t in loc.
//
// It is the date of t's wall clock in loc, counted from 1970-01-01: the
// Unix time shifted by loc's offset at t, divided down to days. That is
// what t.In(loc).Date() computes, without the detour through year, month
// and day, which bulk loads pay for on every event.
func DayOf(t time.Time, loc *time.Location) Day {
	_, offset := t.In(loc).Zone()
	return Day(floorDiv(t.Unix()+int64(offset), secondsPerDay))
}

// floorDiv divides rounding down, so that instants before 1970 fall on the
// day they belong to rather than the one after.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// civilDay returns the day number of a valid proleptic Gregorian date
// (m in 1..12, d within the month). It is Howard Hinnant's
// days_from_civil: plain arithmetic, where time.Date would normalise and
// look up a zone first. It counts in 400-year eras of years that start on
// March 1, so that a leap day ends its year; unsigned within the era,
// where division by a constant is cheaper.
func civilDay(y int, m time.Month, d int) Day {
	yy := int64(y)
	if m <= time.February {
		yy--
	}
	var era int64
	if yy >= 0 {
		era = int64(uint64(yy) / 400)
	} else {
		era = floorDiv(yy, 400)
	}
	yoe := uint64(yy - era*400) // [0, 399]
	mp := uint64(m) - 3         // months from March: [0, 11]
	if m <= time.February {
		mp = uint64(m) + 9
	}
	doy := (153*mp+2)/5 + uint64(d) - 1          // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy       // [0, 146096]
	return Day(era*146097 + int64(doe) - 719468) // 719468: 0000-03-01 to 1970-01-01
}

// DayTime returns midnight UTC of day d, for formatting.
func DayTime(d Day) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// FormatDay renders a day number as YYYY-MM-DD.
func FormatDay(d Day) string { return DayTime(d).Format(time.DateOnly) }

// ParseDay reads a plain YYYY-MM-DD date. It is a calendar date, so no time
// zone applies.
func ParseDay(s string) (Day, error) {
	if d, ok := parseDayFast(s); ok {
		return checkDayRange(d, s)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a date of the form YYYY-MM-DD", s)
	}
	return checkDayRange(civilDay(t.Date()), s)
}

// ParseDayOrTime reads a YYYY-MM-DD date or an RFC 3339 timestamp; a
// timestamp is placed on its day in loc.
func ParseDayOrTime(s string, loc *time.Location) (Day, error) {
	if len(s) == len(time.DateOnly) {
		return ParseDay(s)
	}
	if sec, ok := parseRFC3339Fast(s); ok {
		return checkDayRange(DayOf(time.Unix(sec, 0), loc), s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp", s)
	}
	return checkDayRange(DayOf(t, loc), s)
}

func checkDayRange(d Day, s string) (Day, error) {
	if d < MinDay || d > MaxDay {
		return 0, fmt.Errorf("date %s is outside %s..%s", s, FormatDay(MinDay), FormatDay(MaxDay))
	}
	return d, nil
}

// The fast parsers below read the strict forms that every feed sends, by
// hand: time.Parse costs most of the decoding of an event. They accept a
// subset of what time.Parse accepts, and for it compute the same day or
// instant; anything else — including every string time.Parse refuses —
// they leave to time.Parse, so that the accepted set and the errors stay
// those of time.Parse. day_test.go and FuzzParseDayOrTime hold them to it.

// parseDayFast reads exactly "YYYY-MM-DD" with a valid month and day.
func parseDayFast(s string) (Day, bool) {
	if len(s) != len("2006-01-02") || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y1, ok1 := twoDigits(s[0:2])
	y2, ok2 := twoDigits(s[2:4])
	m, ok3 := twoDigits(s[5:7])
	d, ok4 := twoDigits(s[8:10])
	y := y1*100 + y2
	if !(ok1 && ok2 && ok3 && ok4) || m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
		return 0, false
	}
	return civilDay(y, time.Month(m), d), true
}

// parseRFC3339Fast reads "YYYY-MM-DDThh:mm:ss", optional fractional
// seconds ".d…", and "Z" or "±hh:mm", with every part in range: the form
// time.Parse itself reads on its fast path for RFC 3339. It returns the
// Unix time in whole seconds; the fraction cannot move an instant to
// another day, as days start on whole seconds in every zone.
func parseRFC3339Fast(s string) (int64, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	day, ok := parseDayFast(s[:10])
	if !ok {
		return 0, false
	}
	hh, ok1 := twoDigits(s[11:13])
	mm, ok2 := twoDigits(s[14:16])
	ss, ok3 := twoDigits(s[17:19])
	if !(ok1 && ok2 && ok3) || hh > 23 || mm > 59 || ss > 59 {
		return 0, false // time.Parse refuses a leap second (60) too
	}
	rest := s[19:]
	if len(rest) >= 2 && rest[0] == '.' && isDigit(rest[1]) {
		n := 2
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		rest = rest[n:]
	}
	offset, ok := zoneOffset(rest)
	if !ok {
		return 0, false
	}
	return int64(day)*secondsPerDay + int64(hh*3600+mm*60+ss) - int64(offset), true
}

// zoneOffset reads "Z" or "±hh:mm" (hh up to 23, mm up to 59) as seconds
// east of UTC.
func zoneOffset(s string) (int, bool) {
	if s == "Z" {
		return 0, true
	}
	if len(s) != len("+07:00") || s[0] != '+' && s[0] != '-' || s[3] != ':' {
		return 0, false
	}
	hh, ok1 := twoDigits(s[1:3])
	mm, ok2 := twoDigits(s[4:6])
	if !(ok1 && ok2) || hh > 23 || mm > 59 {
		return 0, false
	}
	offset := hh*3600 + mm*60
	if s[0] == '-' {
		offset = -offset
	}
	return offset, true
}

// twoDigits reads s[:2], two ASCII digits, as a number. (A byte below '0'
// wraps round to above 9.)
func twoDigits(s string) (int, bool) {
	hi, lo := s[0]-'0', s[1]-'0'
	return int(hi)*10 + int(lo), hi <= 9 && lo <= 9
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// daysIn returns the number of days of month m in year y.
func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
