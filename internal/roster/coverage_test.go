package roster

import (
	"testing"
	"time"
)

var allDays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
var weekend = []time.Weekday{time.Saturday, time.Sunday}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func hm(h, m int) int { return h*60 + m }

func TestCompute(t *testing.T) {
	type gap struct{ start, end string } // local "Mon 15:04"
	tests := []struct {
		name        string
		zone        string
		now         string // RFC 3339
		shifts      []Shift
		wantWeek    time.Duration
		wantCovered time.Duration
		wantGaps    []gap
	}{
		{
			name: "full 24/7 with one all-day shift", zone: "Africa/Nairobi", now: "2026-11-18T12:00:00+03:00",
			shifts:   []Shift{{Days: allDays, Start: 0, End: hm(24, 0)}},
			wantWeek: 168 * time.Hour, wantCovered: 168 * time.Hour,
		},
		{
			name: "full 24/7 with day and night shifts crossing midnight", zone: "UTC", now: "2026-11-18T12:00:00Z",
			shifts: []Shift{
				{Days: allDays, Start: hm(8, 0), End: hm(20, 0)},
				{Days: allDays, Start: hm(20, 0), End: hm(8, 0)},
			},
			wantWeek: 168 * time.Hour, wantCovered: 168 * time.Hour,
		},
		{
			name: "office hours only leave nights and the weekend uncovered", zone: "UTC", now: "2026-11-18T12:00:00Z",
			shifts:   []Shift{{Days: weekdays, Start: hm(9, 0), End: hm(17, 0)}},
			wantWeek: 168 * time.Hour, wantCovered: 40 * time.Hour,
			wantGaps: []gap{
				{"Mon 00:00", "Mon 09:00"}, {"Mon 17:00", "Tue 09:00"}, {"Tue 17:00", "Wed 09:00"},
				{"Wed 17:00", "Thu 09:00"}, {"Thu 17:00", "Fri 09:00"}, {"Fri 17:00", "Mon 00:00"},
			},
		},
		{
			name: "overlapping shifts are counted once", zone: "UTC", now: "2026-11-18T12:00:00Z",
			shifts: []Shift{
				{Days: allDays, Start: hm(0, 0), End: hm(14, 0)},
				{Days: allDays, Start: hm(10, 0), End: hm(24, 0)},
				{Days: weekdays, Start: hm(9, 0), End: hm(17, 0)},
			},
			wantWeek: 168 * time.Hour, wantCovered: 168 * time.Hour,
		},
		{
			name: "sunday night shift crossing into monday covers monday morning", zone: "UTC", now: "2026-11-18T12:00:00Z",
			shifts: []Shift{
				{Days: []time.Weekday{time.Sunday}, Start: hm(22, 0), End: hm(6, 0)},
				{Days: allDays, Start: hm(6, 0), End: hm(22, 0)},
			},
			wantWeek: 168 * time.Hour, wantCovered: 168*time.Hour - 6*8*time.Hour,
			wantGaps: []gap{
				{"Mon 22:00", "Tue 06:00"}, {"Tue 22:00", "Wed 06:00"}, {"Wed 22:00", "Thu 06:00"},
				{"Thu 22:00", "Fri 06:00"}, {"Fri 22:00", "Sat 06:00"}, {"Sat 22:00", "Sun 06:00"},
			},
		},
		{
			name: "a gap of fifteen minutes at a handover is found", zone: "Asia/Ho_Chi_Minh", now: "2026-11-18T12:00:00+07:00",
			shifts: []Shift{
				{Days: allDays, Start: hm(7, 0), End: hm(19, 0)},
				{Days: allDays, Start: hm(19, 15), End: hm(7, 0)},
			},
			wantWeek: 168 * time.Hour, wantCovered: 168*time.Hour - 7*15*time.Minute,
			wantGaps: []gap{
				{"Mon 19:00", "Mon 19:15"}, {"Tue 19:00", "Tue 19:15"}, {"Wed 19:00", "Wed 19:15"},
				{"Thu 19:00", "Thu 19:15"}, {"Fri 19:00", "Fri 19:15"}, {"Sat 19:00", "Sat 19:15"},
				{"Sun 19:00", "Sun 19:15"},
			},
		},
		{
			name: "weekend only", zone: "UTC", now: "2026-11-18T12:00:00Z",
			shifts:   []Shift{{Days: weekend, Start: 0, End: hm(24, 0)}},
			wantWeek: 168 * time.Hour, wantCovered: 48 * time.Hour,
			wantGaps: []gap{{"Mon 00:00", "Sat 00:00"}},
		},
		// Europe/Paris springs forward on Sunday 29 March 2026 (02:00 → 03:00).
		{
			name: "spring-forward week in Paris is 167 hours and 24/7 still complete", zone: "Europe/Paris", now: "2026-03-25T12:00:00+01:00",
			shifts: []Shift{
				{Days: allDays, Start: hm(8, 0), End: hm(20, 0)},
				{Days: allDays, Start: hm(20, 0), End: hm(8, 0)},
			},
			wantWeek: 167 * time.Hour, wantCovered: 167 * time.Hour,
		},
		{
			name: "spring-forward night shift in Paris is one hour shorter", zone: "Europe/Paris", now: "2026-03-25T12:00:00+01:00",
			shifts:   []Shift{{Days: []time.Weekday{time.Saturday}, Start: hm(22, 0), End: hm(6, 0)}},
			wantWeek: 167 * time.Hour, wantCovered: 7 * time.Hour,
			wantGaps: []gap{{"Mon 00:00", "Sat 22:00"}, {"Sun 06:00", "Mon 00:00"}},
		},
		// Europe/Paris falls back on Sunday 25 October 2026 (03:00 → 02:00).
		{
			name: "fall-back week in Paris is 169 hours", zone: "Europe/Paris", now: "2026-10-21T12:00:00+02:00",
			shifts:   []Shift{{Days: allDays, Start: 0, End: hm(24, 0)}},
			wantWeek: 169 * time.Hour, wantCovered: 169 * time.Hour,
		},
		// America/Sao_Paulo has no DST since 2019; America/New_York springs forward on 8 March 2026.
		{
			name: "spring-forward week in New York with office hours", zone: "America/New_York", now: "2026-03-10T12:00:00-04:00",
			shifts:   []Shift{{Days: weekdays, Start: hm(9, 0), End: hm(17, 0)}},
			wantWeek: 168 * time.Hour, wantCovered: 40 * time.Hour,
			wantGaps: []gap{
				{"Mon 00:00", "Mon 09:00"}, {"Mon 17:00", "Tue 09:00"}, {"Tue 17:00", "Wed 09:00"},
				{"Wed 17:00", "Thu 09:00"}, {"Thu 17:00", "Fri 09:00"}, {"Fri 17:00", "Mon 00:00"},
			},
		},
		{
			name: "DST change on a Sunday inside a weekend shift in New York", zone: "America/New_York", now: "2026-03-05T12:00:00-05:00",
			shifts:   []Shift{{Days: []time.Weekday{time.Saturday}, Start: hm(18, 0), End: hm(18, 0) - 1}},
			wantWeek: 167 * time.Hour, wantCovered: 23*time.Hour - time.Minute,
			wantGaps: []gap{{"Mon 00:00", "Sat 18:00"}, {"Sun 17:59", "Mon 00:00"}},
		},
		{
			name: "fall-back week in New York is 169 hours", zone: "America/New_York", now: "2026-10-28T12:00:00-04:00",
			shifts:   []Shift{{Days: allDays, Start: hm(20, 0), End: hm(20, 0) - 30}},
			wantWeek: 169 * time.Hour, wantCovered: 169*time.Hour - 7*30*time.Minute,
			wantGaps: []gap{
				{"Mon 19:30", "Mon 20:00"}, {"Tue 19:30", "Tue 20:00"}, {"Wed 19:30", "Wed 20:00"},
				{"Thu 19:30", "Thu 20:00"}, {"Fri 19:30", "Fri 20:00"}, {"Sat 19:30", "Sat 20:00"},
				{"Sun 19:30", "Sun 20:00"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := mustLoad(t, tt.zone)
			now, err := time.Parse(time.RFC3339, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			got := Compute(tt.shifts, loc, now)
			if got.Week() != tt.wantWeek {
				t.Errorf("week = %v, want %v", got.Week(), tt.wantWeek)
			}
			if got.Covered != tt.wantCovered {
				t.Errorf("covered = %v, want %v", got.Covered, tt.wantCovered)
			}
			if len(got.Gaps) != len(tt.wantGaps) {
				t.Fatalf("gaps = %v, want %v", fmtGaps(got.Gaps), tt.wantGaps)
			}
			for i, g := range got.Gaps {
				s, e := g.Start.In(loc).Format("Mon 15:04"), g.End.In(loc).Format("Mon 15:04")
				if s != tt.wantGaps[i].start || e != tt.wantGaps[i].end {
					t.Errorf("gap %d = %s–%s, want %s–%s", i, s, e, tt.wantGaps[i].start, tt.wantGaps[i].end)
				}
			}
			var gapSum time.Duration
			for _, g := range got.Gaps {
				gapSum += g.Duration()
			}
			if gapSum+got.Covered != got.Week() {
				t.Errorf("covered %v + gaps %v != week %v", got.Covered, gapSum, got.Week())
			}
			if got.Complete() != (len(tt.wantGaps) == 0) {
				t.Errorf("complete = %v", got.Complete())
			}
		})
	}
}

func fmtGaps(gs []Interval) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Start.Format("Mon 15:04")+"–"+g.End.Format("Mon 15:04"))
	}
	return out
}

