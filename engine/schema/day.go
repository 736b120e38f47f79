package schema

import (
	"fmt"
	"time"
)

// Day is a calendar day as the number of days since 1970-01-01. Days are
// computed in the dataset's time zone, so an event at 23:30 in Shanghai
// belongs to that Shanghai day whatever the server's zone is.
type Day = int32

// DayOf returns the day number of t in loc.
func DayOf(t time.Time, loc *time.Location) Day {
	y, m, d := t.In(loc).Date()
	return civilDay(y, m, d)
}

func civilDay(y int, m time.Month, d int) Day {
	return Day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// DayTime returns midnight UTC of day d, for formatting.
func DayTime(d Day) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// FormatDay renders a day number as YYYY-MM-DD.
func FormatDay(d Day) string { return DayTime(d).Format(time.DateOnly) }

// ParseDay reads a plain YYYY-MM-DD date. It is a calendar date, so no time
// zone applies.
func ParseDay(s string) (Day, error) {
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
