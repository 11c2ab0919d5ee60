package metrics

import ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

// Value returns the value of the series of the metric name whose labels include
// labels, as the manager's /metrics serves it (a gauge's or counter's value, a
// histogram's sample count), and whether there is one. Tests and diagnostics use it;
// it never creates a series.
func Value(name string, labels map[string]string) (float64, bool) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			matches := 0
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
					matches++
				}
			}
			if matches != len(labels) {
				continue
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}
