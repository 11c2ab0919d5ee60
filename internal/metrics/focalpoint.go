package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	rosterCoverageHours = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_focalpoint_roster_coverage_hours",
		Help: "Hours of the current week (in the roster's time zone) in which someone is on call at a FocalPoint " +
			"(status.coverage.coveredMinutes / 60). Alert when below cybercoop_focalpoint_roster_week_hours.",
	}, []string{"namespace", "name"})
	rosterWeekHours = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cybercoop_focalpoint_roster_week_hours",
		Help: "Length in hours of the week the roster coverage is measured over: 168, or 167 or 169 in a week " +
			"with a daylight-saving change (status.coverage.weekMinutes / 60).",
	}, []string{"namespace", "name"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(rosterCoverageHours, rosterWeekHours)
}

// SetRosterCoverage records a FocalPoint's roster coverage of the current week;
// known false (no coverage computed) removes the series.
func SetRosterCoverage(namespace, name string, known bool, coveredMinutes, weekMinutes int32) {
	if !known {
		ForgetRosterCoverage(namespace, name)
		return
	}
	rosterCoverageHours.WithLabelValues(namespace, name).Set(float64(coveredMinutes) / 60)
	rosterWeekHours.WithLabelValues(namespace, name).Set(float64(weekMinutes) / 60)
}

// ForgetRosterCoverage removes the series of a deleted FocalPoint.
func ForgetRosterCoverage(namespace, name string) {
	rosterCoverageHours.DeleteLabelValues(namespace, name)
	rosterWeekHours.DeleteLabelValues(namespace, name)
}
