package schema

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// The hand-written date parsing and day arithmetic of day.go are held to
// the time package: refParseDayOrTime is ParseDayOrTime as it was before
// the fast paths, time.Parse and time.Date all the way.

func refDayOf(t time.Time, loc *time.Location) Day {
	y, m, d := t.In(loc).Date()
	return refCivilDay(y, m, d)
}

func refCivilDay(y int, m time.Month, d int) Day {
	return Day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func refParseDayOrTime(s string, loc *time.Location) (Day, error) {
	if len(s) == len(time.DateOnly) {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a date of the form YYYY-MM-DD", s)
		}
		return checkDayRange(refCivilDay(t.Date()), s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp", s)
	}
	return checkDayRange(refDayOf(t, loc), s)
}

// testLocations are zones with and without daylight saving, and with
// offsets that are not whole hours.
func testLocations(t testing.TB) []*time.Location {
	locs := []*time.Location{time.UTC, time.FixedZone("", -(9*3600 + 30*60)), time.FixedZone("X", 14*3600)}
	for _, name := range []string{"Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns", "Pacific/Apia"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Logf("skipping zone %s: %v", name, err)
			continue
		}
		locs = append(locs, loc)
	}
	return locs
}

func checkParseDayOrTime(t testing.TB, s string, loc *time.Location) {
	t.Helper()
	got, err := ParseDayOrTime(s, loc)
	want, wantErr := refParseDayOrTime(s, loc)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("ParseDayOrTime(%q, %s) = %d, %v; time.Parse says %d, %v", s, loc, got, err, want, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("ParseDayOrTime(%q, %s) error\n %v\nwant\n %v", s, loc, err, wantErr)
	case got != want:
		t.Fatalf("ParseDayOrTime(%q, %s) = %d, want %d", s, loc, got, want)
	}
}

// dayTimeCases are strings around the edges of the fast forms, valid and
// not.
var dayTimeCases = []string{
	"2026-10-24", "1970-01-01", "1969-12-31", "1900-01-01", "1899-12-31",
	"2199-12-31", "2200-01-01", "0000-01-01", "9999-12-31", "0000-02-29",
	"2024-02-29", "2023-02-29", "2000-02-29", "1900-02-29", "2100-02-29",
	"2026-02-30", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00",
	"2026-01-32", "2026-1-01x", "+026-01-01", "-026-01-01", "2026/01/01",
	"2026-01-0a", "2O26-01-01", " 026-01-01", "2026-01-01 ", "",
	"2026-10-24T19:09:29+08:00", "2026-10-24T19:09:29Z", "2026-10-24T19:09:29z",
	"2026-10-24t19:09:29Z", "2026-10-24 19:09:29Z", "2026-10-24T19:09:29",
	"2026-10-24T19:09:29.5Z", "2026-10-24T19:09:29.123456789Z",
	"2026-10-24T19:09:29.1234567891234Z", "2026-10-24T19:09:29.Z",
	"2026-10-24T19:09:29,5Z", "2026-10-24T19:09:29.5+08:00",
	"2026-10-24T23:59:59-23:59", "2026-10-24T00:00:00+23:59",
	"2026-10-24T00:00:00+24:00", "2026-10-24T00:00:00+00:60",
	"2026-10-24T00:00:00-00:00", "2026-10-24T00:00:00+0800",
	"2026-10-24T00:00:00+08", "2026-10-24T00:00:00+8:00", "2026-10-24T00:00:00+08:00:00",
	"2026-10-24T24:00:00Z", "2026-10-24T23:60:00Z", "2026-10-24T23:59:60Z",
	"2026-10-24T23:59:59Z", "2026-12-31T23:59:60Z", "2026-10-24T1:09:29Z",
	"2026-10-24T19:9:29Z", "2026-10-24T19:09:9Z", "2026-02-30T00:00:00Z",
	"2026-13-01T00:00:00Z", "2024-02-29T12:00:00+08:00", "2023-02-29T12:00:00+08:00",
	"1900-01-01T00:00:00+01:00", "1900-01-01T00:00:00-01:00",
	"2199-12-31T23:59:59-05:00", "2199-12-31T23:59:59+05:00",
	"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-23:59",
	"+026-10-24T19:09:29Z", "2026-10-24T19:09:29+08:00x", "2026-10-24T19:09:29ZZ",
	"2026-10-24T19:09:29.+08:00", "2026-10-24T19:09:29.1.2Z", "2026-10-24T",
	"2026-10-24T19:09", "2026-10-24T19:09Z", "2026-03-08T02:30:00-05:00",
	"2026-03-08T06:59:59Z", "2026-03-08T07:00:00Z", "2026-11-01T05:59:59Z",
	"2026-11-01T06:00:00Z", "2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z",
	"2011-12-29T23:59:59-10:00", "2011-12-30T10:00:00Z",
}

