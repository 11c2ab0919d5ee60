package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Values of cybercoop_compliance_control_result: one series per control with a number
// rather than one series per possible result, so an alert is a comparison
// (== 0) and a dashboard can plot the result of a control over time.
const (
	// ControlPassValue: the control passes.
	ControlPassValue = 1
	// ControlFailValue: the control fails; status.controls[] says why.
	ControlFailValue = 0
	// ControlUnknownValue: the operator cannot tell yet.
	ControlUnknownValue = -1
)

var complianceControlResult = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "cybercoop_compliance_control_result",
	Help: "Result of one compliance control of a ConventionProfile's report: 1 Pass, 0 Fail, -1 Unknown. " +
		"The control label is the control's id (status.controls[].id). Alert on 0.",
}, []string{"namespace", "profile", "control"})

// publishedControls remembers which control ids each profile published, so a control
// that leaves the report loses its series and a deleted profile loses all of them
// without a scan of every series.
var (
	publishedControlsMu sync.Mutex
	publishedControls   = map[[2]string]map[string]bool{}
)

func init() {
	ctrlmetrics.Registry.MustRegister(complianceControlResult)
}

// SetComplianceControls publishes the results of a profile's controls, keyed by
// control id with the values ControlPassValue, ControlFailValue or
// ControlUnknownValue, and removes the series of controls no longer reported.
func SetComplianceControls(namespace, profile string, results map[string]float64) {
	key := [2]string{namespace, profile}
	publishedControlsMu.Lock()
	defer publishedControlsMu.Unlock()
	for id := range publishedControls[key] {
		if _, ok := results[id]; !ok {
			complianceControlResult.DeleteLabelValues(namespace, profile, id)
		}
	}
	ids := make(map[string]bool, len(results))
	for id, v := range results {
		complianceControlResult.WithLabelValues(namespace, profile, id).Set(v)
		ids[id] = true
	}
	publishedControls[key] = ids
}

// ForgetComplianceControls removes every series of a deleted ConventionProfile.
func ForgetComplianceControls(namespace, profile string) {
	key := [2]string{namespace, profile}
	publishedControlsMu.Lock()
	defer publishedControlsMu.Unlock()
	for id := range publishedControls[key] {
		complianceControlResult.DeleteLabelValues(namespace, profile, id)
	}
	delete(publishedControls, key)
}

// ComplianceControlResults returns the published results of a profile's controls by
// id. Tests and diagnostics use it; it never creates a series.
func ComplianceControlResults(namespace, profile string) map[string]float64 {
	out := map[string]float64{}
	ch := make(chan prometheus.Metric)
	go func() { complianceControlResult.Collect(ch); close(ch) }()
	for metric := range ch {
		m := &dto.Metric{}
		if err := metric.Write(m); err != nil {
			continue
		}
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if labels["namespace"] == namespace && labels["profile"] == profile {
			out[labels["control"]] = m.GetGauge().GetValue()
		}
	}
	return out
}
