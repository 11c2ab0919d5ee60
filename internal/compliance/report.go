package compliance

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// Merge stamps each of next's controls with its lastTransitionTime: the time prev
// recorded for the same control when its result is unchanged, now otherwise. It
// also reports whether anything but those times differs from prev.
func Merge(prev, next []v1.ComplianceControl, now time.Time) ([]v1.ComplianceControl, bool) {
	byID := make(map[string]v1.ComplianceControl, len(prev))
	for _, c := range prev {
		byID[c.ID] = c
	}
	changed := len(prev) != len(next)
	out := make([]v1.ComplianceControl, len(next))
	for i, c := range next {
		c.LastTransitionTime = metav1.NewTime(now.UTC().Truncate(time.Second))
		old, ok := byID[c.ID]
		if ok && old.Result == c.Result {
			c.LastTransitionTime = old.LastTransitionTime
		}
		if !ok || !sameFindings(old, c) {
			changed = true
		}
		out[i] = c
	}
	return out, changed
}

func sameFindings(a, b v1.ComplianceControl) bool {
	if a.Result != b.Result || a.Reason != b.Reason || a.Message != b.Message || a.Description != b.Description ||
		a.Article != b.Article || len(a.Resources) != len(b.Resources) {
		return false
	}
	for i := range a.Resources {
		if a.Resources[i] != b.Resources[i] {
			return false
		}
	}
	return true
}

// Summarise counts the controls by result.
func Summarise(controls []v1.ComplianceControl) v1.ComplianceSummary {
	s := v1.ComplianceSummary{Total: int32(len(controls))}
	for _, c := range controls {
		switch c.Result {
		case v1.ControlPass:
			s.Pass++
		case v1.ControlFail:
			s.Fail++
		default:
			s.Unknown++
		}
	}
	return s
}

// CompliantCondition is the Compliant condition of a report: False naming the
// failing controls, else Unknown naming the undecided ones, else True.
func CompliantCondition(controls []v1.ComplianceControl) metav1.Condition {
	var failing, unknown []string
	for _, c := range controls {
		entry := fmt.Sprintf("%s (art. %s: %s)", c.ID, c.Article.UN, c.Reason)
		switch c.Result {
		case v1.ControlFail:
			failing = append(failing, entry)
		case v1.ControlUnknown:
			unknown = append(unknown, entry)
		}
	}
	cond := metav1.Condition{Type: v1.ConditionCompliant}
	switch {
	case len(failing) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, v1.ReasonControlsFailing
		cond.Message = fmt.Sprintf("%d of %d controls fail: %s", len(failing), len(controls), strings.Join(failing, ", "))
		if len(unknown) > 0 {
			cond.Message += fmt.Sprintf("; %d undecided: %s", len(unknown), strings.Join(unknown, ", "))
		}
	case len(unknown) > 0:
		cond.Status, cond.Reason = metav1.ConditionUnknown, v1.ReasonControlsUnknown
		cond.Message = fmt.Sprintf("no control fails; %d of %d cannot be decided: %s", len(unknown), len(controls), strings.Join(unknown, ", "))
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, v1.ReasonAllControlsPass
		cond.Message = fmt.Sprintf("all %d controls pass", len(controls))
	}
	cond.Message = truncate(cond.Message, 32768)
	return cond
}