func TestParseDayOrTimeMatchesTimeParse(t *testing.T) {
	locs := testLocations(t)
	for _, loc := range locs {
		for _, s := range dayTimeCases {
			checkParseDayOrTime(t, s, loc)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		checkParseDayOrTime(t, randomDayOrTime(r), locs[r.IntN(len(locs))])
	}
}

// randomDayOrTime makes a date or timestamp, most often a valid one of the
// fast forms, sometimes with a field out of range or a character changed.
func randomDayOrTime(r *rand.Rand) string {
	num := func(width, max int) string { return fmt.Sprintf("%0*d", width, r.IntN(max+1)) }
	year := num(4, 9999)
	if r.IntN(2) == 0 {
		year = fmt.Sprint(1890 + r.IntN(320)) // around the accepted range
	}
	s := year + "-" + num(2, 13) + "-" + num(2, 32)
	if r.IntN(4) > 0 {
		s += "T" + num(2, 24) + ":" + num(2, 60) + ":" + num(2, 60)
		if r.IntN(3) == 0 {
			s += "." + num(1+r.IntN(12), 9)
		}
		switch r.IntN(3) {
		case 0:
			s += "Z"
		default:
			s += string("+-"[r.IntN(2)]) + num(2, 24) + ":" + num(2, 60)
		}
	}
	if r.IntN(8) == 0 {
		b := []byte(s)
		b[r.IntN(len(b))] = "0123456789-+:.TZtz ,"[r.IntN(20)]
		s = string(b)
	}
	return s
}

func FuzzParseDayOrTime(f *testing.F) {
	for _, s := range dayTimeCases {
		f.Add(s)
	}
	locs := testLocations(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, loc := range locs {
			checkParseDayOrTime(t, s, loc)
		}
	})
}

func TestCivilDay(t *testing.T) {
	for y := -2000; y <= 10000; y++ {
		for m := time.January; m <= time.December; m++ {
			for d := 1; d <= daysIn(m, y); d++ {
				if got, want := civilDay(y, m, d), refCivilDay(y, m, d); got != want {
					t.Fatalf("civilDay(%d, %d, %d) = %d, want %d", y, m, d, got, want)
				}
			}
			if got, want := daysIn(m, y), time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day(); got != want {
				t.Fatalf("daysIn(%d, %d) = %d, want %d", m, y, got, want)
			}
		}
	}
}

func TestDayOfMatchesDate(t *testing.T) {
	locs := testLocations(t)
	r := rand.New(rand.NewPCG(3, 4))
	lo := time.Date(-1000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range 200_000 {
		var sec int64
		switch i % 3 {
		case 0: // anywhere
			sec = lo + r.Int64N(hi-lo)
		case 1: // near midnight UTC, where offsets move the day
			sec = (r.Int64N(200_000)-100_000)*86400 + r.Int64N(2*86400) - 86400
		default: // the years data comes from, around DST changes
			sec = time.Date(1995+r.IntN(40), 1, 1, 0, 0, 0, 0, time.UTC).Unix() + r.Int64N(366*86400)
		}
		tm := time.Unix(sec, r.Int64N(1e9))
		for _, loc := range locs {
			if got, want := DayOf(tm, loc), refDayOf(tm, loc); got != want {
				t.Fatalf("DayOf(%s, %s) = %d, want %d", tm, loc, got, want)
			}
		}
	}
}

func BenchmarkParseDayOrTime(b *testing.B) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Skip(err)
	}
	for _, s := range []string{"2026-08-22", "2026-10-24T19:09:29+08:00", "2026-10-24T11:09:29Z"} {
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseDayOrTime(s, loc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
