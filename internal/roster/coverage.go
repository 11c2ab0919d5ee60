// Package roster computes how much of a week an on-call roster covers, in the
// roster's own time zone, so that daylight-saving weeks are measured in real
// elapsed time (a spring-forward week has 167 hours, a fall-back week 169).
package roster

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Shift is one recurring on-call period as written in a roster: it starts on each of
// Days at Start (minutes after local midnight) and lasts until End; when End is not
// after Start the shift ends on the following day.
type Shift struct {
	Days  []time.Weekday
	Start int // minutes after midnight, 0..1439
	End   int // minutes after midnight, 1..1440
}

// Interval is a half-open period [Start, End) of absolute time.
type Interval struct {
	Start, End time.Time
}

// Duration is the interval's real elapsed length.
func (i Interval) Duration() time.Duration { return i.End.Sub(i.Start) }

// Coverage is the outcome for one week.
type Coverage struct {
	WeekStart time.Time     // Monday 00:00 local
	WeekEnd   time.Time     // the next Monday 00:00 local
	Covered   time.Duration // time with at least one shift running
	Gaps      []Interval    // uncovered periods in order, in the roster's location
}

// Complete reports whether nobody-on-call never happens in the week.
func (c Coverage) Complete() bool { return len(c.Gaps) == 0 }

// Week is the week's real length.
func (c Coverage) Week() time.Duration { return c.WeekEnd.Sub(c.WeekStart) }

// ParseTimeOfDay reads "HH:MM" (00:00–24:00) as minutes after midnight. field names
// the input in the error, e.g. "spec.roster.shifts[2].end".
func ParseTimeOfDay(field, s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%s: %q is not a time of day (HH:MM, 00:00–24:00)", field, s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%s: %q is not a time of day (HH:MM, 00:00–24:00)", field, s)
	}
	return hh*60 + mm, nil
}

// ParseWeekday reads an English weekday name as Go prints it ("Monday").
func ParseWeekday(field, s string) (time.Weekday, error) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%s: %q is not a weekday (Monday … Sunday)", field, s)
}

// WeekStart is Monday 00:00 in loc of the week that contains now.
func WeekStart(now time.Time, loc *time.Location) time.Time {
	local := now.In(loc)
	daysSinceMonday := (int(local.Weekday()) + 6) % 7
	return time.Date(local.Year(), local.Month(), local.Day()-daysSinceMonday, 0, 0, 0, 0, loc)
}

// Compute measures the week containing now in loc. Shifts are laid out on local
// calendar days, so a shift "09:00–17:00" is eight real hours on any day, while
// "00:00–24:00" on a daylight-saving day is 23 or 25. A shift starting on the
// Sunday before the week and crossing midnight counts towards the Monday.
func Compute(shifts []Shift, loc *time.Location, now time.Time) Coverage {
	weekStart := WeekStart(now, loc)
	weekEnd := time.Date(weekStart.Year(), weekStart.Month(), weekStart.Day()+7, 0, 0, 0, 0, loc)

	var runs []Interval
	// Day -1 is the previous Sunday, for shifts that cross into Monday.
	for day := -1; day < 7; day++ {
		date := time.Date(weekStart.Year(), weekStart.Month(), weekStart.Day()+day, 0, 0, 0, 0, loc)
		for _, s := range shifts {
			if !startsOn(s, date.Weekday()) {
				continue
			}
			start := wallClock(date, s.Start, loc)
			endDate := date
			if s.End <= s.Start {
				endDate = date.AddDate(0, 0, 1)
			}
			end := wallClock(endDate, s.End, loc)
			iv, ok := clip(Interval{start, end}, weekStart, weekEnd)
			if ok {
				runs = append(runs, iv)
			}
		}
	}
	merged := merge(runs)

	cov := Coverage{WeekStart: weekStart, WeekEnd: weekEnd}
	cursor := weekStart
	for _, iv := range merged {
		cov.Covered += iv.Duration()
		if iv.Start.After(cursor) {
			cov.Gaps = append(cov.Gaps, Interval{cursor.In(loc), iv.Start.In(loc)})
		}
		cursor = iv.End
	}
	if weekEnd.After(cursor) {
		cov.Gaps = append(cov.Gaps, Interval{cursor.In(loc), weekEnd.In(loc)})
	}
	return cov
}

func startsOn(s Shift, d time.Weekday) bool {
	for _, sd := range s.Days {
		if sd == d {
			return true
		}
	}
	return false
}

// wallClock is the instant the local clock shows minutes after midnight on date. A
// wall time skipped by a spring-forward change resolves to the instant after the
// change, as time.Date does.
func wallClock(date time.Time, minutes int, loc *time.Location) time.Time {
	return time.Date(date.Year(), date.Month(), date.Day(), minutes/60, minutes%60, 0, 0, loc)
}

func clip(iv Interval, lo, hi time.Time) (Interval, bool) {
	if iv.Start.Before(lo) {
		iv.Start = lo
	}
	if iv.End.After(hi) {
		iv.End = hi
	}
	return iv, iv.End.After(iv.Start)
}

// merge returns the union of the intervals as disjoint, ordered intervals.
func merge(in []Interval) []Interval {
	if len(in) == 0 {
		return nil
	}
	sort.Slice(in, func(i, j int) bool { return in[i].Start.Before(in[j].Start) })
	out := []Interval{in[0]}
	for _, iv := range in[1:] {
		last := &out[len(out)-1]
		if !iv.Start.After(last.End) {
			if iv.End.After(last.End) {
				last.End = iv.End
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// NextWeekStart is when the coverage of the week containing now stops being current.
func NextWeekStart(now time.Time, loc *time.Location) time.Time {
	ws := WeekStart(now, loc)
	return time.Date(ws.Year(), ws.Month(), ws.Day()+7, 0, 0, 0, 0, loc)
}

// FormatHours prints a duration as hours with at most two decimals and no
// trailing zeros: "168", "151.5", "0.25".
func FormatHours(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Round(time.Minute))/float64(time.Hour), 'f', -1, 64)
}
