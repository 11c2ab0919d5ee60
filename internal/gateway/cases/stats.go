package cases

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"math"
	"slices"
	"strconv"
	"time"
)

// Directions of a request, seen from the State that reports.
const (
	Sent         = "Sent"
	ReceivedFrom = "Received"
)

// Record is one request as the statistics count it, taken from the custody
// records (the request, its receipt and its transitions in the vault).
type Record struct {
	Direction string // Sent or Received
	Partner   string // the other State (or provider)
	Type      string
	Received  time.Time // when the receiving side recorded it
	State     State
	Decided   time.Time // zero while undecided
	Overdue   bool
}

// Report is what a State hands to the Conference of the States Parties
// (articles 55 and 57): requests sent and received by type, partner and
// outcome, and response times by type, over a period.
type Report struct {
	// Country is the reporting State.
	Country string `json:"country"`
	// From and To bound the period (To excluded): requests received in it count.
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Generated time.Time `json:"generated"`
	// Source says where the figures come from.
	Source        string         `json:"source"`
	Totals        Totals         `json:"totals"`
	Counts        []Count        `json:"counts"`
	ResponseTimes []ResponseTime `json:"responseTimes"`
}

// Totals are the period's requests by direction.
type Totals struct {
	Sent     int `json:"sent"`
	Received int `json:"received"`
	Open     int `json:"open"`
	Overdue  int `json:"overdue"`
}

// Count is the number of requests of one direction, partner, type and outcome
// (the current state; Received, Acknowledged, InProgress and the waits are
// undecided).
type Count struct {
	Direction string `json:"direction"`
	Partner   string `json:"partner"`
	Type      string `json:"type"`
	Outcome   State  `json:"outcome"`
	Requests  int    `json:"requests"`
}

// ResponseTime gives the time from receipt to decision of the decided requests
// of one direction and type, in hours: nearest-rank percentiles.
type ResponseTime struct {
	Direction string  `json:"direction"`
	Type      string  `json:"type"`
	Decided   int     `json:"decided"`
	P50Hours  float64 `json:"p50Hours"`
	P90Hours  float64 `json:"p90Hours"`
	P99Hours  float64 `json:"p99Hours"`
	MaxHours  float64 `json:"maxHours"`
}

// Compute makes the report of the requests received in [from, to).
func Compute(country string, records []Record, from, to, generated time.Time) Report {
	r := Report{Country: country, From: from.UTC(), To: to.UTC(), Generated: generated.UTC(),
		Source: "the custody records of the State's evidence vault: each request, its receipt and every transition", Counts: []Count{}, ResponseTimes: []ResponseTime{}}
	type countKey struct {
		direction, partner, typ string
		outcome                 State
	}
	type timeKey struct{ direction, typ string }
	counts := map[countKey]int{}
	durations := map[timeKey][]time.Duration{}
	for _, rec := range records {
		if rec.Received.Before(from) || !rec.Received.Before(to) {
			continue
		}
		if rec.Direction == Sent {
			r.Totals.Sent++
		} else {
			r.Totals.Received++
		}
		if !rec.State.Terminal() {
			r.Totals.Open++
		}
		if rec.Overdue {
			r.Totals.Overdue++
		}
		counts[countKey{rec.Direction, rec.Partner, rec.Type, rec.State}]++
		if !rec.Decided.IsZero() {
			k := timeKey{rec.Direction, rec.Type}
			durations[k] = append(durations[k], rec.Decided.Sub(rec.Received))
		}
	}
	for k, n := range counts {
		r.Counts = append(r.Counts, Count{Direction: k.direction, Partner: k.partner, Type: k.typ, Outcome: k.outcome, Requests: n})
	}
	slices.SortFunc(r.Counts, func(a, b Count) int {
		return cmp.Or(cmp.Compare(a.Direction, b.Direction), cmp.Compare(a.Partner, b.Partner), cmp.Compare(a.Type, b.Type),
			cmp.Compare(slices.Index(States, a.Outcome), slices.Index(States, b.Outcome)))
	})
	for k, ds := range durations {
		slices.Sort(ds)
		r.ResponseTimes = append(r.ResponseTimes, ResponseTime{Direction: k.direction, Type: k.typ, Decided: len(ds),
			P50Hours: hours(percentile(ds, 50)), P90Hours: hours(percentile(ds, 90)), P99Hours: hours(percentile(ds, 99)), MaxHours: hours(ds[len(ds)-1])})
	}
	slices.SortFunc(r.ResponseTimes, func(a, b ResponseTime) int {
		return cmp.Or(cmp.Compare(a.Direction, b.Direction), cmp.Compare(a.Type, b.Type))
	})
	return r
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := int(math.Ceil(float64(p) / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func hours(d time.Duration) float64 { return math.Round(d.Hours()*100) / 100 }

// CSV renders the report as one table: a row per count ("count") and per
// response time ("responseTime"), with the period in every row so that rows
// of several reports can be put together.
func (r Report) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"country", "from", "to", "table", "direction", "partner", "type", "outcome", "requests", "decided", "p50Hours", "p90Hours", "p99Hours", "maxHours"})
	period := []string{r.Country, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339)}
	for _, c := range r.Counts {
		_ = w.Write(append(slices.Clone(period), "count", c.Direction, c.Partner, c.Type, string(c.Outcome), strconv.Itoa(c.Requests), "", "", "", "", ""))
	}
	for _, t := range r.ResponseTimes {
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
		_ = w.Write(append(slices.Clone(period), "responseTime", t.Direction, "", t.Type, "", "", strconv.Itoa(t.Decided),
			f(t.P50Hours), f(t.P90Hours), f(t.P99Hours), f(t.MaxHours)))
	}
	w.Flush()
	return b.Bytes()
}