func TestWeekStartIsMondayMidnightLocal(t *testing.T) {
	loc := mustLoad(t, "Pacific/Auckland")
	// Sunday 22 November 2026 23:30 in Auckland is still Sunday there though Saturday in UTC.
	now := time.Date(2026, 11, 22, 23, 30, 0, 0, loc)
	got := WeekStart(now, loc)
	if got.Format("2006-01-02 15:04 Mon") != "2026-11-16 00:00 Mon" {
		t.Fatalf("WeekStart = %v", got)
	}
	if n := NextWeekStart(now, loc); n.Format("2006-01-02 15:04 Mon") != "2026-11-23 00:00 Mon" {
		t.Fatalf("NextWeekStart = %v", n)
	}
}

func TestParseTimeOfDay(t *testing.T) {
	for in, want := range map[string]int{"00:00": 0, "08:30": 510, "23:59": 1439, "24:00": 1440} {
		got, err := ParseTimeOfDay("end", in)
		if err != nil || got != want {
			t.Errorf("ParseTimeOfDay(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"25:00", "24:01", "8:30", "08:60", "ab:cd", "", "08-30", "-1:00"} {
		if _, err := ParseTimeOfDay("spec.roster.shifts[2].end", in); err == nil {
			t.Errorf("ParseTimeOfDay(%q) accepted", in)
		} else if want := `spec.roster.shifts[2].end: "` + in + `" is not a time of day (HH:MM, 00:00–24:00)`; err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
	}
}

func TestFormatHours(t *testing.T) {
	for d, want := range map[time.Duration]string{168 * time.Hour: "168", 151*time.Hour + 30*time.Minute: "151.5", 15 * time.Minute: "0.25", 0: "0"} {
		if got := FormatHours(d); got != want {
			t.Errorf("FormatHours(%v) = %q, want %q", d, got, want)
		}
	}
}
